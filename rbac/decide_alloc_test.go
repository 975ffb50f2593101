package rbac_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/rbac/rbactest"
)

// TestDecideAllocatesNothing: a decision on a registered route, allowed or
// denied, allocates nothing, so that it adds no garbage for the collector
// to look for in a heap that grows with the policy. (Not parallel:
// testing.AllocsPerRun refuses to run beside other tests.)
func TestDecideAllocatesNothing(t *testing.T) {
	p := mustBenchPolicy(t, 1000)
	a := p.mustEngine(t, false)
	for _, dc := range decisionCases {
		req := dc.req("user:2", "user:3")
		if got := a.Decide(req).Allowed; got != dc.want {
			t.Fatalf("%s: allowed %v, want %v", dc.name, got, dc.want)
		}
		if n := testing.AllocsPerRun(100, func() { a.Decide(req) }); n != 0 {
			t.Errorf("%s: %v allocations per decision, want 0", dc.name, n)
		}
	}
}

// TestExplainRuleIsACopy: Decide shares the allowing rule's values with
// the policy; Explain hands out a copy, which its caller may change
// without changing later decisions.
func TestExplainRuleIsACopy(t *testing.T) {
	t.Parallel()
	m, seed := mustSeed(t)
	a, err := rbac.NewMemory(m, rbactest.Policy(seed, rbactest.SizeFor(10)))
	if err != nil {
		t.Fatal(err)
	}
	req := rbac.Request{Sub: "user:2", Obj: "/api/notes/:id", Act: http.MethodGet, Owner: "user:2", MFA: rbac.MFANone}
	want := slices.Clone(a.Decide(req).Rule)
	if len(want) != 4 {
		t.Fatalf("allowing rule %v, want sub, obj, act, cond", want)
	}
	d, _ := a.Explain(req)
	d.Rule[0] = "changed"
	if got := a.Decide(req).Rule; !slices.Equal(got, want) {
		t.Fatalf("after changing Explain's rule, Decide reports %v, want %v", got, want)
	}
}
