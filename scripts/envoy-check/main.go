// Command envoy-check validates envoy/envoy.yaml offline, with Envoy's own API schemas: the YAML is
// read into the v3 Bootstrap proto exactly as Envoy reads it (unknown fields rejected), every
// message and every Any payload is run through the protoc-gen-validate rules that Envoy's API
// declares, and the SDS files the config names are loaded the same way. It then checks what the
// schemas cannot: cluster references, the ext_authz contract, mTLS, header stripping order, and
// that every file path is mounted into each Envoy service of compose/docker-compose.yml.
//
// Usage: go run ./scripts/envoy-check -config envoy/envoy.yaml -compose compose/docker-compose.yml
// Exit status 1 on any problem, each printed as "file: field path: what is wrong".
package main

import (
	"flag"
	"fmt"
	"os"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

func main() {
	configFile := flag.String("config", "envoy/envoy.yaml", "the Envoy bootstrap to check")
	composeFile := flag.String("compose", "compose/docker-compose.yml", "the compose file whose envoyproxy/envoy services mount it")
	flag.Parse()

	problems := run(*configFile, *composeFile)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "envoy-check:", p)
		}
		fmt.Fprintf(os.Stderr, "envoy-check: %d problem(s) in %s\n", len(problems), *configFile)
		os.Exit(1)
	}
	fmt.Printf("envoy-check: %s is valid and consistent with %s\n", *configFile, *composeFile)
}

func run(configFile, composeFile string) []string {
	b := &bootstrapv3.Bootstrap{}
	if problems := loadProto(configFile, b); problems != nil {
		return unique(problems)
	}
	problems := prefix(configFile, validateDeep(b))

	r := &refs{}
	problems = append(problems, walk("", b, r.visit)...)
	problems = append(problems, checkClusters(configFile, b, r)...)
	problems = append(problems, checkExtAuthz(configFile, r)...)
	problems = append(problems, checkDownstreamTLS(configFile, b, r)...)
	problems = append(problems, checkHeaderStripping(configFile, r)...)
	problems = append(problems, checkAdmin(configFile, b)...)

	services, composeProblems := loadEnvoyServices(composeFile)
	problems = append(problems, composeProblems...)
	sds := &sdsChecker{file: configFile, services: services, loaded: map[string]*discoveryv3.DiscoveryResponse{}}
	problems = append(problems, sds.check(r)...)
	return unique(problems)
}

// unique keeps the first of each repeated problem: one secret is often referenced by several
// listeners and clusters, and one message per fault is easier to act on.
func unique(problems []string) []string {
	seen := map[string]bool{}
	out := problems[:0]
	for _, p := range problems {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
