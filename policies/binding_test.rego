package zt.authz_test

# Certificate-bound tokens and the subject rule, per tenant (binding.rego, data.json).

# bob, a globex rater with his own eu-central certificate, calling the eu-central edge.
bob := {
	"request": request("POST", "/v1/tenants/globex/items/i1/ratings"),
	"edge": edge("eu-central"),
	"source": client("eu-central", "bob"),
	"token": {"claims": claims("bob", "globex", ["rater"], "eu-central", "starter")},
	"now_ms": now_ms,
}

unbound(req_in) := object.union(req_in, {"token": {"bound": false}})

invalid_token(req_in, detail) if {
	denied(req_in, 401, "invalid_token")
	decide(req_in).detail == detail
}

test_acme_requires_a_bound_token if {
	allowed(alice)
	invalid_token(unbound(alice), "unbound_token")
	invalid_token(object.union(alice, {"token": {"bound": "yes"}}), "unbound_token")
}

test_globex_takes_an_unbound_token if {
	allowed(unbound(bob))
	allowed(bob)
}

test_a_token_of_a_tenant_that_requires_binding_must_be_bound_at_any_path if {
	# An acme platform admin reading globex: acme's rule follows its token.
	admin := object.union(bob, {
		"request": request("GET", "/v1/tenants/globex/items/i1/ratings"),
		"source": client("eu-central", "ops"),
		"token": {"claims": claims("ops", "acme", ["platform_admin"], "eu-central", "free")},
	})
	allowed(admin)
	invalid_token(unbound(admin), "unbound_token")
}

test_a_path_of_a_tenant_that_requires_binding_needs_a_bound_token_whatever_the_token_tenant if {
	globex_admin := object.union(alice, {
		"request": request("GET", "/v1/tenants/acme/items/i1/ratings"),
		"token": {"claims": claims("alice", "globex", ["platform_admin"], "us-east", "free")},
	})
	allowed(globex_admin)
	invalid_token(unbound(globex_admin), "unbound_token")
}

test_globex_requires_the_subject_to_be_the_certificates_user if {
	invalid_token(object.union(bob, {"source": client("eu-central", "carol")}), "subject_not_client")
	invalid_token(unbound(object.union(bob, {"source": client("eu-central", "carol")})), "subject_not_client")
}

test_acme_lets_a_bound_token_name_another_subject if {
	# acme's tokens are bound to their certificate; who they name is the issuer's statement.
	allowed(object.union(alice_calls("GET", "/v1/tenants/acme/items/i1/ratings"), {"token": {"claims": {"sub": "carol"}}}))
}

test_the_subject_rule_follows_the_token_tenant_too if {
	# A globex token presented at acme's path by alice's certificate, subject bob.
	req_in := object.union(alice_calls("GET", "/v1/tenants/acme/items/i1/ratings"), {"token": {"claims": {"sub": "bob", "tenant": "globex", "roles": ["platform_admin"]}}})
	invalid_token(req_in, "subject_not_client")
}

test_binding_is_judged_after_the_token_and_before_the_region if {
	denied(object.union(unbound(alice), {"token": null}), 401, "missing_token")
	invalid_token(object.union(unbound(alice), {"source": client("eu-central", "alice")}), "unbound_token")
}

test_no_tenant_rules_apply_to_an_unknown_tenant if {
	denied(unbound(alice_calls("GET", "/v1/tenants/initech/items/i1/ratings")), 401, "invalid_token") # acme token
	req_in := object.union(unbound(alice_calls("GET", "/v1/tenants/initech/items/i1/ratings")), {"token": {"claims": {"tenant": "initech"}}})
	denied(req_in, 403, "tenant_mismatch")
}

test_only_invalid_token_carries_a_detail if {
	decide(alice).detail == ""
	decide(object.union(alice, {"token": null})).detail == ""
	decide(alice_calls("GET", "/healthz")).detail == ""
}
