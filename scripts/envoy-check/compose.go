package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// mount is one volume of a compose service: where it comes from on the host (an absolute path, or
// a named volume) and where it appears in the container.
type mount struct {
	Source   string
	Target   string
	ReadOnly bool
}

// envoyService is a compose service that runs the Envoy image, with the volumes it mounts.
type envoyService struct {
	Name    string
	Command []string
	Mounts  []mount
}

type composeFile struct {
	Services map[string]struct {
		Image   string `json:"image"`
		Command any    `json:"command"`
		Volumes []any  `json:"volumes"`
	} `json:"services"`
}

// loadEnvoyServices returns every service of the compose file whose image is envoyproxy/envoy,
// with `${VAR:-default}` interpolated from the environment as compose does and relative bind
// sources resolved against the compose file's directory.
func loadEnvoyServices(file string) ([]envoyService, []string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: %v", file, err)}
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: not valid YAML: %v", file, err)}
	}
	var cf composeFile
	if err := json.Unmarshal(js, &cf); err != nil {
		return nil, []string{fmt.Sprintf("%s: %v", file, err)}
	}
	dir, _ := filepath.Abs(filepath.Dir(file))
	var out []envoyService
	var problems []string
	names := make([]string, 0, len(cf.Services))
	for n := range cf.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		svc := cf.Services[name]
		if !strings.HasPrefix(svc.Image, "envoyproxy/envoy") {
			continue
		}
		es := envoyService{Name: name, Command: toStrings(svc.Command)}
		for i, v := range svc.Volumes {
			m, err := parseVolume(v, dir)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: services.%s.volumes[%d]: %v", file, name, i, err))
				continue
			}
			es.Mounts = append(es.Mounts, m)
		}
		out = append(out, es)
	}
	if len(out) == 0 {
		problems = append(problems, fmt.Sprintf("%s: no service runs an envoyproxy/envoy image", file))
	}
	return out, problems
}

func parseVolume(v any, dir string) (mount, error) {
	switch vol := v.(type) {
	case string:
		parts := strings.Split(interpolate(vol), ":")
		if len(parts) < 2 || len(parts) > 3 {
			return mount{}, fmt.Errorf("cannot read volume %q as source:target[:mode]", vol)
		}
		m := mount{Source: resolveSource(parts[0], dir), Target: path.Clean(parts[1])}
		if len(parts) == 3 {
			for _, opt := range strings.Split(parts[2], ",") {
				if opt == "ro" {
					m.ReadOnly = true
				}
			}
		}
		return m, nil
	case map[string]any:
		src, _ := vol["source"].(string)
		tgt, _ := vol["target"].(string)
		if tgt == "" {
			return mount{}, fmt.Errorf("volume without a target")
		}
		ro, _ := vol["read_only"].(bool)
		return mount{Source: resolveSource(interpolate(src), dir), Target: path.Clean(interpolate(tgt)), ReadOnly: ro}, nil
	}
	return mount{}, fmt.Errorf("unexpected volume entry %v", v)
}

func resolveSource(src, dir string) string {
	if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") || strings.HasPrefix(src, "~") {
		if filepath.IsAbs(src) {
			return filepath.Clean(src)
		}
		return filepath.Join(dir, src)
	}
	return src // a named volume
}

var varPattern = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}`)

// interpolate expands ${VAR}, ${VAR-default} and ${VAR:-default} the way compose does.
func interpolate(s string) string {
	return varPattern.ReplaceAllStringFunc(s, func(m string) string {
		g := varPattern.FindStringSubmatch(m)
		val, set := os.LookupEnv(g[1])
		switch g[2] {
		case ":-":
			if !set || val == "" {
				return g[3]
			}
		case "-":
			if !set {
				return g[3]
			}
		}
		return val
	})
}

func toStrings(v any) []string {
	switch c := v.(type) {
	case string:
		return strings.Fields(interpolate(c))
	case []any:
		out := make([]string, 0, len(c))
		for _, e := range c {
			s, _ := e.(string)
			out = append(out, interpolate(s))
		}
		return out
	}
	return nil
}

// mountFor returns the mount whose target holds the container path p (the deepest one wins, as in
// the container's mount table).
func (s envoyService) mountFor(p string) (mount, bool) {
	p = path.Clean(p)
	var best mount
	found := false
	for _, m := range s.Mounts {
		if p == m.Target || strings.HasPrefix(p, m.Target+"/") {
			if !found || len(m.Target) > len(best.Target) {
				best, found = m, true
			}
		}
	}
	return best, found
}

// hostPath maps a container path to the file the service sees there.
func (s envoyService) hostPath(p string) (string, bool) {
	m, ok := s.mountFor(p)
	if !ok || !filepath.IsAbs(m.Source) {
		return "", false
	}
	rel := strings.TrimPrefix(path.Clean(p), m.Target)
	return filepath.Join(m.Source, filepath.FromSlash(rel)), true
}

// configArg is the -c/--config-path argument of the Envoy command line.
func (s envoyService) configArg() string {
	for i, a := range s.Command {
		if (a == "-c" || a == "--config-path") && i+1 < len(s.Command) {
			return s.Command[i+1]
		}
		if strings.HasPrefix(a, "--config-path=") {
			return strings.TrimPrefix(a, "--config-path=")
		}
	}
	return ""
}
