package main

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
)

// refs is what the cross-reference checks need, gathered in one walk of the bootstrap.
type refs struct {
	clusterRefs []named
	extAuthz    []pathed[*extauthzv3.ExtAuthz]
	downTLS     []pathed[*tlsv3.DownstreamTlsContext]
	hcms        []pathed[*hcmv3.HttpConnectionManager]
	sds         []pathed[*tlsv3.SdsSecretConfig]
	files       []named
}

type named struct{ path, name string }

type pathed[T any] struct {
	path string
	msg  T
}

func (r *refs) visit(path string, m proto.Message) {
	switch v := m.(type) {
	case *routev3.RouteAction:
		if c := v.GetCluster(); c != "" {
			r.clusterRefs = append(r.clusterRefs, named{join(path, "cluster"), c})
		}
	case *routev3.WeightedCluster_ClusterWeight:
		r.clusterRefs = append(r.clusterRefs, named{join(path, "name"), v.GetName()})
	case *routev3.RouteAction_RequestMirrorPolicy:
		if c := v.GetCluster(); c != "" {
			r.clusterRefs = append(r.clusterRefs, named{join(path, "cluster"), c})
		}
	case *corev3.HttpUri:
		r.clusterRefs = append(r.clusterRefs, named{join(path, "cluster"), v.GetCluster()})
	case *corev3.GrpcService_EnvoyGrpc:
		r.clusterRefs = append(r.clusterRefs, named{join(path, "cluster_name"), v.GetClusterName()})
	case *extauthzv3.ExtAuthz:
		r.extAuthz = append(r.extAuthz, pathed[*extauthzv3.ExtAuthz]{path, v})
	case *tlsv3.DownstreamTlsContext:
		r.downTLS = append(r.downTLS, pathed[*tlsv3.DownstreamTlsContext]{path, v})
	case *hcmv3.HttpConnectionManager:
		r.hcms = append(r.hcms, pathed[*hcmv3.HttpConnectionManager]{path, v})
	case *tlsv3.SdsSecretConfig:
		r.sds = append(r.sds, pathed[*tlsv3.SdsSecretConfig]{path, v})
	case *corev3.DataSource:
		if f := v.GetFilename(); f != "" {
			r.files = append(r.files, named{join(path, "filename"), f})
		}
	case *corev3.WatchedDirectory:
		r.files = append(r.files, named{join(path, "path"), v.GetPath()})
	}
}

// checkClusters: every cluster a route, the ext_authz service or a gRPC service names is defined,
// and each static cluster's load assignment is for itself.
func checkClusters(file string, b *bootstrapv3.Bootstrap, r *refs) []string {
	var problems []string
	defined := map[string]bool{}
	for i, c := range b.GetStaticResources().GetClusters() {
		defined[c.GetName()] = true
		if la := c.GetLoadAssignment(); la != nil && la.GetClusterName() != c.GetName() {
			problems = append(problems, fmt.Sprintf("%s: static_resources.clusters[%d].load_assignment.cluster_name: %q does not match the cluster name %q", file, i, la.GetClusterName(), c.GetName()))
		}
	}
	for _, ref := range r.clusterRefs {
		if !defined[ref.name] {
			problems = append(problems, fmt.Sprintf("%s: %s: cluster %q is not defined in static_resources.clusters", file, ref.path, ref.name))
		}
	}
	return problems
}

// checkExtAuthz: the policy service sees the verified client identity (XFCC) and fails closed.
func checkExtAuthz(file string, r *refs) []string {
	if len(r.extAuthz) == 0 {
		return []string{fmt.Sprintf("%s: no envoy.filters.http.ext_authz filter: every request must be authorised", file)}
	}
	var problems []string
	for _, ea := range r.extAuthz {
		if ea.msg.GetFailureModeAllow() {
			problems = append(problems, fmt.Sprintf("%s: %s.failure_mode_allow: must be false (an unreachable authz service must deny)", file, ea.path))
		}
		allowed := ea.msg.GetAllowedHeaders().GetPatterns()
		if len(allowed) == 0 {
			allowed = ea.msg.GetHttpService().GetAuthorizationRequest().GetAllowedHeaders().GetPatterns()
		}
		if !anyMatches(allowed, "x-forwarded-client-cert") {
			problems = append(problems, fmt.Sprintf("%s: %s.allowed_headers: x-forwarded-client-cert is not forwarded to the authz service, which takes the client identity from it", file, ea.path))
		}
	}
	return problems
}

