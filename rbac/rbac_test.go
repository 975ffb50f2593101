package rbac

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/persist"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

func mustModel(t testing.TB) *Model {
	t.Helper()
	m, err := LoadModel("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Compiled() {
		t.Fatal("the shipped model is not recognized as the compiled one")
	}
	return m
}

func mustSeed(t testing.TB, m *Model) []CSVRule {
	t.Helper()
	f, err := os.Open("../policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := ParseCSV(f, m)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func mustDecisions(t testing.TB, m *Model) *DecisionFile {
	t.Helper()
	f, err := os.Open("../testdata/decisions.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	df, err := ParseDecisions(f, m)
	if err != nil {
		t.Fatal(err)
	}
	return df
}

// casbinFor is a plain Casbin enforcer over the same model and rules: the
// reference the compiled engine must agree with.
func casbinFor(t testing.TB, m *Model, rules []CSVRule) *casbin.Enforcer {
	t.Helper()
	mc, err := ParseModel(m.Text())
	if err != nil {
		t.Fatal(err)
	}
	e, err := casbin.NewEnforcer(mc.casbin)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if err := persist.LoadPolicyArray(append([]string{r.Type}, r.Values...), e.GetModel()); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.BuildRoleLinks(); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSeedDecisions runs the shipped decisions file through the engine and
// through plain Casbin: both must give every expected answer.
func TestSeedDecisions(t *testing.T) {
	t.Parallel()
	m := mustModel(t)
	df := mustDecisions(t, m)
	rules := append(mustSeed(t, m), df.Rules...)
	a, err := NewMemory(m, rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, mm := range df.Run(a) {
		t.Errorf("engine: %s", mm)
	}
	ref := casbinFor(t, m, rules)
	for _, c := range df.Cases {
		r := c.Request
		ok, err := ref.Enforce(r.Sub, r.Obj, r.Act, r.Owner, r.MFA)
		if err != nil {
			t.Fatal(err)
		}
		want := c.Expected == ExpectAllow
		if ok != want {
			t.Errorf("casbin: line %d: %s %s %s: got %v, want %s", c.Line, r.Sub, r.Act, r.Obj, ok, c.Expected)
		}
	}
}

// TestEngineMatchesCasbin compares every combination of subject, route,
// method, owner and mfa state on the seed policy with Casbin's answer.
func TestEngineMatchesCasbin(t *testing.T) {
	t.Parallel()
	m := mustModel(t)
	df := mustDecisions(t, m)
	rules := append(mustSeed(t, m), df.Rules...)
	rules = append(rules,
		CSVRule{Type: "p", Values: []string{"group:odd,name", "/api/x*", "*", "totp"}},
		CSVRule{Type: "g", Values: []string{"user:9", "group:odd,name"}},
	)
	a, err := NewMemory(m, rules)
	if err != nil {
		t.Fatal(err)
	}
	ref := casbinFor(t, m, rules)
	objects := []string{"/api/health", "/api/notes", "/api/notes/:id", "/api/admin/users", "/api/admin/users/:id",
		"/api/admin/policies", "/api/admin/auth-failures/stream", "/api/admin/audit", "/api/x/y", "/nothing"}
	a.SetRoutes([][2]string{{"GET", "/api/notes/:id"}, {"DELETE", "/api/notes/:id"}, {"GET", "/api/admin/users"}})
	subjects := []string{"anonymous", "user:1", "user:2", "user:3", "user:4", "user:5", "user:9", "user:77", "role:admin", "group:staff"}
	n := 0
	for _, sub := range subjects {
		for _, obj := range objects {
			for _, act := range []string{"GET", "POST", "PATCH", "DELETE"} {
				for _, owner := range []string{"", sub, "user:1"} {
					for _, mfa := range []string{MFANone, MFAMissing, MFAVerified} {
						req := Request{Sub: sub, Obj: obj, Act: act, Owner: owner, MFA: mfa}
						want, err := ref.Enforce(sub, obj, act, owner, mfa)
						if err != nil {
							t.Fatal(err)
						}
						if got := a.Decide(req); got.Allowed != want {
							t.Errorf("%+v: engine %v, casbin %v", req, got.Allowed, want)
						}
						n++
					}
				}
			}
		}
	}
	if n < 3000 {
		t.Fatalf("only %d requests compared", n)
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	m := mustModel(t)
	df := mustDecisions(t, m)
	a, err := NewMemory(m, append(mustSeed(t, m), df.Rules...))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		req  Request
		want string
	}{
		{Request{Sub: "user:1", Obj: "/api/notes/:id", Act: "DELETE", Owner: "user:2", MFA: MFANone},
			"denied: role:user (as user:1 -> role:user) may DELETE on /api/notes/:id only as owner, and the owner is user:2"},
		{Request{Sub: "user:4", Obj: "/api/admin/users", Act: "GET", MFA: MFANone},
			"denied: no rule grants user:4 GET on /api/admin/users; it is granted to role:admin"},
		{Request{Sub: "user:2", Obj: "/api/notes/:id", Act: "GET", Owner: "user:1", MFA: MFANone},
			"allowed: rule p, role:editor, /api/notes/:id, GET, * grants GET on /api/notes/:id to role:editor, and user:2 -> group:staff -> role:editor"},
		{Request{Sub: "user:1", Obj: "/api/nowhere", Act: "GET", MFA: MFANone},
			"denied: no rule grants GET on /api/nowhere to anyone"},
		{Request{Sub: "user:5", Obj: "/api/admin/policies", Act: "POST", MFA: MFAMissing},
			"denied: role:admin (as user:5 -> role:admin) may POST on /api/admin/policies only with a proven second factor"},
	}
	for _, tt := range tests {
		_, got := a.Explain(tt.req)
		if got != tt.want {
			t.Errorf("%+v:\n got %s\nwant %s", tt.req, got, tt.want)
		}
	}
}

func TestValidateRule(t *testing.T) {
	t.Parallel()
	m := mustModel(t)
	tests := []struct {
		typ    string
		values []string
		field  string
	}{
		{"p", []string{"role:user", "/api/x", "GET", "*"}, ""},
		{"q", []string{"a"}, "type"},
		{"p", []string{"role:user", "/api/x", "GET"}, "rule"},
		{"p", []string{"", "/api/x", "GET", "*"}, "rule[0]"},
		{"p", []string{"someone", "/api/x", "GET", "*"}, "rule[0]"},
		{"p", []string{"role:user", "api/x", "GET", "*"}, "rule[1]"},
		{"p", []string{"role:user", "/api/x", "get", "*"}, "rule[2]"},
		{"p", []string{"role:user", "/api/x", "GET", "maybe"}, "rule[3]"},
		{"p", []string{"role:user", "/api/x\n", "GET", "*"}, "rule[1]"},
		{"g", []string{"user:1", "user:2"}, "rule[1]"},
		{"g", []string{"anonymous", "role:user"}, "rule[0]"},
		{"g", []string{"role:a", "role:a"}, "rule[1]"},
		{"g", []string{"group:a,b", "role:c"}, "rule[0]"},
	}
	for _, tt := range tests {
		got := m.ValidateRule(tt.typ, tt.values)
		if tt.field == "" && got != nil || tt.field != "" && got[tt.field] == "" {
			t.Errorf("%s %q: problems %v, want one on %q", tt.typ, tt.values, got, tt.field)
		}
	}
}

func TestCSVRoundTrip(t *testing.T) {
	t.Parallel()
	m, err := ParseModel(strings.Replace(mustModel(t).Text(), "keyMatch(", "keyMatch2(", 1))
	if err != nil {
		t.Fatal(err)
	}
	// A custom model (not compiled) takes any well-formed values, commas
	// and quotes included.
	in := "p, role:a, \"/api/x,y\", GET, *\np, role:a, \"say \"\"hi\"\"\", POST, *\ng, user:1, role:a\n"
	rules, err := ParseCSV(strings.NewReader(in), m)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, r := range rules {
		out.WriteString(FormatCSVLine(r.Type, r.Values) + "\n")
	}
	if out.String() != in {
		t.Fatalf("round trip:\n got %q\nwant %q", out.String(), in)
	}
	if rules[0].Values[1] != "/api/x,y" || rules[1].Values[1] != `say "hi"` {
		t.Fatalf("values: %+v", rules)
	}
	_, err = ParseCSV(strings.NewReader("p, role:a, /x, GET, *\np, \"unclosed\n"), m)
	if err == nil {
		t.Fatal("malformed CSV accepted")
	}
}

// TestAdapter drives the Casbin adapter against a real bbolt file: values
// with commas survive, and batch, filtered and update operations work.
func TestAdapter(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(t.TempDir()+"/a.db", bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := mustModel(t)
	e, err := casbin.NewEnforcer(m.casbin, NewAdapter(db))
	if err != nil {
		t.Fatal(err)
	}
	must := func(ok bool, err error) {
		t.Helper()
		if err != nil || !ok {
			t.Fatalf("ok %v, err %v", ok, err)
		}
	}
	must(e.AddPolicy("role:a", "/api/a,b", "GET", "*"))
	must(e.AddPolicies([][]string{{"role:b", "/api/b", "GET", "*"}, {"role:c", "/api/c", "GET", "owner"}}))
	must(e.AddGroupingPolicy("user:1", "role:a"))
	must(e.UpdatePolicy([]string{"role:b", "/api/b", "GET", "*"}, []string{"role:b", "/api/b2", "GET", "*"}))
	must(e.RemoveFilteredPolicy(0, "role:c"))

	e2, err := casbin.NewEnforcer(m.casbin, NewAdapter(db))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e2.GetPolicy()
	want := [][]string{{"role:a", "/api/a,b", "GET", "*"}, {"role:b", "/api/b2", "GET", "*"}}
	if !slices.EqualFunc(p, want, slices.Equal) {
		t.Fatalf("reloaded policy %q, want %q", p, want)
	}
	ok, err := e2.Enforce("user:1", "/api/a,b", "GET", "", "none")
	if err != nil || !ok {
		t.Fatalf("reloaded enforcer denies user:1: %v %v", ok, err)
	}
	must(e2.RemovePolicies([][]string{{"role:a", "/api/a,b", "GET", "*"}}))
	if err := e2.SavePolicy(); err != nil {
		t.Fatal(err)
	}
	err = db.View(context.Background(), func(tx store.Tx) error {
		_, err := tx.Rules().Find("p", []string{"role:a", "/api/a,b", "GET", "*"})
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removed rule still stored: %v", err)
	}
}

// TestCustomModelFallsBackToCasbin: a model the engine does not know is
// enforced by Casbin itself, with the same policy.
func TestCustomModelFallsBackToCasbin(t *testing.T) {
	t.Parallel()
	m, err := ParseModel(strings.Replace(mustModel(t).Text(), "keyMatch(", "keyMatch2(", 1))
	if err != nil {
		t.Fatal(err)
	}
	if m.Compiled() {
		t.Fatal("a changed matcher is still taken for the shipped one")
	}
	a, err := NewMemory(m, []CSVRule{{Type: "p", Values: []string{"role:a", "/api/things/:id", "GET", "owner"}}, {Type: "g", Values: []string{"user:1", "role:a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Decide(Request{Sub: "user:1", Obj: "/api/things/42", Act: "GET", Owner: "user:1", MFA: MFANone}).Allowed {
		t.Error("keyMatch2 model denies a matching request")
	}
	if a.Decide(Request{Sub: "user:1", Obj: "/api/things/42", Act: "GET", Owner: "user:2", MFA: MFANone}).Allowed {
		t.Error("keyMatch2 model allows a non-owner")
	}
}
