package zt.authz_test

import data.zt.authz

# Shared fixtures for every *_test.rego in this package. The baseline is alice, an acme rater with
# a us-east client certificate, calling the us-east edge.

now_ms := 1767225600000

request(method, path) := {
	"method": method,
	"path": path,
	"segments": [part | some part in split(path, "/"); part != ""],
	"query": {},
	"headers": {"host": "ratings.zt.local"},
	"id": "req-1",
}

edge(region) := {"spiffe_id": concat("", ["spiffe://zt.local/", region, "/edge/envoy"]), "region": region}

client(region, name) := {
	"spiffe_id": concat("", ["spiffe://zt.local/", region, "/client/", name]),
	"region": region,
	"kind": "client",
	"name": name,
}

claims(sub, tenant, roles, region, tier) := {
	"sub": sub,
	"tenant": tenant,
	"roles": roles,
	"region": region,
	"tier": tier,
	"iss": "https://idp.zt.local",
	"aud": "rating-api",
	"iat": 1767225500,
	"nbf": 1767225500,
	"exp": 1767226100,
}

alice := {
	"request": request("POST", "/v1/tenants/acme/items/i1/ratings"),
	"edge": edge("us-east"),
	"source": client("us-east", "alice"),
	"token": {"claims": claims("alice", "acme", ["rater"], "us-east", "free")},
	"now_ms": now_ms,
}

# obj with key set to value (object.union would merge nested objects instead).
replaced(obj, key, value) := object.union(object.remove(obj, {key}), {key: value})

# alice's input with her request replaced.
alice_calls(method, path) := object.union(alice, {"request": request(method, path)})

# alice's input with some claims replaced.
alice_with_claims(changes) := object.union(alice, {"token": {"claims": changes}})

# Every fixture's token is bound to the certificate that presents it (the service checked its cnf)
# unless a test says otherwise with its own "bound"; binding_test.rego is about that flag.
bound_by_default(req_in) := object.union(req_in, {"token": {"bound": true}}) if {
	is_object(req_in.token)
	not "bound" in object.keys(req_in.token)
} else := req_in

decide(req_in) := decision if {
	decision := authz.decision with input as bound_by_default(req_in)
}

denied(req_in, status, reason) if {
	d := decide(req_in)
	d.allow == false
	d.status == status
	d.reason == reason
	d.limits == []
	d.upstream_headers == {}
}

allowed(req_in) if {
	d := decide(req_in)
	d.allow == true
	d.status == 200
	d.reason == "allowed"
}

test_alice_rating_a_tenant_item_gets_the_full_allow_decision if {
	decide(alice) == {
		"allow": true,
		"status": 200,
		"reason": "allowed",
		"limits": [
			{"name": "global", "key": "global", "capacity": 200, "refill_per_s": 200, "cost": 1},
			{"name": "tenant", "key": "tenant:acme", "capacity": 60, "refill_per_s": 1, "cost": 1},
			{"name": "user", "key": "user:acme:alice", "capacity": 5, "refill_per_s": 5, "cost": 1},
		],
		"upstream_headers": {
			"x-zt-subject": "alice",
			"x-zt-tenant": "acme",
			"x-zt-roles": "rater",
			"x-zt-client": "spiffe://zt.local/us-east/client/alice",
		},
		"detail": "",
		"tier": "free",
	}
}

test_roles_header_keeps_the_token_order if {
	d := decide(alice_with_claims({"roles": ["viewer", "rater"]}))
	d.upstream_headers["x-zt-roles"] == "viewer,rater"
}

test_no_client_cert_is_403_and_comes_before_a_missing_token if {
	denied(object.union(alice, {"source": null, "token": null}), 403, "no_client_cert")
}

test_an_absent_source_counts_as_no_client_cert if {
	denied(object.remove(alice, {"source"}), 403, "no_client_cert")
}

test_missing_token_is_401 if {
	denied(object.union(alice, {"token": null}), 401, "missing_token")
}

test_a_token_without_claims_counts_as_missing if {
	denied(replaced(alice, "token", {}), 401, "missing_token")
}

test_missing_token_comes_before_cross_region if {
	denied(object.union(alice, {"token": null, "source": client("eu-central", "bob")}), 401, "missing_token")
}

test_cross_region_comes_before_tenant_mismatch if {
	req_in := object.union(alice_calls("GET", "/v1/tenants/globex/items/i1/ratings"), {"source": client("eu-central", "alice")})
	denied(req_in, 403, "cross_region")
}

test_tenant_mismatch_comes_before_forbidden_role if {
	req_in := alice_with_claims({"tenant": "globex", "roles": ["nobody"]})
	denied(req_in, 403, "tenant_mismatch")
}

test_paths_outside_the_tenant_api_are_forbidden_by_default if {
	denied(alice_calls("GET", "/healthz"), 403, "forbidden_role")
	denied(alice_calls("GET", "/"), 403, "forbidden_role")
	denied(alice_calls("GET", "/v1/tenants"), 403, "forbidden_role")
	denied(alice_calls("GET", "/v1/tenants/acme"), 403, "forbidden_role")
	denied(alice_calls("GET", "/v2/tenants/acme/items/i1/ratings"), 403, "forbidden_role")
}

test_an_empty_input_is_denied_with_every_field_present if {
	decide({}) == {"allow": false, "status": 403, "reason": "no_client_cert", "limits": [], "upstream_headers": {}, "detail": "", "tier": ""}
}

test_broken_tier_data_is_a_policy_error_not_an_unlimited_allow if {
	d := decide(alice) with data.tiers.free as {"per_minute": "sixty"}
	d == {"allow": false, "status": 403, "reason": "policy_error", "limits": [], "upstream_headers": {}, "detail": "", "tier": ""}
}

test_missing_user_bucket_data_is_a_policy_error if {
	denied(alice, 403, "policy_error") with data.limits as {"global": {"capacity": 200, "refill_per_s": 200, "cost": 1}, "tenant": {"cost": 1}}
}

test_a_platform_admin_without_a_tenant_claim_gets_an_empty_tenant_header if {
	admin := object.remove(claims("root", "", ["platform_admin"], "us-east", "free"), {"tenant"})
	req_in := replaced(alice, "token", {"claims": admin})
	d := decide(req_in)
	d.allow == true
	d.upstream_headers["x-zt-tenant"] == ""
	d.upstream_headers["x-zt-subject"] == "root"
}