// checkDownstreamTLS: every listener terminates TLS and requires a client certificate.
func checkDownstreamTLS(file string, b *bootstrapv3.Bootstrap, r *refs) []string {
	var problems []string
	for i, l := range b.GetStaticResources().GetListeners() {
		for j, fc := range l.GetFilterChains() {
			ts := fc.GetTransportSocket()
			if ts == nil || ts.GetTypedConfig().GetTypeUrl() != typeURL(&tlsv3.DownstreamTlsContext{}) {
				problems = append(problems, fmt.Sprintf("%s: static_resources.listeners[%d].filter_chains[%d].transport_socket: must be a DownstreamTlsContext (no plaintext listener on the edge)", file, i, j))
			}
		}
	}
	for _, t := range r.downTLS {
		if !t.msg.GetRequireClientCertificate().GetValue() {
			problems = append(problems, fmt.Sprintf("%s: %s.require_client_certificate: must be true (mTLS for every client)", file, t.path))
		}
	}
	return problems
}

// checkHeaderStripping: client-supplied x-zt-* headers are removed by a filter that runs before
// ext_authz. A route's request_headers_to_remove runs in the router, after ext_authz has already
// added its upstream headers, so only an earlier HTTP filter protects them.
func checkHeaderStripping(file string, r *refs) []string {
	var problems []string
	for _, h := range r.hcms {
		stripped := false
		for i, f := range h.msg.GetHttpFilters() {
			inner, err := f.GetTypedConfig().UnmarshalNew()
			if err != nil {
				continue // reported by the walk
			}
			switch c := inner.(type) {
			case *headermutationv3.HeaderMutation:
				for _, m := range c.GetMutations().GetRequestMutations() {
					km := m.GetRemoveOnMatch().GetKeyMatcher()
					if km != nil && strings.EqualFold(km.GetPrefix(), "x-zt-") {
						stripped = true
					}
				}
			case *extauthzv3.ExtAuthz:
				if !stripped {
					problems = append(problems, fmt.Sprintf("%s: %s.http_filters[%d]: ext_authz runs before any header_mutation filter removes client-supplied x-zt-* headers", file, h.path, i))
				}
			}
		}
	}
	return problems
}

// checkAdmin: the admin API listens on loopback only.
func checkAdmin(file string, b *bootstrapv3.Bootstrap) []string {
	addr := b.GetAdmin().GetAddress().GetSocketAddress().GetAddress()
	if addr == "" {
		return nil
	}
	if ip := net.ParseIP(addr); addr != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return []string{fmt.Sprintf("%s: admin.address.socket_address.address: %q is not a loopback address", file, addr)}
	}
	return nil
}

// sdsChecker loads each file-based SDS resource the config names, validates it, and checks that
// every path it and the bootstrap use is mounted into every Envoy service.
type sdsChecker struct {
	file     string
	services []envoyService
	loaded   map[string]*discoveryv3.DiscoveryResponse
}

func (s *sdsChecker) check(r *refs) []string {
	var problems []string
	var files []named
	for _, f := range r.files {
		files = append(files, named{s.file + ": " + f.path, f.name})
	}
	for _, ref := range r.sds {
		src := ref.msg.GetSdsConfig()
		pcs := src.GetPathConfigSource()
		if pcs == nil {
			problems = append(problems, fmt.Sprintf("%s: %s.sds_config: secret %q is not served from a file (path_config_source); this stack has no SDS server", s.file, ref.path, ref.msg.GetName()))
			continue
		}
		files = append(files, named{s.file + ": " + join(ref.path, "sds_config.path_config_source.path"), pcs.GetPath()})
		if pcs.GetWatchedDirectory() == nil {
			problems = append(problems, fmt.Sprintf("%s: %s.sds_config.path_config_source.watched_directory: not set, so a rotated file is not noticed", s.file, ref.path))
		}
		secretFiles, more := s.secret(ref.path, pcs.GetPath(), ref.msg.GetName())
		problems = append(problems, more...)
		files = append(files, secretFiles...)
	}
	for _, svc := range s.services {
		if c := svc.configArg(); c == "" {
			problems = append(problems, fmt.Sprintf("compose service %s: command has no -c <config path>", svc.Name))
		} else {
			files = append(files, named{"compose service " + svc.Name + ": command -c", c})
		}
		for _, f := range files {
			m, ok := svc.mountFor(f.name)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %q is not under any volume mounted into compose service %s", f.path, f.name, svc.Name))
				continue
			}
			if !m.ReadOnly {
				problems = append(problems, fmt.Sprintf("compose service %s: volume %s:%s must be mounted read-only (:ro)", svc.Name, m.Source, m.Target))
			}
		}
	}
	return problems
}

