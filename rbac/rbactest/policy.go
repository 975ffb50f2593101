// Package rbactest builds synthetic policies of a given size for
// benchmarks, load tests and equivalence tests: the same shape every time,
// so that figures measured at different sizes compare.
package rbactest

import (
	"fmt"
	"net/http"

	"github.com/gatehouse/gatehouse/rbac"
)

// Size says how big a synthetic policy is.
type Size struct {
	// Users is the number of users, user:1 to user:Users.
	Users int
	// Groups is the number of groups, group:g0 to group:g<Groups-1>.
	Groups int
	// Rules is the total number of p rules, the seed policy's included.
	Rules int
}

// Roles is the number of synthetic roles, role:r0 to role:r<Roles-1>, each a
// kind of user (linked to role:user).
const Roles = 50

// SizeFor is the shape the benchmarks use at users: one group per hundred
// users (at least ten), two links per user and 500 p rules. At 100k users
// that is 1k groups, 200k user links and 500 rules.
func SizeFor(users int) Size {
	return Size{Users: users, Groups: max(10, users/100), Rules: 500}
}

// GroupOf is the group user:id belongs to.
func GroupOf(s Size, id int) string { return fmt.Sprintf("group:g%d", id%s.Groups) }

// Policy returns seed followed by the synthetic rules of size s:
//
//   - every user holds role:user and belongs to one group (GroupOf), so
//     there are two links per user; user:1 is also an admin;
//   - each group holds one of the synthetic roles, and each synthetic role
//     is linked to role:user;
//   - p rules up to s.Rules in all: most grant synthetic roles and groups
//     methods on 100 synthetic resources (/api/res<j> and /api/res<j>/:id),
//     and one in twenty grants a synthetic role GET on /api/notes/:id, so
//     that the notes route has more candidate rules than the seed gives it.
//
// The rules are valid under the shipped model and have no duplicates.
func Policy(seed []rbac.CSVRule, s Size) []rbac.CSVRule {
	out := make([]rbac.CSVRule, 0, len(seed)+2*s.Users+s.Groups+Roles+s.Rules+1)
	out = append(out, seed...)
	add := func(typ string, values ...string) {
		out = append(out, rbac.CSVRule{Line: len(out) + 1, Type: typ, Values: values})
	}
	for r := range Roles {
		add("g", fmt.Sprintf("role:r%d", r), rbac.RoleUser)
	}
	for g := range s.Groups {
		add("g", fmt.Sprintf("group:g%d", g), fmt.Sprintf("role:r%d", g%Roles))
	}
	for id := 1; id <= s.Users; id++ {
		sub := fmt.Sprintf("user:%d", id)
		add("g", sub, rbac.RoleUser)
		add("g", sub, GroupOf(s, id))
	}
	if s.Users >= 1 {
		add("g", "user:1", rbac.RoleAdmin)
	}
	seedP := 0
	for _, r := range seed {
		if r.Type == "p" {
			seedP++
		}
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete}
	conds := []string{rbac.CondAny, rbac.CondOwner, rbac.CondAny, rbac.CondMFA}
	for k := 0; k < s.Rules-seedP; k++ {
		var sub string
		if k%2 == 0 {
			sub = fmt.Sprintf("role:r%d", k%Roles)
		} else {
			sub = fmt.Sprintf("group:g%d", k%s.Groups)
		}
		if k%20 == 19 {
			add("p", fmt.Sprintf("role:r%d", Roles-1-(k/20)%Roles), "/api/notes/:id", http.MethodGet, rbac.CondAny)
			continue
		}
		obj := fmt.Sprintf("/api/res%d", k%100)
		if (k/100)%2 == 1 {
			obj += "/:id"
		}
		add("p", sub, obj, methods[(k/200)%len(methods)], conds[(k/7)%len(conds)])
	}
	return dedupe(out)
}

// dedupe drops repeated rules, keeping the first, as a store would refuse
// them.
func dedupe(rules []rbac.CSVRule) []rbac.CSVRule {
	seen := make(map[string]bool, len(rules))
	out := rules[:0]
	for _, r := range rules {
		k := rbac.FormatCSVLine(r.Type, r.Values)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, r)
	}
	return out
}

// Routes are the routes a synthetic policy's rules are about, beside the
// server's own: give them to Authorizer.SetRoutes with the server's.
func Routes() [][2]string {
	var out [][2]string
	for j := range 100 {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
			out = append(out, [2]string{m, fmt.Sprintf("/api/res%d", j)}, [2]string{m, fmt.Sprintf("/api/res%d/:id", j)})
		}
	}
	return out
}
