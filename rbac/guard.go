package rbac

import (
	"errors"
	"net/http"
	"slices"

	"github.com/casbin/casbin/v2/util"
	"github.com/gatehouse/gatehouse/store"
)

// The last-admin guard. A change must not leave the policy with nobody who
// could change it back: after every change through Mutate, the engine
// decides (what-if, on the policy as the transaction leaves it, before it
// commits) whether someone could still sign in and manage the policy:
//
//   - anonymous may still POST LoginRoute (or nobody can sign in at all),
//   - and some enabled user may, with their second factor proven, both add
//     a rule (POST PolicyRoute) and remove one (DELETE PolicyRuleRoute).
//
// It counts what admins can do, not role links: removing the rule that
// grants the policy routes, or the anonymous login rule, is refused like
// removing the last admin. A policy that was not manageable before a change
// is not held to it (a fresh database, or one being repaired).

// The routes the guard keeps reachable.
const (
	LoginRoute      = "/api/auth/login"
	PolicyRoute     = "/api/admin/policies"
	PolicyRuleRoute = "/api/admin/policies/:id"
)

// manageRequests are what a user must be allowed to keep the policy
// manageable, asked with the second factor proven.
var manageRequests = []routeKey{{act: http.MethodPost, obj: PolicyRoute}, {act: http.MethodDelete, obj: PolicyRuleRoute}}

// whatIf is the engine's policy with a transaction's rule changes laid over
// it, decided without touching the engine: the changes are not committed
// yet, and concurrent decisions must not see them. The engine must not
// change meanwhile (Mutate holds a.write, and reads it under a.mu).
type whatIf struct {
	e                *engine
	addedP           []*prule
	removedP         map[uint64]bool
	addedG, removedG map[[2]string]bool
	addedParents     map[string][]string
	addedChildren    map[string][]string
}

func newWhatIf(e *engine, changes []store.RuleChange) *whatIf {
	w := &whatIf{e: e, removedP: map[uint64]bool{}, addedG: map[[2]string]bool{}, removedG: map[[2]string]bool{},
		addedParents: map[string][]string{}, addedChildren: map[string][]string{}}
	for _, c := range changes {
		v := c.Rule.Values
		switch {
		case c.Rule.Type == "p" && len(v) == 4 && c.Added:
			w.addedP = append(w.addedP, newPRule(c.Rule.ID, v[0], v[1], v[2], v[3]))
		case c.Rule.Type == "p" && len(v) == 4:
			w.removedP[c.Rule.ID] = true
			w.addedP = slices.DeleteFunc(w.addedP, func(r *prule) bool { return r.id == c.Rule.ID })
		case c.Rule.Type == "g" && len(v) == 2 && c.Added:
			link := [2]string{v[0], v[1]}
			delete(w.removedG, link)
			w.addedG[link] = true
			w.addedParents[v[0]] = append(w.addedParents[v[0]], v[1])
			w.addedChildren[v[1]] = append(w.addedChildren[v[1]], v[0])
		case c.Rule.Type == "g" && len(v) == 2:
			link := [2]string{v[0], v[1]}
			delete(w.addedG, link)
			w.removedG[link] = true
		}
	}
	return w
}

// linked reports whether the g link member -> target holds after the
// changes.
func (w *whatIf) linked(member, target string) bool {
	return !w.removedG[[2]string{member, target}]
}

