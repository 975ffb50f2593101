package rbac_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// The compiled engine promises Casbin's answers on the shipped model. These
// tests hold it to that: random policies and requests against plain
// Casbin Enforce, and decisions made while the policy changes against an
// uncached Casbin enforcer loaded from each committed state.

func TestShippedModelIsCompiled(t *testing.T) {
	t.Parallel()
	m, _ := mustSeed(t)
	if !m.Compiled() {
		t.Fatal("model.conf is not recognised as the shipped model: every decision would go through Casbin's Enforce")
	}
	other, err := rbac.ParseModel(m.Text() + "\n# edited\n[matchers]\nm = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act\n")
	if err != nil {
		t.Fatal(err)
	}
	if other.Compiled() {
		t.Fatal("a model with another matcher is taken for the shipped one")
	}
}

// Pools the random policies and requests draw from: few enough that rules
// often apply, with wildcards, cycles and owner and second-factor
// conditions.
var (
	poolMembers  = []string{"user:1", "user:2", "user:3", "user:4", "user:5", "group:a", "group:b", "group:c", "role:r1", "role:r2", "role:r3", "role:user", "role:admin"}
	poolTargets  = []string{"group:a", "group:b", "group:c", "role:r1", "role:r2", "role:r3", "role:user", "role:admin", "anonymous"}
	poolSubjects = append([]string{"anonymous"}, poolMembers...)
	poolObjects  = []string{"/api/notes", "/api/notes/:id", "/api/notes*", "/api/*", "*", "/api/admin/users", "/api/admin/users*", "/api/admin/users/:id", "/api/health"}
	poolActs     = []string{"*", http.MethodGet, http.MethodPost, http.MethodDelete}
	poolConds    = []string{rbac.CondAny, rbac.CondOwner, rbac.CondMFA, rbac.CondTOTP}
	// Requests are about route templates, as the server's are.
	requestObjects = []string{"/api/notes", "/api/notes/:id", "/api/admin/users", "/api/admin/users/:id", "/api/health", "/api/notesx"}
	requestActs    = []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPatch}
	requestMFA     = []string{rbac.MFANone, rbac.MFAMissing, rbac.MFAVerified}
)

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

// randomRule is a valid rule of the shipped model.
func randomRule(r *rand.Rand) rbac.CSVRule {
	if r.IntN(2) == 0 {
		for {
			m, t := pick(r, poolMembers), pick(r, poolTargets)
			if m != t {
				return rbac.CSVRule{Type: "g", Values: []string{m, t}}
			}
		}
	}
	return rbac.CSVRule{Type: "p", Values: []string{pick(r, poolSubjects), pick(r, poolObjects), pick(r, poolActs), pick(r, poolConds)}}
}

func randomPolicy(r *rand.Rand, n int) []rbac.CSVRule {
	seen := map[string]bool{}
	var out []rbac.CSVRule
	for len(out) < n {
		rule := randomRule(r)
		if k := rbac.FormatCSVLine(rule.Type, rule.Values); !seen[k] {
			seen[k] = true
			rule.Line = len(out) + 1
			out = append(out, rule)
		}
	}
	return out
}

func randomRequest(r *rand.Rand) rbac.Request {
	req := rbac.Request{Sub: pick(r, poolSubjects), Obj: pick(r, requestObjects), Act: pick(r, requestActs), MFA: pick(r, requestMFA)}
	switch r.IntN(3) {
	case 0:
		req.Owner = req.Sub
	case 1:
		req.Owner = pick(r, poolMembers[:5])
	}
	return req
}

// randomRoutes registers a random part of the request space, so that both
// indexed and unindexed decisions are compared.
func randomRoutes(r *rand.Rand) [][2]string {
	var out [][2]string
	for _, obj := range requestObjects {
		for _, act := range requestActs {
			if r.IntN(2) == 0 {
				out = append(out, [2]string{act, obj})
			}
		}
	}
	return out
}

