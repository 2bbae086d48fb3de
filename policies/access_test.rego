package zt.authz_test

# Tenant isolation, roles per action and the request-shape guards.

# A us-east caller of tenant acme with the given subject and roles.
acme_member(sub, roles, method, path) := replaced(
	alice_calls(method, path),
	"token",
	{"claims": claims(sub, "acme", roles, "us-east", "free")},
)

# A platform admin whose own tenant is acme, calling the eu-central edge from eu-central.
eu_admin(method, path) := {
	"request": request(method, path),
	"edge": edge("eu-central"),
	"source": client("eu-central", "ops"),
	"token": {"claims": claims("ops", "acme", ["platform_admin"], "eu-central", "enterprise")},
	"now_ms": now_ms,
}

ratings := "/v1/tenants/acme/items/i1/ratings"

test_another_tenants_path_is_a_tenant_mismatch if {
	denied(acme_member("alice", ["rater"], "GET", "/v1/tenants/globex/items/i1/ratings"), 403, "tenant_mismatch") with data.tenants.globex.home_region as "us-east"
}

test_an_unknown_tenant_is_a_tenant_mismatch if {
	denied(alice_calls("GET", "/v1/tenants/initech/items/i1/ratings"), 403, "tenant_mismatch")
}

test_an_unknown_tenant_is_a_tenant_mismatch_even_for_a_platform_admin if {
	denied(eu_admin("GET", "/v1/tenants/initech/items/i1/ratings"), 403, "tenant_mismatch")
}

test_a_token_without_a_tenant_claim_is_a_tenant_mismatch if {
	no_tenant := object.remove(claims("alice", "", ["rater"], "us-east", "free"), {"tenant"})
	denied(replaced(alice, "token", {"claims": no_tenant}), 403, "tenant_mismatch")
}

test_tenant_names_are_case_sensitive if {
	denied(alice_calls("GET", "/v1/tenants/ACME/items/i1/ratings"), 403, "tenant_mismatch")
}

test_a_platform_admin_crosses_tenants if {
	d := decide(eu_admin("DELETE", "/v1/tenants/globex/items/i1/ratings/bob"))
	d.allow == true
	d.upstream_headers["x-zt-tenant"] == "acme"
	d.upstream_headers["x-zt-roles"] == "platform_admin"
}

test_every_reader_role_may_read if {
	every role in ["viewer", "rater", "moderator", "platform_admin"] {
		allowed(acme_member("u1", [role], "GET", ratings))
		allowed(acme_member("u1", [role], "HEAD", ratings))
	}
}

test_a_viewer_may_not_write_or_delete if {
	every method in ["POST", "PUT", "PATCH"] {
		denied(acme_member("v1", ["viewer"], method, ratings), 403, "forbidden_role")
	}
	denied(acme_member("v1", ["viewer"], "DELETE", "/v1/tenants/acme/items/i1/ratings/v1"), 403, "forbidden_role")
}

test_a_rater_and_a_platform_admin_may_write if {
	every method in ["POST", "PUT", "PATCH"] {
		allowed(acme_member("alice", ["rater"], method, ratings))
		allowed(acme_member("root", ["platform_admin"], method, ratings))
	}
}

test_a_moderator_may_not_write if {
	denied(acme_member("mod", ["moderator"], "POST", ratings), 403, "forbidden_role")
}

test_a_moderator_deletes_anyones_rating if {
	allowed(acme_member("mod", ["moderator"], "DELETE", "/v1/tenants/acme/items/i1/ratings/alice"))
}

test_a_rater_deletes_her_own_rating if {
	allowed(alice_calls("DELETE", "/v1/tenants/acme/items/i1/ratings/alice"))
}

test_a_rater_may_not_delete_another_users_rating if {
	denied(alice_calls("DELETE", "/v1/tenants/acme/items/i1/ratings/bob"), 403, "forbidden_role")
}

test_nothing_but_a_single_rating_may_be_deleted if {
	every path in [
		"/v1/tenants/acme/items/i1",
		"/v1/tenants/acme/items/i1/ratings",
		"/v1/tenants/acme/items/i1/ratings/alice/extra",
		"/v1/tenants/acme/things/i1/ratings/alice",
	] {
		denied(acme_member("mod", ["moderator"], "DELETE", path), 403, "forbidden_role")
		denied(alice_calls("DELETE", path), 403, "forbidden_role")
	}
}

test_other_methods_are_forbidden if {
	every method in ["OPTIONS", "TRACE", "CONNECT", "get"] {
		denied(alice_calls(method, ratings), 403, "forbidden_role")
	}
}

test_a_token_without_usable_roles_is_forbidden if {
	denied(alice_with_claims({"roles": []}), 403, "forbidden_role")
	denied(alice_with_claims({"roles": "rater"}), 403, "forbidden_role")
	denied(alice_with_claims({"roles": [7, {"r": "rater"}]}), 403, "forbidden_role")
	denied(replaced(alice, "token", {"claims": object.remove(alice.token.claims, {"roles"})}), 403, "forbidden_role")
}

test_a_role_with_a_comma_is_ignored_not_split if {
	denied(alice_with_claims({"roles": ["viewer,rater"]}), 403, "forbidden_role")
	d := decide(alice_with_claims({"roles": ["rater", "x,platform_admin"]}))
	d.allow == true
	d.upstream_headers["x-zt-roles"] == "rater"
}

test_a_token_without_a_subject_is_forbidden if {
	denied(alice_with_claims({"sub": ""}), 403, "forbidden_role")
	denied(alice_with_claims({"sub": 42}), 403, "forbidden_role")
}

test_dot_segments_are_refused if {
	denied(alice_calls("GET", "/v1/tenants/acme/items/../../globex/items/i1/ratings"), 403, "forbidden_role")
	denied(alice_calls("GET", "/v1/tenants/acme/./items/i1/ratings"), 403, "forbidden_role")
}

test_segments_that_disagree_with_the_path_are_refused if {
	forged := object.union(alice, {"request": {"segments": ["v1", "tenants", "acme", "items", "i1", "ratings"], "path": "/v1/tenants/globex/items/i1/ratings"}})
	denied(forged, 403, "forbidden_role")
}

test_a_path_without_a_leading_slash_is_refused if {
	denied(alice_calls("POST", "v1/tenants/acme/items/i1/ratings"), 403, "forbidden_role")
}

test_repeated_and_trailing_slashes_are_the_same_path if {
	allowed(alice_calls("GET", "/v1/tenants/acme/items/i1/ratings/"))
	allowed(alice_calls("GET", "//v1/tenants/acme//items/i1/ratings"))
}