// secret reads the SDS file at containerPath (through the first Envoy service's mounts), validates
// it, finds the named secret, checks that an edge's certificate comes from that edge's own
// workload directory, and returns the file paths the secret uses.
func (s *sdsChecker) secret(refPath, containerPath, name string) ([]named, []string) {
	if len(s.services) == 0 {
		return nil, nil
	}
	host, ok := s.services[0].hostPath(containerPath)
	if !ok {
		return nil, nil // reported as an unmounted path
	}
	resp, seen := s.loaded[host]
	if !seen {
		resp = &discoveryv3.DiscoveryResponse{}
		if problems := loadProto(host, resp); problems != nil {
			s.loaded[host] = nil
			return nil, problems
		}
		if problems := validateDeep(resp); problems != nil {
			s.loaded[host] = nil
			return nil, prefix(host, problems)
		}
		s.loaded[host] = resp
	}
	if resp == nil {
		return nil, nil // already reported
	}
	for i, res := range resp.GetResources() {
		inner, err := res.UnmarshalNew()
		if err != nil {
			continue
		}
		sec, ok := inner.(*tlsv3.Secret)
		if !ok || sec.GetName() != name {
			continue
		}
		r := &refs{}
		walk(fmt.Sprintf("resources[%d]<Secret>", i), sec, r.visit)
		files := make([]named, 0, len(r.files))
		for _, f := range r.files {
			files = append(files, named{host + ": " + f.path, f.name})
		}
		if chain := sec.GetTlsCertificate().GetCertificateChain().GetFilename(); chain != "" {
			for _, svc := range s.services {
				if m, ok := svc.mountFor(chain); ok && strings.HasPrefix(svc.Name, "envoy-") {
					want := "edge-" + strings.TrimPrefix(svc.Name, "envoy-")
					if filepath.Base(m.Source) != want {
						return files, []string{fmt.Sprintf("compose service %s: %q comes from %s, not from its own workload directory %s", svc.Name, chain, m.Source, want)}
					}
				}
			}
		}
		return files, nil
	}
	return nil, []string{fmt.Sprintf("%s: %s: SDS file %s has no Secret named %q", s.file, refPath, host, name)}
}

func prefix(file string, problems []string) []string {
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = file + ": " + p
	}
	return out
}

// anyMatches applies Envoy's StringMatcher semantics to a (lower-case) header name.
func anyMatches(patterns []*matcherv3.StringMatcher, header string) bool {
	for _, p := range patterns {
		value, target := header, ""
		ic := p.GetIgnoreCase()
		norm := func(s string) string {
			if ic {
				return strings.ToLower(s)
			}
			return s
		}
		switch m := p.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Exact:
			target = m.Exact
			if norm(value) == norm(target) {
				return true
			}
		case *matcherv3.StringMatcher_Prefix:
			if strings.HasPrefix(norm(value), norm(m.Prefix)) {
				return true
			}
		case *matcherv3.StringMatcher_Suffix:
			if strings.HasSuffix(norm(value), norm(m.Suffix)) {
				return true
			}
		case *matcherv3.StringMatcher_Contains:
			if strings.Contains(norm(value), norm(m.Contains)) {
				return true
			}
		case *matcherv3.StringMatcher_SafeRegex:
			if re, err := regexp.Compile("^(?:" + m.SafeRegex.GetRegex() + ")$"); err == nil && re.MatchString(value) {
				return true
			}
		}
	}
	return false
}
