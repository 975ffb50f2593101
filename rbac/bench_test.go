package rbac_test

import (
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/rbac/rbactest"
)

// The decision benchmarks compare the compiled engine with plain Casbin
// Enforce on the same model.conf and the same rules, at several sizes (see
// rbactest.SizeFor: at 100k users, 1k groups, 200k links, 500 p rules).
// `make bench` reads their names: Decide/users=N/<engine>/<case>.

// benchSizes are the user counts benchmarked; -short, or a smoke run of
// one iteration (make test runs every benchmark with -benchtime=1x),
// keeps the smallest.
func benchSizes() []int {
	if testing.Short() || smokeRun() {
		return []int{1000}
	}
	return []int{1000, 10_000, 100_000}
}

// smokeRun reports whether benchmarks run once each, to check that they
// work rather than to measure.
func smokeRun() bool {
	f := flag.Lookup("test.benchtime")
	return f != nil && f.Value.String() == "1x"
}

func sizeName(n int) string {
	if n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// notesRoutes are the server's routes on notes, which the benchmarked
// decisions are about.
var notesRoutes = [][2]string{
	{http.MethodGet, "/api/notes"}, {http.MethodPost, "/api/notes"},
	{http.MethodGet, "/api/notes/:id"}, {http.MethodPatch, "/api/notes/:id"}, {http.MethodDelete, "/api/notes/:id"},
}

// benchPolicy is the seed policy grown to the size for users.
type benchPolicy struct {
	model *rbac.Model
	rules []rbac.CSVRule
	users []string // subjects user:1..user:N, in a scattered order
}

func mustBenchPolicy(tb testing.TB, users int) *benchPolicy {
	tb.Helper()
	m, seed := mustSeed(tb)
	p := &benchPolicy{model: m, rules: rbactest.Policy(seed, rbactest.SizeFor(users))}
	// Visit users in a scattered order so that no decision is helped by
	// the previous one having warmed the same map buckets.
	p.users = make([]string, users)
	for i := range users {
		p.users[i] = rbac.UserSubject(uint64((i*7919)%users + 1))
	}
	return p
}

func mustSeed(tb testing.TB) (*rbac.Model, []rbac.CSVRule) {
	tb.Helper()
	return rbactest.MustSeed(tb, "..")
}

// mustEngine is the authorizer the server runs, routes indexed (unless
// noIndex).
func (p *benchPolicy) mustEngine(tb testing.TB, noIndex bool) *rbac.Authorizer {
	tb.Helper()
	a, err := rbac.NewMemory(p.model, p.rules)
	if err != nil {
		tb.Fatal(err)
	}
	if !noIndex {
		a.SetRoutes(append(rbactest.Routes(), notesRoutes...))
	}
	return a
}

// mustCasbin is a plain Casbin enforcer on the same model file and rules.
func (p *benchPolicy) mustCasbin(tb testing.TB) *casbin.Enforcer {
	tb.Helper()
	e, err := casbin.NewEnforcer("../model.conf")
	if err != nil {
		tb.Fatal(err)
	}
	loadCasbin(tb, e.GetModel(), p.rules)
	if err := e.BuildRoleLinks(); err != nil {
		tb.Fatal(err)
	}
	return e
}

func loadCasbin(tb testing.TB, m model.Model, rules []rbac.CSVRule) {
	tb.Helper()
	for _, r := range rules {
		if err := m.AddPolicy(r.Type[:1], r.Type, r.Values); err != nil {
			tb.Fatal(err)
		}
	}
}

// decisionCase is a request shape: allow is a user reading their own note
// (granted by the owner rule); deny is a user deleting someone else's note,
// which no rule grants, so every candidate rule is tried twice (the second
// time to see whether a second factor would help).
type decisionCase struct {
	name string
	req  func(sub, other string) rbac.Request
	want bool
}

var decisionCases = []decisionCase{
	{"allow", func(sub, _ string) rbac.Request {
		return rbac.Request{Sub: sub, Obj: "/api/notes/:id", Act: http.MethodGet, Owner: sub, MFA: rbac.MFANone}
	}, true},
	{"deny", func(sub, other string) rbac.Request {
		return rbac.Request{Sub: sub, Obj: "/api/notes/:id", Act: http.MethodDelete, Owner: other, MFA: rbac.MFANone}
	}, false},
}

// BenchmarkDecide is one authorization decision at 1k, 10k and 100k users:
// the engine the server runs, the same without its route index, and plain
// Casbin Enforce.
func BenchmarkDecide(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run("users="+sizeName(n), func(b *testing.B) {
			p := mustBenchPolicy(b, n)
			indexed := p.mustEngine(b, false)
			scanning := p.mustEngine(b, true)
			enf := p.mustCasbin(b)
			for _, dc := range decisionCases {
				for _, e := range []struct {
					name   string
					decide func(rbac.Request) bool
				}{
					{"gatehouse", func(r rbac.Request) bool { return indexed.Decide(r).Allowed }},
					{"gatehouse-noindex", func(r rbac.Request) bool { return scanning.Decide(r).Allowed }},
					{"casbin", func(r rbac.Request) bool {
						ok, err := enf.Enforce(r.Sub, r.Obj, r.Act, r.Owner, r.MFA)
						if err != nil {
							b.Fatal(err)
						}
						return ok
					}},
				} {
					b.Run(e.name+"/"+dc.name, func(b *testing.B) {
						reqs := make([]rbac.Request, min(len(p.users), 4096))
						for i := range reqs {
							// user:1 is an admin, who may delete anything.
							sub := p.users[i%len(p.users)]
							if sub == "user:1" {
								sub = "user:2"
							}
							reqs[i] = dc.req(sub, p.users[(i+1)%len(p.users)])
						}
						if got := e.decide(reqs[0]); got != dc.want {
							b.Fatalf("%+v: allowed %v, want %v", reqs[0], got, dc.want)
						}
						b.ReportAllocs()
						b.ResetTimer()
						for i := 0; b.Loop(); i++ {
							if e.decide(reqs[i%len(reqs)]) != dc.want {
								b.Fatal("wrong decision")
							}
						}
					})
				}
			}
		})
	}
}

