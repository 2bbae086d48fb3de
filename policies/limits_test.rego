package zt.authz_test

# The buckets each allowed request is charged, and where their numbers come from.

test_a_read_is_charged_the_global_and_tenant_buckets if {
	d := decide(alice_calls("GET", "/v1/tenants/acme/items/i1/ratings"))
	[limit.name | some limit in d.limits] == ["global", "tenant"]
}

test_a_write_is_charged_the_global_tenant_and_user_buckets_in_that_order if {
	every method in ["POST", "PUT", "PATCH"] {
		d := decide(alice_calls(method, "/v1/tenants/acme/items/i1/ratings"))
		[limit.name | some limit in d.limits] == ["global", "tenant", "user"]
		d.limits[2] == {"name": "user", "key": "user:acme:alice", "capacity": 5, "refill_per_s": 5, "cost": 1}
	}
}

test_a_delete_is_not_charged_the_user_write_bucket if {
	d := decide(alice_calls("DELETE", "/v1/tenants/acme/items/i1/ratings/alice"))
	[limit.name | some limit in d.limits] == ["global", "tenant"]
}

tenant_bucket(req_in) := limit if {
	some limit in decide(req_in).limits
	limit.name == "tenant"
}

test_each_tier_sets_the_tenant_bucket if {
	tenant_bucket(alice) == {"name": "tenant", "key": "tenant:acme", "capacity": 60, "refill_per_s": 1, "cost": 1} with data.tenants.acme.tier as "free"
	tenant_bucket(alice) == {"name": "tenant", "key": "tenant:acme", "capacity": 600, "refill_per_s": 10, "cost": 1} with data.tenants.acme.tier as "starter"
	tenant_bucket(alice) == {"name": "tenant", "key": "tenant:acme", "capacity": 6000, "refill_per_s": 100, "cost": 1} with data.tenants.acme.tier as "enterprise"
}

# The tenant's tier in data wins: a token's tier claim, known tier or not, never resizes the bucket.
test_a_tier_claim_never_changes_the_tenant_bucket if {
	every claim in ["free", "starter", "enterprise", "platinum", 3] {
		tenant_bucket(alice_with_claims({"tier": claim})).capacity == 60
		tenant_bucket(alice_with_claims({"tier": claim})).capacity == 6000 with data.tenants.acme.tier as "enterprise"
	}
}

test_a_missing_tier_claim_changes_nothing if {
	no_tier := object.remove(alice.token.claims, {"tier"})
	tenant_bucket(replaced(alice, "token", {"claims": no_tier})).capacity == 60
	tenant_bucket(replaced(alice, "token", {"claims": no_tier})).capacity == 6000 with data.tenants.acme.tier as "enterprise"
}

test_an_allow_names_the_tier_it_charged if {
	decide(alice_with_claims({"tier": "enterprise"})).tier == "free"
	decide(alice).tier == "starter" with data.tenants.acme.tier as "starter"
}

test_bucket_numbers_come_from_data if {
	limits := {
		"global": {"capacity": 7, "refill_per_s": 3, "cost": 2},
		"user_write": {"capacity": 11, "refill_per_s": 13, "cost": 4},
		"tenant": {"cost": 5},
	}
	d := decide(alice) with data.limits as limits with data.tiers.free as {"per_minute": 90}
	d.limits == [
		{"name": "global", "key": "global", "capacity": 7, "refill_per_s": 3, "cost": 2},
		{"name": "tenant", "key": "tenant:acme", "capacity": 90, "refill_per_s": 1.5, "cost": 5},
		{"name": "user", "key": "user:acme:alice", "capacity": 11, "refill_per_s": 13, "cost": 4},
	]
}

test_a_platform_admin_is_charged_the_tenant_of_the_path if {
	d := decide(eu_admin("POST", "/v1/tenants/globex/items/i1/ratings"))
	d.limits[1].key == "tenant:globex"
	# globex's own tier (starter), not the admin token's (enterprise).
	d.limits[1].capacity == 600
	d.limits[2].key == "user:globex:ops"
}
