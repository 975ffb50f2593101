package app

import (
	"strings"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
)

// Inventory lists every route with the rules that could grant it, whether
// anonymous callers may use it, the routes no rule grants and the rules
// that grant no route.
func (s *Server) Inventory() api.RouteInventory {
	inv := api.RouteInventory{Routes: []api.Route{}, Unguarded: []string{}, DeadRules: []string{}}
	for _, r := range s.routes {
		out := api.Route{Method: r.method, Path: r.path, Rules: []string{}}
		for _, g := range s.authz.Grants(r.path, r.method) {
			out.Rules = append(out.Rules, rbac.FormatCSVLine("p", g))
		}
		out.Public = s.authz.Decide(rbac.Request{Sub: rbac.Anonymous, Obj: r.path, Act: r.method, MFA: rbac.MFANone}).Allowed
		if len(out.Rules) == 0 {
			inv.Unguarded = append(inv.Unguarded, r.method+" "+r.path)
		}
		inv.Routes = append(inv.Routes, out)
	}
	for _, d := range s.authz.DeadRules() {
		inv.DeadRules = append(inv.DeadRules, rbac.FormatCSVLine("p", d))
	}
	return inv
}

// FormatInventory renders an inventory as the text of `gatehouse routes`.
func FormatInventory(inv api.RouteInventory) string {
	var b strings.Builder
	for _, r := range inv.Routes {
		access := "guarded"
		if r.Public {
			access = "public"
		}
		b.WriteString(padRight(r.Method, 7) + " " + padRight(r.Path, 40) + " " + access + "\n")
		for _, rule := range r.Rules {
			b.WriteString("        " + rule + "\n")
		}
		if len(r.Rules) == 0 {
			b.WriteString("        (no rule grants this route: everyone is denied)\n")
		}
	}
	return b.String()
}

func padRight(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}
