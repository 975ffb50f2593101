package rbac_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/rbac"
)

// mustModels are the shipped model (the compiled engine) and the same
// model with its matcher reordered (Casbin's enforcer), so that a test runs
// on both paths.
func mustModels(t testing.TB) map[string]*rbac.Model {
	t.Helper()
	shipped, err := os.ReadFile("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*rbac.Model{}
	for name, text := range map[string]string{
		"engine": string(shipped),
		"casbin": strings.Replace(string(shipped), "m = g(r.sub, p.sub) && keyMatch(r.obj, p.obj)", "m = keyMatch(r.obj, p.obj) && g(r.sub, p.sub)", 1),
	} {
		m, err := rbac.ParseModel(text)
		if err != nil {
			t.Fatal(err)
		}
		if m.Compiled() != (name == "engine") {
			t.Fatalf("%s: compiled %v", name, m.Compiled())
		}
		out[name] = m
	}
	return out
}

// TestRequestGroups: groups held for one request grant what rules for them
// (and for what they link to) grant, on the engine and on Casbin's path;
// the same request without them is denied; owner-only rules still compare
// the owner with the caller, never with a group.
func TestRequestGroups(t *testing.T) {
	t.Parallel()
	for name, m := range mustModels(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, seed := mustSeed(t)
			rules := append(seed,
				rbac.CSVRule{Type: "p", Values: []string{"group:engineering", "/api/notes", "GET", "*"}},
				rbac.CSVRule{Type: "p", Values: []string{"group:engineering", "/api/notes/:id", "DELETE", "owner"}},
			)
			a, err := rbac.NewMemory(m, rules)
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name   string
				req    rbac.Request
				groups []string
				want   bool
			}{
				{"a direct rule for the group", rbac.Request{Obj: "/api/notes", Act: http.MethodGet}, []string{"group:engineering"}, true},
				{"without the group", rbac.Request{Obj: "/api/notes", Act: http.MethodGet}, nil, false},
				{"another group", rbac.Request{Obj: "/api/notes", Act: http.MethodGet}, []string{"group:sales"}, false},
				{"through the group's stored links (staff -> editor)", rbac.Request{Obj: "/api/notes/:id", Act: http.MethodPatch, Owner: "user:9"}, []string{"group:sales", "group:staff"}, true},
				// Casbin's path asks a group as a subject of its own, which
				// owns nothing: there an owner-only rule for a group grants
				// no one.
				{"owner-only: the caller owns it", rbac.Request{Obj: "/api/notes/:id", Act: http.MethodDelete, Owner: "user:7"}, []string{"group:engineering"}, name == "engine"},
				{"owner-only: someone else owns it", rbac.Request{Obj: "/api/notes/:id", Act: http.MethodDelete, Owner: "user:9"}, []string{"group:engineering"}, false},
				{"owner-only: the group is no owner", rbac.Request{Obj: "/api/notes/:id", Act: http.MethodDelete, Owner: "group:engineering"}, []string{"group:engineering"}, false},
			}
			for _, tc := range cases {
				req := tc.req
				req.Sub, req.MFA, req.Groups = "user:7", rbac.MFANone, tc.groups
				if got := a.Decide(req).Allowed; got != tc.want {
					t.Errorf("%s: allowed %v, want %v", tc.name, got, tc.want)
				}
			}
			if name != "engine" {
				return
			}
			_, why := a.Explain(rbac.Request{Sub: "user:7", Obj: "/api/notes/:id", Act: http.MethodPatch, Owner: "user:9", MFA: rbac.MFANone, Groups: []string{"group:staff"}})
			if want := "user:7 -> group:staff (for this request) -> role:editor"; !strings.Contains(why, want) {
				t.Errorf("explanation %q does not say %q", why, want)
			}
		})
	}
}

// TestDecideWithGroupsAllocatesNothing: a decision with request groups
// allocates nothing either. (Not parallel: testing.AllocsPerRun.)
func TestDecideWithGroupsAllocatesNothing(t *testing.T) {
	p := mustBenchPolicy(t, 1000)
	a := p.mustEngine(t, false)
	groups := []string{"group:sales", "group:support", "group:staff", "group:ops"}
	for _, dc := range decisionCases {
		req := dc.req("user:2", "user:3")
		req.Groups = groups
		a.Decide(req)
		if n := testing.AllocsPerRun(100, func() { a.Decide(req) }); n != 0 {
			t.Errorf("%s with groups: %v allocations per decision, want 0", dc.name, n)
		}
	}
}

// BenchmarkDecideWithGroups is one decision by a caller holding ten
// groups from a token, allowed through the last of them, at 1k users. It
// reports 0 allocs/op.
func BenchmarkDecideWithGroups(b *testing.B) {
	_, seed := mustSeed(b)
	m := mustModels(b)["engine"]
	rules := append(rbacRulesForGroups(seed), rbac.CSVRule{Type: "p", Values: []string{"group:g9", "/api/notes", "GET", "*"}})
	a, err := rbac.NewMemory(m, rules)
	if err != nil {
		b.Fatal(err)
	}
	a.SetRoutes([][2]string{{http.MethodGet, "/api/notes"}})
	groups := make([]string, 10)
	for i := range groups {
		groups[i] = "group:g" + string(rune('0'+i))
	}
	req := rbac.Request{Sub: "user:2", Obj: "/api/notes", Act: http.MethodGet, MFA: rbac.MFANone, Groups: groups}
	if !a.Decide(req).Allowed {
		b.Fatal("denied, want allowed through group:g9")
	}
	b.ReportAllocs()
	for b.Loop() {
		a.Decide(req)
	}
}

// rbacRulesForGroups is the seed without the rule that grants GET
// /api/notes to every user, so that only the group can grant it.
func rbacRulesForGroups(seed []rbac.CSVRule) []rbac.CSVRule {
	var out []rbac.CSVRule
	for _, r := range seed {
		if r.Type == "p" && r.Values[1] == "/api/notes" && r.Values[2] == "GET" {
			continue
		}
		out = append(out, r)
	}
	return out
}