// BenchmarkDecideParallel is the engine's decision from every CPU at once
// at the largest size, to show that the read lock does not serialize.
func BenchmarkDecideParallel(b *testing.B) {
	sizes := benchSizes()
	n := sizes[len(sizes)-1]
	b.Run("users="+sizeName(n)+"/gatehouse/allow", func(b *testing.B) {
		p := mustBenchPolicy(b, n)
		a := p.mustEngine(b, false)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				sub := p.users[i%len(p.users)]
				i++
				req := rbac.Request{Sub: sub, Obj: "/api/notes/:id", Act: http.MethodGet, Owner: sub, MFA: rbac.MFANone}
				if !a.Decide(req).Allowed {
					b.Fatal("wrong decision")
				}
			}
		})
	})
}

// BenchmarkCasbinCached is Casbin's CachedEnforcer answering a request it
// has seen before, for reference: fast, but its cache keeps every distinct
// request forever and is not cleared when roles change.
func BenchmarkCasbinCached(b *testing.B) {
	sizes := benchSizes()
	n := sizes[len(sizes)-1]
	b.Run("users="+sizeName(n)+"/casbin-cached/allow", func(b *testing.B) {
		p := mustBenchPolicy(b, n)
		e, err := casbin.NewCachedEnforcer("../model.conf")
		if err != nil {
			b.Fatal(err)
		}
		loadCasbin(b, e.GetModel(), p.rules)
		if err := e.BuildRoleLinks(); err != nil {
			b.Fatal(err)
		}
		const hot = 64
		for i := range hot {
			sub := p.users[i]
			if ok, _ := e.Enforce(sub, "/api/notes/:id", http.MethodGet, sub, rbac.MFANone); !ok {
				b.Fatal("wrong decision")
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			sub := p.users[i%hot]
			if ok, _ := e.Enforce(sub, "/api/notes/:id", http.MethodGet, sub, rbac.MFANone); !ok {
				b.Fatal("wrong decision")
			}
		}
	})
}

// BenchmarkLoad is building the in-memory policy from its rules, which is
// most of what start-up costs at a size.
func BenchmarkLoad(b *testing.B) {
	sizes := benchSizes()
	n := sizes[len(sizes)-1]
	p := mustBenchPolicy(b, n)
	b.Run(fmt.Sprintf("users=%s/gatehouse", sizeName(n)), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.mustEngine(b, false)
		}
	})
}
