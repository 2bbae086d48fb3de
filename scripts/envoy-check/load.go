package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"sigs.k8s.io/yaml"
)

// loadProto reads a YAML file into msg the way Envoy does: YAML to JSON, then proto3 JSON with
// unknown fields rejected. Before protojson runs, the JSON is walked against the message
// descriptors so that a misspelled field is reported with its full path, which protojson's own
// "unknown field" error (a JSON byte offset) does not give.
func loadProto(file string, msg proto.Message) []string {
	raw, err := os.ReadFile(file)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", file, err)}
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return []string{fmt.Sprintf("%s: not valid YAML: %v", file, err)}
	}
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return []string{fmt.Sprintf("%s: %v", file, err)}
	}
	var problems []string
	for _, p := range unknownFields(msg.ProtoReflect().Descriptor(), generic, "") {
		problems = append(problems, fmt.Sprintf("%s: %s", file, p))
	}
	if len(problems) > 0 {
		return problems
	}
	opts := protojson.UnmarshalOptions{DiscardUnknown: false, Resolver: protoregistry.GlobalTypes}
	if err := opts.Unmarshal(js, msg); err != nil {
		return []string{fmt.Sprintf("%s: %v", file, err)}
	}
	return nil
}

// unknownFields returns "path: unknown field \"name\" in <message>" for every key of v that the
// descriptor does not declare, descending into nested messages, lists, maps and Any payloads.
func unknownFields(md protoreflect.MessageDescriptor, v any, path string) []string {
	switch md.FullName() {
	case "google.protobuf.Any":
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		url, _ := obj["@type"].(string)
		mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
		if err != nil {
			return []string{fmt.Sprintf("%s: cannot resolve \"@type\": %q (not an Envoy type linked into envoy-check; see extensions.go)", orRoot(path), url)}
		}
		inner := map[string]any{}
		for k, val := range obj {
			if k != "@type" {
				inner[k] = val
			}
		}
		if isWellKnown(mt.Descriptor().FullName()) {
			return nil
		}
		return unknownFields(mt.Descriptor(), inner, path)
	}
	if isWellKnown(md.FullName()) {
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil // a type mismatch; protojson reports it
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	fields := md.Fields()
	for _, k := range keys {
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(k))
		}
		child := join(path, k)
		if fd == nil {
			out = append(out, fmt.Sprintf("%s: unknown field %q in %s", child, k, md.FullName()))
			continue
		}
		out = append(out, unknownInValue(fd, obj[k], child)...)
	}
	return out
}

func unknownInValue(fd protoreflect.FieldDescriptor, v any, path string) []string {
	switch {
	case fd.Kind() == protoreflect.EnumKind && !fd.IsMap():
		return unknownEnumNames(fd, v, path)
	case fd.IsMap():
		if fd.MapValue().Kind() != protoreflect.MessageKind {
			return nil
		}
		m, _ := v.(map[string]any)
		var out []string
		for k, val := range m {
			out = append(out, unknownFields(fd.MapValue().Message(), val, fmt.Sprintf("%s[%q]", path, k))...)
		}
		return out
	case fd.IsList():
		if fd.Kind() != protoreflect.MessageKind {
			return nil
		}
		list, _ := v.([]any)
		var out []string
		for i, val := range list {
			out = append(out, unknownFields(fd.Message(), val, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case fd.Kind() == protoreflect.MessageKind:
		return unknownFields(fd.Message(), v, path)
	}
	return nil
}

// isWellKnown lists the types whose JSON form is not an object of their fields (strings, numbers,
// free-form structs), so walking them field by field would report false unknowns.
func isWellKnown(name protoreflect.FullName) bool {
	return strings.HasPrefix(string(name), "google.protobuf.") && name != "google.protobuf.Any"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

// unknownEnumNames reports an enum written by a name the enum does not have (numbers are left to
// protojson), with the field's path.
func unknownEnumNames(fd protoreflect.FieldDescriptor, v any, path string) []string {
	values := []any{v}
	if list, ok := v.([]any); ok && fd.IsList() {
		values = list
	}
	var out []string
	for _, val := range values {
		name, ok := val.(string)
		if ok && fd.Enum().Values().ByName(protoreflect.Name(name)) == nil {
			out = append(out, fmt.Sprintf("%s: %q is not a value of %s", path, name, fd.Enum().FullName()))
		}
	}
	return out
}
