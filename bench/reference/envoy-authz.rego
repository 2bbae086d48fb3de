# The references' policy for `npm run bench:edge`: opa-envoy-plugin's documented shape (an
# envoy.authz package answering Envoy's gRPC ext_authz with a result object), with the JWT verified
# inside Rego by io.jwt.decode_verify, as opa-envoy-plugin users do. The decision itself is the
# project's own Rego (data.zt.authz.decision, loaded beside this file), so both stacks decide the
# same rules on the same data; only who verifies the token and who counts the buckets differ (here
# OPA and envoyproxy/ratelimit). Bench-only: never part of policies/ or the shipped stack.
package envoy.authz

import rego.v1

http_request := input.attributes.request.http

bearer := t if {
	auth := object.get(http_request.headers, "authorization", "")
	startswith(auth, "Bearer ")
	t := substring(auth, 7, -1)
}

verified := [valid, payload] if {
	[valid, _, payload] := io.jwt.decode_verify(bearer, {
		"cert": data.reference.jwks,
		"iss": data.reference.issuer,
		"aud": data.reference.audience,
	})
}

claims := verified[1] if verified[0]

# spiffe://<trust domain>/<region>/<kind>/<name>
spiffe(id) := {"spiffe_id": id, "region": p[3], "kind": p[4], "name": p[5]} if {
	p := split(id, "/")
	count(p) == 6
}

# The certificate the client presented, as the XFCC element the edge set (SANITIZE_SET) hashes it:
# hex SHA-256 of the DER. A token bound with cnf x5t#S256 (base64url of the same digest) is bound
# to this certificate when the two digests are equal.
xfcc_hash := h if {
	m := regex.find_all_string_submatch_n(`Hash=([0-9a-f]{64})`, object.get(http_request.headers, "x-forwarded-client-cert", ""), 1)
	h := m[0][1]
}

bound if hex.encode(base64url.decode(claims.cnf["x5t#S256"])) == xfcc_hash

default bound_flag := false

bound_flag := true if bound

source := spiffe(input.attributes.source.principal)

token := {"claims": claims, "bound": bound_flag}

# A missing certificate or token is null in the input, as the policy service passes it.
default source_or_null := null

source_or_null := source

default token_or_null := null

token_or_null := token

zt_input := {
	"request": {
		"method": http_request.method,
		"path": split(http_request.path, "?")[0],
		"segments": input.parsed_path,
		"query": input.parsed_query,
		"headers": {"host": http_request.host, "x-request-id": http_request.id},
		"id": object.get(http_request.headers, "x-request-id", ""),
	},
	"edge": spiffe(input.attributes.destination.principal),
	"source": source_or_null,
	"token": token_or_null,
	"now_ms": time.now_ns() / 1000000,
}

decision := d if {
	d := data.zt.authz.decision with input as zt_input
}

default result := {"allowed": false, "http_status": 401, "body": "{\"error\":\"invalid_token\"}", "headers": {"content-type": "application/json", "www-authenticate": "Bearer error=\"invalid_token\""}}

result := {"allowed": true, "headers": decision.upstream_headers} if decision.allow

result := {
	"allowed": false,
	"http_status": decision.status,
	"body": json.marshal({"error": decision.reason, "request_id": zt_input.request.id}),
	"headers": {"content-type": "application/json"},
} if not decision.allow