// parents are sub's direct parents after the changes.
func (w *whatIf) parents(sub string) []string {
	var out []string
	for _, p := range w.e.parents[sub] {
		if w.linked(sub, p) {
			out = append(out, p)
		}
	}
	for _, p := range w.addedParents[sub] {
		if w.addedG[[2]string{sub, p}] && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// children are target's direct members after the changes.
func (w *whatIf) children(target string) []string {
	var out []string
	for m := range w.e.children[target] {
		if w.linked(m, target) {
			out = append(out, m)
		}
	}
	for _, m := range w.addedChildren[target] {
		if w.addedG[[2]string{m, target}] && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// grants are the p rules that grant rk with req's condition after the
// changes.
func (w *whatIf) grants(rk routeKey, req *Request) []*prule {
	var out []*prule
	for _, r := range w.e.candidates(rk.obj, rk.act) {
		if !w.removedP[r.id] && condHolds(r.cond, req) {
			out = append(out, r)
		}
	}
	for _, r := range w.addedP {
		if (r.act == "*" || r.act == rk.act) && util.KeyMatch(rk.obj, r.obj) && condHolds(r.cond, req) {
			out = append(out, r)
		}
	}
	return out
}

// allowed decides req on the route rk after the changes.
func (w *whatIf) allowed(rk routeKey, req Request) bool {
	rules := w.grants(rk, &req)
	if len(rules) == 0 {
		return false
	}
	subs := []string{req.Sub}
	for start, hop := 0, 0; hop < maxHops && start < len(subs); hop++ {
		end := len(subs)
		for _, n := range subs[start:end] {
			for _, p := range w.parents(n) {
				if !slices.Contains(subs, p) {
					subs = append(subs, p)
				}
			}
		}
		start = end
	}
	return firstGrant(rules, subs, &req) != nil
}

// manageable reports whether, after the changes, anonymous may sign in and
// an enabled user of tx may manage the policy.
func (w *whatIf) manageable(tx store.Tx) (bool, error) {
	if !w.allowed(routeKey{act: http.MethodPost, obj: LoginRoute}, Request{Sub: Anonymous, Obj: LoginRoute, Act: http.MethodPost, MFA: MFANone}) {
		return false, nil
	}
	found := false
	err := w.eachManager(tx, func(uint64) bool {
		found = true
		return false
	})
	return found, err
}

// managers are the enabled users of tx who may manage the policy after the
// changes.
func (w *whatIf) managers(tx store.Tx) (map[uint64]bool, error) {
	out := map[uint64]bool{}
	err := w.eachManager(tx, func(id uint64) bool {
		out[id] = true
		return true
	})
	return out, err
}

// eachManager calls fn with each enabled user of tx who may manage the
// policy after the changes, until fn returns false. Users are found by
// walking g links backwards from the subjects of the rules that grant
// adding a rule; each found is then decided on every manage request.
func (w *whatIf) eachManager(tx store.Tx, fn func(id uint64) bool) error {
	probe := Request{Obj: manageRequests[0].obj, Act: manageRequests[0].act, MFA: MFAVerified}
	var queue []string
	seen := map[string]bool{}
	for _, r := range w.grants(manageRequests[0], &probe) {
		if !seen[r.sub] {
			seen[r.sub] = true
			queue = append(queue, r.sub)
		}
	}
	for hop := 0; hop <= maxHops && len(queue) > 0; hop++ {
		var next []string
		for _, sub := range queue {
			if id, ok := UserID(sub); ok {
				ok, err := w.userManages(tx, id, sub)
				if err != nil {
					return err
				}
				if ok && !fn(id) {
					return nil
				}
			}
			for _, m := range w.children(sub) {
				if !seen[m] {
					seen[m] = true
					next = append(next, m)
				}
			}
		}
		queue = next
	}
	return nil
}

// userManages reports whether user id (subject sub) exists, is enabled and
// may make every manage request with the second factor proven.
func (w *whatIf) userManages(tx store.Tx, id uint64, sub string) (bool, error) {
	u, err := tx.Users().Get(id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case u.Disabled:
		return false, nil
	}
	for _, rk := range manageRequests {
		if !w.allowed(rk, Request{Sub: sub, Obj: rk.obj, Act: rk.act, MFA: MFAVerified}) {
			return false, nil
		}
	}
	return true, nil
}

// manageable reports whether the policy of tx, with changes laid over it,
// leaves someone able to sign in and manage it (see above). base is the
// policy version tx read before the changes. For a custom model, whose
// matcher the engine does not implement, it falls back to counting the
// enabled users who reach role:admin.
func (a *Authorizer) manageable(tx store.Tx, base uint64, changes []store.RuleChange) (bool, error) {
	if !a.model.compiled {
		n, err := countAdmins(tx)
		return n > 0, err
	}
	var ok bool
	err := a.withWhatIf(tx, base, changes, func(w *whatIf) (err error) {
		ok, err = w.manageable(tx)
		return err
	})
	return ok, err
}

// managers are the enabled users of tx who may manage the policy with
// changes laid over it (for a custom model: who reach role:admin).
func (a *Authorizer) managers(tx store.Tx, base uint64, changes []store.RuleChange) (map[uint64]bool, error) {
	if !a.model.compiled {
		return AdminUsers(tx)
	}
	var out map[uint64]bool
	err := a.withWhatIf(tx, base, changes, func(w *whatIf) (err error) {
		out, err = w.managers(tx)
		return err
	})
	return out, err
}

// withWhatIf calls fn with the policy of tx as changes leave it. When the
// engine holds exactly version base (always, with one process), the
// what-if lays the changes over the engine; otherwise (another process
// changed the policy since this one last applied a change) it lays them
// over an engine built from the rules tx reads, so the decision is always
// the transaction's own.
func (a *Authorizer) withWhatIf(tx store.Tx, base uint64, changes []store.RuleChange, fn func(w *whatIf) error) error {
	a.mu.RLock()
	if a.version.Load() == base {
		defer a.mu.RUnlock()
		return fn(newWhatIf(a.eng, changes))
	}
	a.mu.RUnlock()
	e, err := engineOf(tx)
	if err != nil {
		return err
	}
	return fn(newWhatIf(e, nil))
}

// engineOf builds an engine of the rules tx reads, its own changes
// included: the policy as the transaction leaves it.
func engineOf(tx store.Tx) (*engine, error) {
	e := newEngine()
	err := tx.Rules().ForEach(func(r store.Rule) error {
		e.apply(true, r.ID, r.Type, r.Values)
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.reindex()
	return e, nil
}
