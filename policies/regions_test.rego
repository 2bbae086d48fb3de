package zt.authz_test

# Cross-region deny and the allow-list. The shipped entry lets eu-central clients GET acme's
# public-* items through the us-east edge.

# An acme viewer whose client certificate is from eu-central, calling the us-east edge.
traveller(method, path) := {
	"request": request(method, path),
	"edge": edge("us-east"),
	"source": client("eu-central", "carol"),
	"token": {"claims": claims("carol", "acme", ["viewer", "rater"], "us-east", "free")},
	"now_ms": now_ms,
}

public_item := "/v1/tenants/acme/items/public-42/ratings"

test_a_client_certificate_from_another_region_is_cross_region if {
	denied(replaced(alice, "source", client("eu-central", "alice")), 403, "cross_region")
}

test_a_token_region_claim_from_another_region_is_cross_region if {
	denied(alice_with_claims({"region": "eu-central"}), 403, "cross_region")
}

test_a_token_without_a_region_claim_is_not_cross_region if {
	no_region := object.remove(alice.token.claims, {"region"})
	allowed(replaced(alice, "token", {"claims": no_region}))
}

test_a_tenant_homed_in_another_region_is_cross_region if {
	d := decide(object.union(alice_calls("GET", "/v1/tenants/globex/items/i1/ratings"), {"token": {"claims": {"roles": ["platform_admin"]}}}))
	d.reason == "cross_region"
	d.status == 403
}

test_a_tenant_without_a_home_region_is_cross_region if {
	denied(alice, 403, "cross_region") with data.tenants.acme as {"tier": "free"}
}

test_an_edge_without_a_region_denies_every_request if {
	denied(replaced(alice, "edge", {"spiffe_id": "spiffe://zt.local/us-east/edge/envoy"}), 403, "cross_region")
}

test_bob_from_eu_central_reaching_the_us_east_edge_is_cross_region if {
	bob := {
		"request": request("POST", "/v1/tenants/globex/items/i1/ratings"),
		"edge": edge("us-east"),
		"source": client("eu-central", "bob"),
		"token": {"claims": claims("bob", "globex", ["rater"], "eu-central", "starter")},
		"now_ms": now_ms,
	}
	denied(bob, 403, "cross_region")
	allowed(replaced(bob, "edge", edge("eu-central")))
}

test_the_allow_list_entry_lets_its_method_and_prefix_through if {
	allowed(traveller("GET", public_item))
	allowed(traveller("GET", "/v1/tenants/acme/items/public-"))
}

test_the_allow_list_entry_does_not_cover_another_method if {
	every method in ["HEAD", "POST", "PUT", "PATCH", "DELETE"] {
		denied(traveller(method, public_item), 403, "cross_region")
	}
}

test_the_allow_list_entry_does_not_cover_another_path if {
	denied(traveller("GET", "/v1/tenants/acme/items/i1/ratings"), 403, "cross_region")
	denied(traveller("GET", "/v1/tenants/acme/items/publicity/ratings"), 403, "cross_region")
	denied(traveller("GET", "/v1/tenants/acme/items"), 403, "cross_region")
}

test_the_allow_list_entry_is_one_way if {
	reverse := object.union(traveller("GET", public_item), {"edge": edge("eu-central"), "source": client("us-east", "carol")})
	denied(reverse, 403, "cross_region")
}

test_one_entry_does_not_cover_a_second_foreign_region if {
	both := replaced(traveller("GET", public_item), "token", {"claims": claims("carol", "acme", ["viewer"], "ap-south", "free")})
	denied(both, 403, "cross_region")
}

test_an_entry_for_a_foreign_tenant_home_lets_its_reads_through if {
	admin := object.union(alice_calls("GET", "/v1/tenants/globex/items/i1/ratings"), {"token": {"claims": {"roles": ["platform_admin"]}}})
	entry := {"from": "eu-central", "to": "us-east", "methods": ["GET"], "path_prefix": "/v1/tenants/globex/"}
	allowed(admin) with data.cross_region_allow as [entry]
}

test_without_allow_list_entries_every_crossing_is_denied if {
	denied(traveller("GET", public_item), 403, "cross_region") with data.cross_region_allow as []
}

test_dot_segments_cannot_ride_on_an_allowed_prefix if {
	escape := traveller("GET", "/v1/tenants/acme/items/public-1/../../../../globex/items/i1/ratings")
	d := decide(escape)
	d.allow == false
	d.status == 403
}
