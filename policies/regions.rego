# Cross-region deny with an explicit allow-list.
package zt.authz

# Every region this request comes from or belongs to that is not the edge's own: the client
# certificate's, the token's region claim (when present) and the path tenant's home region. A
# missing source region or tenant home region counts as foreign, so gaps fail closed.
foreign_regions contains region if {
	region := object.get(input.source, "region", null)
	not region == input.edge.region
}

foreign_regions contains region if {
	region := input.token.claims.region
	not region == input.edge.region
}

foreign_regions contains region if {
	region := object.get(data.tenants[path_tenant], "home_region", null)
	not region == input.edge.region
}

# Each foreign region needs its own allow-list entry; one entry never covers another region.
uncovered_regions contains region if {
	some region in foreign_regions
	not cross_region_allowed(region)
}

# An entry lets exactly its methods and path prefix through from one region to one edge region.
cross_region_allowed(from) if {
	some entry in data.cross_region_allow
	entry.from == from
	entry.to == input.edge.region
	input.request.method in entry.methods
	startswith(input.request.path, entry.path_prefix)
}