// casbinAnswer is the decision Casbin makes of req: whether it is allowed,
// by which rule, and for a denied request whether a proven second factor
// would allow it (what the engine calls StepUp).
func casbinAnswer(t testing.TB, e *casbin.Enforcer, req rbac.Request) rbac.Decision {
	t.Helper()
	ok, rule, err := e.EnforceEx(req.Sub, req.Obj, req.Act, req.Owner, req.MFA)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		return rbac.Decision{Allowed: true, Rule: rule}
	}
	if req.MFA == rbac.MFAVerified {
		return rbac.Decision{}
	}
	up, err := e.Enforce(req.Sub, req.Obj, req.Act, req.Owner, rbac.MFAVerified)
	if err != nil {
		t.Fatal(err)
	}
	return rbac.Decision{StepUp: up}
}

func sameDecision(a, b rbac.Decision) bool {
	return a.Allowed == b.Allowed && a.StepUp == b.StepUp && slices.Equal(a.Rule, b.Rule)
}

func mustCasbinOf(t testing.TB, rules []rbac.CSVRule) *casbin.Enforcer {
	t.Helper()
	e, err := casbin.NewEnforcer("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	loadCasbin(t, e.GetModel(), rules)
	if err := e.BuildRoleLinks(); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEngineMatchesCasbin compares the engine with Casbin Enforce on random
// policies and requests: same allow or deny, same granting rule, same
// step-up answer; and the direct links with Casbin's role manager.
func TestEngineMatchesCasbin(t *testing.T) {
	t.Parallel()
	m, _ := mustSeed(t)
	const policies, requests = 100, 80
	for seed := range uint64(policies) {
		r := rand.New(rand.NewPCG(seed, 7))
		rules := randomPolicy(r, 5+r.IntN(40))
		a, err := rbac.NewMemory(m, rules)
		if err != nil {
			t.Fatal(err)
		}
		a.SetRoutes(randomRoutes(r))
		e := mustCasbinOf(t, rules)
		for _, sub := range poolSubjects {
			parents, _ := e.GetRolesForUser(sub)
			members, _ := e.GetUsersForRole(sub)
			slices.Sort(parents)
			slices.Sort(members)
			if got := slices.Sorted(slices.Values(a.Parents(sub))); !slices.Equal(got, parents) {
				t.Fatalf("seed %d: parents of %s: engine %q, casbin %q", seed, sub, got, parents)
			}
			if got := a.Members(sub); !slices.Equal(got, members) {
				t.Fatalf("seed %d: members of %s: engine %q, casbin %q", seed, sub, got, members)
			}
		}
		for range requests {
			req := randomRequest(r)
			if got, want := a.Decide(req), casbinAnswer(t, e, req); !sameDecision(got, want) {
				t.Fatalf("seed %d: %+v: engine %+v, casbin %+v\npolicy:\n%s", seed, req, got, want, policyText(rules))
			}
		}
	}
}

func policyText(rules []rbac.CSVRule) string {
	var s string
	for _, r := range rules {
		s += rbac.FormatCSVLine(r.Type, r.Values) + "\n"
	}
	return s
}

// TestEngineMatchesCasbinOnDeepChains checks the depth limit: Casbin's
// role manager follows at most 10 links, and so must the engine.
func TestEngineMatchesCasbinOnDeepChains(t *testing.T) {
	t.Parallel()
	m, _ := mustSeed(t)
	for depth := 1; depth <= 13; depth++ {
		var rules []rbac.CSVRule
		prev := "user:1"
		for i := range depth {
			next := fmt.Sprintf("role:c%d", i)
			rules = append(rules, rbac.CSVRule{Type: "g", Values: []string{prev, next}})
			prev = next
		}
		rules = append(rules, rbac.CSVRule{Type: "p", Values: []string{prev, "/api/notes", http.MethodGet, rbac.CondAny}})
		a, err := rbac.NewMemory(m, rules)
		if err != nil {
			t.Fatal(err)
		}
		req := rbac.Request{Sub: "user:1", Obj: "/api/notes", Act: http.MethodGet, MFA: rbac.MFANone}
		if got, want := a.Decide(req), casbinAnswer(t, mustCasbinOf(t, rules), req); !sameDecision(got, want) {
			t.Errorf("chain of %d links: engine %+v, casbin %+v", depth, got, want)
		}
	}
}

// TestEngineMatchesCasbinAtBenchmarkShape compares decisions on the policy
// the benchmarks use, for users of every kind.
func TestEngineMatchesCasbinAtBenchmarkShape(t *testing.T) {
	t.Parallel()
	p := mustBenchPolicy(t, 1000)
	a := p.mustEngine(t, false)
	e := p.mustCasbin(t)
	r := rand.New(rand.NewPCG(1, 2))
	objs := []string{"/api/notes/:id", "/api/notes", "/api/res3", "/api/res3/:id", "/api/res150/:id", "/api/admin/users"}
	for range 300 {
		sub := pick(r, p.users)
		req := rbac.Request{Sub: sub, Obj: pick(r, objs), Act: pick(r, requestActs), MFA: pick(r, requestMFA)}
		if r.IntN(2) == 0 {
			req.Owner = sub
		}
		if got, want := a.Decide(req), casbinAnswer(t, e, req); !sameDecision(got, want) {
			t.Fatalf("%+v: engine %+v, casbin %+v", req, got, want)
		}
	}
}

// decisionRecord is one decision made during TestConcurrentDecisions, with
// the versions of the policy it may have seen: every change committed and
// applied before it started (lo) up to every change begun before it ended
// (hi).
type decisionRecord struct {
	req    rbac.Request
	got    rbac.Decision
	lo, hi int64
}

// TestConcurrentDecisions hammers Decide from many goroutines while one
// goroutine changes rules and links through Mutate on a real database.
// Each change is version k of the policy; after it commits, an uncached
// Casbin enforcer is loaded from the database (the committed state k).
// A decision must equal Casbin's under some version between the last one
// applied before it started and the last one begun before it ended: no
// stale answer, no answer from a state that never was.
func TestConcurrentDecisions(t *testing.T) {
	t.Parallel()
	m, _ := mustSeed(t)
	testConcurrentDecisions(t, m)
}

// TestConcurrentDecisionsCustomModel is TestConcurrentDecisions on a model
// the engine does not compile (the shipped one with its matcher's terms in
// another order: the same decisions, made by Casbin's Enforce), so that
// changes and decisions meet on the enforcer's path too, under -race.
func TestConcurrentDecisionsCustomModel(t *testing.T) {
	t.Parallel()
	shipped, err := os.ReadFile("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(shipped), "m = g(r.sub, p.sub) && keyMatch(r.obj, p.obj)", "m = keyMatch(r.obj, p.obj) && g(r.sub, p.sub)", 1)
	m, err := rbac.ParseModel(text)
	if err != nil {
		t.Fatal(err)
	}
	if m.Compiled() {
		t.Fatal("the reordered matcher is still compiled: the test would not reach Casbin's path")
	}
	testConcurrentDecisions(t, m)
}

func testConcurrentDecisions(t *testing.T, m *rbac.Model) {
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	authz, err := rbac.New(ctx, db, m)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(42, 42))
	authz.SetRoutes(randomRoutes(r))
	initial := randomPolicy(r, 30)
	if err := authz.Mutate(ctx, func(tx store.Tx) error {
		for _, rule := range initial {
			if _, err := authz.AddRule(tx, rule.Type, rule.Values); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// versions[k] is Casbin loaded from the database after change k.
	versions := []*casbin.Enforcer{mustCasbinFromDB(t, db)}
	var started, applied atomic.Int64

	// Decisions are paced over the run, so that every stretch of it is
	// checked and the writer is not starved of CPU. The run lasts until
	// minChanges changes were made too: on a busy machine a commit can
	// take most of a second.
	// It also lasts until minDecisions were made, within maxRun: Casbin's
	// Enforce (a custom model) under -race on a shared machine decides far
	// slower than the engine.
	const deciders, maxRecords, run, minChanges = 4, 2000, 1500 * time.Millisecond, 10
	const minDecisions, maxRun = 1000, 60 * time.Second
	var decided atomic.Int64
	begin := time.Now()
	deadline := begin.Add(run)
	var done atomic.Bool
	records := make([][]decisionRecord, deciders)
	var wg sync.WaitGroup
	for g := range deciders {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 99))
			for len(records[g]) < maxRecords && !done.Load() {
				if time.Since(begin) < time.Duration(len(records[g]))*run/maxRecords {
					runtime.Gosched()
					continue
				}
				req := randomRequest(r)
				lo := applied.Load()
				got := authz.Decide(req)
				hi := started.Load()
				records[g] = append(records[g], decisionRecord{req: req, got: got, lo: lo, hi: hi})
				decided.Add(1)
			}
		})
	}
	enough := func() bool { return decided.Load() >= minDecisions || time.Since(begin) > maxRun }
	for k := int64(1); k <= minChanges || time.Now().Before(deadline) || !enough(); k++ {
		started.Store(k)
		if err := authz.Mutate(ctx, func(tx store.Tx) error { return randomChange(r, authz, tx) }); err != nil {
			t.Fatalf("change %d: %v", k, err)
		}
		applied.Store(k)
		versions = append(versions, mustCasbinFromDB(t, db))
	}
	done.Store(true)
	wg.Wait()

	// Requests here hold no groups: the key is their comparable part.
	type key struct {
		version                   int64
		sub, obj, act, owner, mfa string
	}
	answers := map[key]rbac.Decision{}
	answer := func(k int64, req rbac.Request) rbac.Decision {
		kk := key{k, req.Sub, req.Obj, req.Act, req.Owner, req.MFA}
		d, ok := answers[kk]
		if !ok {
			d = casbinAnswer(t, versions[k], req)
			answers[kk] = d
		}
		return d
	}
	total := 0
	for _, recs := range records {
		for _, rec := range recs {
			total++
			ok := false
			for k := rec.lo; k <= rec.hi && !ok; k++ {
				ok = sameDecision(rec.got, answer(k, rec.req))
			}
			if !ok {
				t.Fatalf("%+v decided %+v between versions %d and %d; casbin says %+v at %d", rec.req, rec.got, rec.lo, rec.hi, answer(rec.lo, rec.req), rec.lo)
			}
		}
	}
	if len(versions) < 10 || total < 1000 {
		t.Fatalf("too little happened to prove anything: %d changes, %d decisions", len(versions)-1, total)
	}
	t.Logf("%d decisions checked across %d policy changes", total, len(versions)-1)
}

// randomChange adds one to three random rules, or removes random ones.
func randomChange(r *rand.Rand, authz *rbac.Authorizer, tx store.Tx) error {
	var ids []uint64
	if err := tx.Rules().ForEach(func(rule store.Rule) error { ids = append(ids, rule.ID); return nil }); err != nil {
		return err
	}
	for range 1 + r.IntN(3) {
		if len(ids) > 10 && r.IntN(2) == 0 {
			i := r.IntN(len(ids))
			if _, err := tx.Rules().Remove(ids[i]); err != nil {
				return err
			}
			ids = slices.Delete(ids, i, i+1)
			continue
		}
		rule := randomRule(r)
		added, err := authz.AddRule(tx, rule.Type, rule.Values)
		switch {
		case err == nil:
			ids = append(ids, added.ID)
		case !isConflict(err):
			return err
		}
	}
	return nil
}

func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

func mustCasbinFromDB(t testing.TB, db store.Store) *casbin.Enforcer {
	t.Helper()
	e, err := casbin.NewEnforcer("../model.conf", rbac.NewAdapter(db))
	if err != nil {
		t.Fatal(err)
	}
	return e
}
