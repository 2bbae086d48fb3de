# METADATA
# title: Zero-trust rating API authorization
# description: |
#   The decision the policy service asks for on every ext_authz check. The service verifies the
#   JWT and the peer certificates and passes the results in; nothing here reads a clock, a token or
#   the network. Rules live in this package across authz.rego (precedence and output),
#   access.rego (request shape, tenants, roles), regions.rego (cross-region) and limits.rego
#   (token buckets). All numbers and regions come from data (policies/data.json).
package zt.authz

# The wasm entrypoint zt/authz/decision. Every field is always present so that the service never
# guesses: a deny carries no limits and no upstream headers.
decision := {
	"allow": allow,
	"status": status_of[reason],
	"reason": reason,
	"limits": limits,
	"upstream_headers": upstream_headers,
	"detail": detail,
	"tier": charged_tier,
}

allow := reason == "allowed"

# First match wins, in the contract's order: who is calling (certificate, token) before where the
# call comes from, before what it may touch. The final else is the default deny, which also covers
# every path outside /v1/tenants/{tenant}/...
reason := "no_client_cert" if {
	not has_client_cert
} else := "missing_token" if {
	not has_token
} else := "invalid_token" if {
	is_string(binding_detail)
} else := "cross_region" if {
	count(uncovered_regions) > 0
} else := "tenant_mismatch" if {
	tenant_path
	not tenant_permitted
} else := "allowed" if {
	permitted
	grant
} else := "policy_error" if {
	# Permitted, but the buckets or headers cannot be built: broken data must not turn into an
	# allow without rate limits.
	permitted
} else := "forbidden_role"

# Helper rules rather than `not is_object(input.x)`: OPA hoists a call's argument out of the
# negation, so an absent input.x would make the negation undefined instead of true.
has_client_cert if is_object(input.source)

has_token if is_object(input.token.claims)

status_of := {
	"allowed": 200,
	"missing_token": 401,
	"invalid_token": 401,
	"no_client_cert": 403,
	"cross_region": 403,
	"tenant_mismatch": 403,
	"forbidden_role": 403,
	"policy_error": 403,
}

# Everything an allow hands to the service, built in one place so that a missing piece makes the
# whole grant undefined (and the request a policy_error) rather than an allow with a gap.
grant := {
	"limits": charged_limits,
	"upstream_headers": forwarded_headers,
	"tier": tier,
}

default limits := []

limits := grant.limits if allow

default upstream_headers := {}

upstream_headers := grant.upstream_headers if allow

# The tenant tier an allow charged, for the decision log; a deny charged none.
default charged_tier := ""

charged_tier := grant.tier if allow

# Why an invalid_token deny refused the token (binding.rego); "" for every other answer.
default detail := ""

detail := binding_detail if reason == "invalid_token"

# The rating API trusts these headers from edges only; the edge strips any a client sent.
forwarded_headers := {
	"x-zt-subject": subject,
	"x-zt-tenant": token_tenant,
	"x-zt-roles": concat(",", role_list),
	"x-zt-client": input.source.spiffe_id,
}

# A platform_admin may carry no tenant claim; the header is then empty rather than missing.
token_tenant := input.token.claims.tenant if {
	is_string(input.token.claims.tenant)
} else := ""
