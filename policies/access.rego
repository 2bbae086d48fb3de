# Request shape, tenant isolation and roles.
package zt.authz

segments := input.request.segments

# Only /v1/tenants/{tenant}/... is the rating API. The segments must be exactly the non-empty parts
# of the path and hold no dot segments, so that the tenant checked here is the tenant the path
# prefixes in data and the rating API see.
tenant_path if {
	canonical_path
	segments[0] == "v1"
	segments[1] == "tenants"
	count(segments) >= 4
}

canonical_path if {
	is_array(segments)
	startswith(input.request.path, "/")
	segments == [part | some part in split(input.request.path, "/"); part != ""]
	not dot_segment
}

dot_segment if {
	some part in segments
	part in {".", ".."}
}

path_tenant := segments[2] if tenant_path

known_tenant if data.tenants[path_tenant]

tenant_permitted if {
	known_tenant
	"platform_admin" in roles
}

tenant_permitted if {
	known_tenant
	input.token.claims.tenant == path_tenant
}

# Roles are joined with "," for the rating API, so a role containing a comma could smuggle in
# another role; such entries are ignored rather than trusted.
roles contains role if {
	some role in role_list
}

role_list := [role |
	is_array(input.token.claims.roles)
	some role in input.token.claims.roles
	is_string(role)
	not contains(role, ",")
]

subject := input.token.claims.sub if {
	is_string(input.token.claims.sub)
	input.token.claims.sub != ""
}

action := "read" if {
	input.request.method in {"GET", "HEAD"}
} else := "write" if {
	input.request.method in {"POST", "PUT", "PATCH"}
} else := "delete" if {
	input.request.method == "DELETE"
}

readers := {"viewer", "rater", "moderator", "platform_admin"}

writers := {"rater", "platform_admin"}

moderators := {"moderator", "platform_admin"}

# The {user} of DELETE /v1/tenants/{t}/items/{i}/ratings/{user}, the only path anything may delete.
rating_user := segments[6] if {
	tenant_path
	count(segments) == 7
	segments[3] == "items"
	segments[5] == "ratings"
}

# A caller acting inside a tenant it may act in, with a subject the rating API can record.
in_tenant_scope if {
	tenant_path
	tenant_permitted
	is_string(subject)
}

# Writes are granted per tenant path: the rating API answers 404/405 for routes it does not have.
permitted if {
	in_tenant_scope
	action == "read"
	some role in roles
	role in readers
}

permitted if {
	in_tenant_scope
	action == "write"
	some role in roles
	role in writers
}

permitted if {
	in_tenant_scope
	action == "delete"
	is_string(rating_user)
	some role in roles
	role in moderators
}

permitted if {
	in_tenant_scope
	action == "delete"
	"rater" in roles
	rating_user == subject
}
