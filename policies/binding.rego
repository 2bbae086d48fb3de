# Who may present a token: certificate binding (RFC 8705) and the subject rule, per tenant.
package zt.authz

# The tenants whose rules a request is held to: the tenant of the path it touches and the tenant
# its token belongs to. Either one asking for a rule makes it apply, so neither a platform admin
# crossing tenants nor a token presented at another tenant's path escapes its own tenant's rules.
rule_tenants contains path_tenant if known_tenant

rule_tenants contains tenant if {
	tenant := input.token.claims.tenant
	is_string(tenant)
	data.tenants[tenant]
}

# `require_bound_token`: tokens must carry cnf x5t#S256 (the service has already checked that a
# bound token came with its own certificate, and says so in input.token.bound).
binding_required if {
	some tenant in rule_tenants
	data.tenants[tenant].require_bound_token == true
}

# `subject_must_match_client`: the tenant's client certificates name users, so a token's sub must
# be the user the presenting certificate names (the last segment of its SPIFFE ID), bound or not.
subject_rule if {
	some tenant in rule_tenants
	data.tenants[tenant].subject_must_match_client == true
}

token_bound if input.token.bound == true

# Why the token may not be presented here, if it may not: the detail of an invalid_token deny.
binding_detail := "unbound_token" if {
	binding_required
	not token_bound
} else := "subject_not_client" if {
	subject_rule
	not input.token.claims.sub == input.source.name
}
