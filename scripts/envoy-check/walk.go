package main

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
)

// visitor sees every message in a config, including the payload of each Any, with its path.
type visitor func(path string, m proto.Message)

// validator is what protoc-gen-validate generates on every Envoy message.
type validator interface{ ValidateAll() error }

// walk calls visit on m and on every message below it. An Any is unpacked and walked as the type it
// names; the generated ValidateAll of a message does not look inside Any payloads, so walk is
// also how those payloads get validated (see validateDeep).
func walk(path string, m proto.Message, visit visitor) []string {
	visit(path, m)
	var problems []string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		child := join(path, string(fd.Name()))
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					problems = append(problems, walkValue(fmt.Sprintf("%s[%q]", child, k.String()), mv.Message().Interface(), visit)...)
					return true
				})
			}
		case fd.IsList():
			if fd.Kind() == protoreflect.MessageKind {
				for i := 0; i < v.List().Len(); i++ {
					problems = append(problems, walkValue(fmt.Sprintf("%s[%d]", child, i), v.List().Get(i).Message().Interface(), visit)...)
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			problems = append(problems, walkValue(child, v.Message().Interface(), visit)...)
		}
		return true
	})
	return problems
}

func walkValue(path string, m proto.Message, visit visitor) []string {
	a, ok := m.(*anypb.Any)
	if !ok {
		return walk(path, m, visit)
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		return []string{fmt.Sprintf("%s: cannot unpack %s: %v", path, a.GetTypeUrl(), err)}
	}
	return walk(fmt.Sprintf("%s<%s>", path, inner.ProtoReflect().Descriptor().Name()), inner, visit)
}

// validateDeep runs Envoy's generated validators on the root and on every Any payload, and
// reports fields and enum values that Envoy marks deprecated (Envoy warns on them at start and
// removes them in a later release).
func validateDeep(root proto.Message) []string {
	var problems []string
	check := func(path string, m proto.Message) {
		if path == "" || isAnyPayload(path) {
			if v, ok := m.(validator); ok {
				if err := v.ValidateAll(); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", orRoot(path), err))
				}
			}
		}
		problems = append(problems, deprecatedIn(path, m)...)
	}
	problems = append(problems, walk("", root, check)...)
	return problems
}

func isAnyPayload(path string) bool {
	return len(path) > 0 && path[len(path)-1] == '>'
}

func deprecatedIn(path string, m proto.Message) []string {
	var out []string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
			out = append(out, fmt.Sprintf("%s: field %q of %s is deprecated", join(path, string(fd.Name())), fd.Name(), fd.ContainingMessage().FullName()))
		}
		if fd.Kind() == protoreflect.EnumKind && !fd.IsList() && !fd.IsMap() {
			ev := fd.Enum().Values().ByNumber(v.Enum())
			if ev != nil {
				if opts, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
					out = append(out, fmt.Sprintf("%s: value %s of %s is deprecated", join(path, string(fd.Name())), ev.Name(), fd.Enum().FullName()))
				}
			}
		}
		return true
	})
	return out
}

// typeURL is the "@type" Envoy expects for a message type, used in messages to the operator.
func typeURL(m proto.Message) string {
	return "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
}
