# Token buckets each allowed request is charged. The policy names the buckets; the service charges
# them (all or nothing). Capacities, refill rates, costs and tiers all come from data.
package zt.authz

# Stable order: global, tenant, user.
charged_limits := array.concat([global_limit, tenant_limit], user_limits)

global_limit := {
	"name": "global",
	"key": "global",
	"capacity": data.limits.global.capacity,
	"refill_per_s": data.limits.global.refill_per_s,
	"cost": data.limits.global.cost,
}

tenant_limit := {
	"name": "tenant",
	"key": concat("", ["tenant:", path_tenant]),
	"capacity": per_minute,
	"refill_per_s": per_minute / 60,
	"cost": data.limits.tenant.cost,
} if {
	per_minute := data.tiers[tier].per_minute
}

# The tenant's tier in data decides the tenant bucket; a token's `tier` claim is ignored. The bucket
# is the whole tenant's, shared by all its users, so no one user's token may resize it: the tier is
# the tenant's contract, kept by whoever runs the stack, not a claim an identity provider hands out.
tier := data.tenants[path_tenant].tier

user_limits := [user_limit] if action == "write"

user_limits := [] if not action == "write"

user_limit := {
	"name": "user",
	"key": concat(":", ["user", path_tenant, subject]),
	"capacity": data.limits.user_write.capacity,
	"refill_per_s": data.limits.user_write.refill_per_s,
	"cost": data.limits.user_write.cost,
}
