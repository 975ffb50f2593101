package rbac

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/gatehouse/gatehouse/store"
)

// ErrLastAdmin refuses a change after which no enabled admin could sign in
// and manage the policy (guard.go), which no one could then undo without
// the offline tools.
var ErrLastAdmin = errors.New("this change would leave no enabled admin who can sign in and manage the policy: make someone else an admin first, or keep the rules that let admins sign in and change the policy")

// ValidationError carries the problems of a refused rule by field.
type ValidationError struct {
	Details map[string]string
}

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Details[k]
	}
	return "rbac: invalid rule: " + strings.Join(parts, "; ")
}

// Authorizer decides requests against the policy stored in db, and is the
// only way the policy changes in this process: every change commits to the
// store first and is then applied in memory, so the very next decision sees
// it.
//
// The invariants of a change (the last-admin guard, groups made for the
// rules that name them) are checked inside the store transaction that makes
// the change, which the contract runs as if alone: they hold when several
// processes, each with its own Authorizer, write one database at once. The
// lock write only keeps this process's in-memory copy in commit order.
type Authorizer struct {
	db    store.Store
	model *Model

	// write orders this process's changes: store commit and memory update
	// together. It is not what keeps the invariants (see above).
	write sync.Mutex
	// mu guards the in-memory policy (engine or enforcer) and its version.
	mu  sync.RWMutex
	eng *engine
	// enf enforces a model the engine does not understand.
	enf *casbin.SyncedEnforcer
	// version is the policy version (store.Rules.Version) the memory holds:
	// changed under mu held for writing, read without it by CatchUpTo
	// (every request) so that requests do not contend on mu for it.
	version atomic.Uint64
}

// New loads the policy stored in db.
func New(ctx context.Context, db store.Store, m *Model) (*Authorizer, error) {
	a := &Authorizer{db: db, model: m, eng: newEngine()}
	if !m.compiled {
		enf, err := casbin.NewSyncedEnforcer(m.casbin, NewAdapter(db))
		if err != nil {
			return nil, fmt.Errorf("rbac: casbin: %w", err)
		}
		enf.EnableAutoSave(false) // changes are written by Mutate, in its transaction
		a.enf = enf
	}
	// The rules and their version come from one transaction, so that the
	// version names exactly the policy loaded.
	err := db.View(ctx, func(tx store.Tx) error {
		var err error
		v, err := tx.Rules().Version()
		if err != nil {
			return err
		}
		a.version.Store(v)
		return tx.Rules().ForEach(func(r store.Rule) error {
			a.eng.apply(true, r.ID, r.Type, r.Values)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("rbac: load policy: %w", err)
	}
	a.eng.reindex()
	return a, nil
}

// Version is the policy version the decisions are made on: the store's
// version as of the last change this process applied (or loaded).
func (a *Authorizer) Version() uint64 {
	return a.version.Load()
}

// Model is the model decisions are made under.
func (a *Authorizer) Model() *Model { return a.model }

// SetRoutes tells the authorizer which (method, route template) pairs exist,
// so that their rules are indexed ahead of any request.
func (a *Authorizer) SetRoutes(routes [][2]string) {
	keys := make([]routeKey, len(routes))
	for i, r := range routes {
		keys[i] = routeKey{act: r[0], obj: r[1]}
	}
	a.mu.Lock()
	a.eng.setRoutes(keys)
	a.mu.Unlock()
}

// Decide answers req.
func (a *Authorizer) Decide(req Request) Decision {
	if a.enf != nil {
		return a.casbinDecide(req)
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.eng.decide(req)
}

// Explain answers req with a sentence that says why.
func (a *Authorizer) Explain(req Request) (Decision, string) {
	if a.enf != nil {
		d := a.casbinDecide(req)
		if d.Allowed {
			return d, "allowed: rule " + strings.Join(d.Rule, ", ") + " matched"
		}
		return d, "denied: no rule of the policy matched (custom model: no further explanation)"
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.eng.explain(req)
}

// casbinDecide decides req with Casbin's Enforce. It holds a.mu for
// reading: apply changes the enforcer's model under a.mu, and the
// enforcer's own lock does not cover changes made to its model directly.
func (a *Authorizer) casbinDecide(req Request) Decision {
	a.mu.RLock()
	defer a.mu.RUnlock()
	args := []any{req.Sub, req.Obj, req.Act, req.Owner, req.MFA}
	if n := len(a.model.casbin["r"]["r"].Tokens); n < len(args) {
		args = args[:n]
	}
	// Casbin has no request-scoped links: the request's groups are asked
	// as subjects of their own, with no owner (a group owns nothing, so
	// owner-only rules grant only through the caller's own subject).
	enforce := func(args []any) (bool, []string) {
		for i := -1; i < len(req.Groups); i++ {
			if i >= 0 {
				args[0] = req.Groups[i]
				if len(args) > 3 {
					args[3] = ""
				}
			}
			ok, rule, err := a.enf.EnforceEx(args...)
			if err == nil && ok {
				return true, rule
			}
		}
		args[0] = req.Sub
		if len(args) > 3 {
			args[3] = req.Owner
		}
		return false, nil
	}
	if ok, rule := enforce(args); ok {
		return Decision{Allowed: true, Rule: rule}
	}
	if req.MFA != MFAVerified && len(args) == 5 {
		args[4] = MFAVerified
		up, _ := enforce(args)
		return Decision{StepUp: up}
	}
	return Decision{}
}

// Parents are the roles and groups sub is directly linked to.
func (a *Authorizer) Parents(sub string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.enf != nil {
		roles, _ := a.enf.GetRolesForUser(sub)
		return roles
	}
	return slices.Clone(a.eng.parents[sub])
}

// Members are the subjects directly linked to target, sorted.
func (a *Authorizer) Members(target string) []string {
	a.mu.RLock()
	if a.enf != nil {
		users, _ := a.enf.GetUsersForRole(target)
		a.mu.RUnlock()
		slices.Sort(users)
		return users
	}
	members := slices.Collect(maps.Keys(a.eng.children[target]))
	a.mu.RUnlock()
	slices.Sort(members)
	return members
}

// Mutate runs fn in one store transaction and, once it has committed,
// applies the rules it added and removed to the in-memory policy. It
// refuses (and rolls back) a change after which no enabled admin could
// sign in and manage the policy (guard.go), decided inside the same
// transaction on what the transaction reads, so the guard holds against
// concurrent changes from any process. Like store.Store.Update, fn may run
// more than once and must have no effect outside tx.
func (a *Authorizer) Mutate(ctx context.Context, fn func(tx store.Tx) error) error {
	return a.mutate(ctx, fn, true, nil)
}

// Grant decides, inside a transaction of MutateGranting, a change that
// gives someone the power to manage the policy by another way than the
// policy routes.
type Grant struct {
	// MayGrant decides whether the caller may make such a change (the
	// API decides it as the policy route that adds a rule).
	MayGrant func() error
	// Credentials are the users whose credentials the change sets for
	// them (a password set by someone else): when one of them may manage
	// the policy after the change, MayGrant decides the change too.
	Credentials []uint64
}

// MutateGranting is Mutate that, before committing, asks g.MayGrant when
// the change grows the set of enabled users who may manage the policy (as
// the last-admin guard counts them: the engine decides, what-if, on the
// policy and users as the transaction leaves them), or sets the
// credentials of such a user. A refusal rolls the change back.
func (a *Authorizer) MutateGranting(ctx context.Context, g Grant, fn func(tx store.Tx) error) error {
	return a.mutate(ctx, fn, true, &g)
}

// MutateUnguarded is Mutate without the last-admin guard, for an operator
// who repairs a policy offline on purpose (policy import --force).
func (a *Authorizer) MutateUnguarded(ctx context.Context, fn func(tx store.Tx) error) error {
	return a.mutate(ctx, fn, false, nil)
}

func (a *Authorizer) mutate(ctx context.Context, fn func(tx store.Tx) error, guard bool, g *Grant) error {
	if a.db == nil {
		return errors.New("rbac: this authorizer holds a policy in memory only")
	}
	a.write.Lock()
	defer a.write.Unlock()
	var changes []store.RuleChange
	var version uint64
	err := a.db.Update(ctx, func(tx store.Tx) error {
		// The policy version this transaction reads, before fn changes it:
		// the guard decides on the engine only when the engine holds
		// exactly this version.
		base, err := tx.Rules().Version()
		if err != nil {
			return err
		}
		before := false
		if guard {
			if before, err = a.manageable(tx, base, nil); err != nil {
				return err
			}
		}
		var managersBefore map[uint64]bool
		if g != nil {
			if managersBefore, err = a.managers(tx, base, nil); err != nil {
				return err
			}
		}
		if err := fn(tx); err != nil {
			return err
		}
		changes = tx.Rules().Changes()
		if g != nil {
			if err := a.decideGrant(tx, base, changes, managersBefore, g); err != nil {
				return err
			}
		}
		if before {
			after, err := a.manageable(tx, base, changes)
			if err != nil {
				return err
			}
			if !after {
				return ErrLastAdmin
			}
		}
		version, err = tx.Rules().Version()
		return err
	})
	if err != nil {
		return err
	}
	if !a.apply(changes, version) {
		// Another process committed a version between the one held here
		// and this one: take the versions in order from the store. The
		// change is committed whatever happens here: a catch-up that fails
		// now is made by the next request (CatchUp), so it is no error of
		// this change.
		_ = a.Refresh(ctx)
	}
	return nil
}

// Refresh brings the in-memory policy to the store's current version (see
// CatchUp), from a read transaction of its own.
func (a *Authorizer) Refresh(ctx context.Context) error {
	if a.db == nil {
		return nil
	}
	return a.db.View(ctx, a.CatchUp)
}

// CatchUpTo brings the in-memory policy to at least version, the one a
// request's credential was read with (store.Credential): nothing to do when
// it holds that one or a newer one already, else a catch-up from a read
// transaction of its own (Refresh).
func (a *Authorizer) CatchUpTo(ctx context.Context, version uint64) error {
	if version <= a.version.Load() {
		return nil
	}
	return a.Refresh(ctx)
}

// CatchUp brings the in-memory policy to the version tx sees when it is
// behind: by the changes committed since, in version order, when the store
// keeps a log of them (store.PolicyLog), else by loading the whole policy
// from tx. Several processes writing one store call it with the
// transaction that read a request's credentials, so that no request is
// decided on a policy older than the one committed before it began.
func (a *Authorizer) CatchUp(tx store.Tx) error {
	current, err := tx.Rules().Version()
	if err != nil {
		return err
	}
	a.mu.RLock()
	held := a.version.Load()
	a.mu.RUnlock()
	if current <= held {
		return nil
	}
	var changes []store.VersionedChange
	whole := false
	if log, ok := tx.(store.PolicyLog); ok {
		if changes, whole, err = log.ChangesSince(held); err != nil {
			return err
		}
	}
	var rules []store.Rule
	if !whole {
		err := tx.Rules().ForEach(func(r store.Rule) error { rules = append(rules, r); return nil })
		if err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.version.Load() >= current {
		return nil // another request caught up meanwhile
	}
	if !whole {
		eng := newEngine()
		eng.setRoutes(a.eng.routes)
		for _, r := range rules {
			eng.apply(true, r.ID, r.Type, r.Values)
		}
		eng.reindex()
		a.eng = eng
		a.version.Store(current)
		if a.enf != nil {
			a.enf.ClearPolicy()
			for _, r := range rules {
				_ = a.enf.GetModel().AddPolicy(r.Type[:1], r.Type, r.Values)
			}
			_ = a.enf.BuildRoleLinks()
		}
		return nil
	}
	var batch []store.RuleChange
	for _, c := range changes {
		if c.Version > a.version.Load() {
			batch = append(batch, c.RuleChange)
		}
	}
	a.applyLocked(batch)
	a.version.Store(current)
	return nil
}

// decideGrant asks g.MayGrant when, after changes, someone not in before
// may manage the policy, or one of g.Credentials may.
func (a *Authorizer) decideGrant(tx store.Tx, base uint64, changes []store.RuleChange, before map[uint64]bool, g *Grant) error {
	after, err := a.managers(tx, base, changes)
	if err != nil {
		return err
	}
	for id := range after {
		if !before[id] || slices.Contains(g.Credentials, id) {
			return g.MayGrant()
		}
	}
	return nil
}

// apply brings the in-memory policy to version by the changes of the
// transaction that committed it.
//
// It reports false, changing nothing, when the memory is not at the
// version just before: another process committed in between.
func (a *Authorizer) apply(changes []store.RuleChange, version uint64) bool {
	if len(changes) == 0 {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.version.Load() >= version:
		return true // a catch-up already brought it
	case a.version.Load()+1 != version:
		return false
	}
	a.applyLocked(changes)
	a.version.Store(version)
	return true
}

// applyLocked applies changes to the engine (and enforcer); a.mu is held.
func (a *Authorizer) applyLocked(changes []store.RuleChange) {
	reindex := false
	for _, c := range changes {
		reindex = a.eng.apply(c.Added, c.Rule.ID, c.Rule.Type, c.Rule.Values) || reindex
		if a.enf != nil {
			sec := c.Rule.Type[:1]
			if c.Added {
				_ = a.enf.GetModel().AddPolicy(sec, c.Rule.Type, c.Rule.Values)
			} else {
				removeInOrder(a.enf.GetModel(), sec, c.Rule.Type, c.Rule.Values)
			}
		}
	}
	if reindex {
		a.eng.reindex()
	}
	if a.enf != nil {
		_ = a.enf.BuildRoleLinks()
	}
}

// removeInOrder removes a rule from a Casbin model keeping the order of
// the others. Casbin's RemovePolicy moves the last rule into the hole,
// which would make the enforcer report another matching rule than a fresh
// load of the same policy (rules are decided in the order they were added).
func removeInOrder(m model.Model, sec, typ string, values []string) {
	ast, ok := m[sec][typ]
	if !ok {
		return
	}
	key := strings.Join(values, model.DefaultSep)
	i, ok := ast.PolicyMap[key]
	if !ok {
		return
	}
	ast.Policy = slices.Delete(ast.Policy, i, i+1)
	delete(ast.PolicyMap, key)
	for j := i; j < len(ast.Policy); j++ {
		ast.PolicyMap[strings.Join(ast.Policy[j], model.DefaultSep)] = j
	}
}

// AddRule checks a rule against the model and adds it in tx, creating the
// groups it names that do not exist yet.
func (a *Authorizer) AddRule(tx store.Tx, typ string, values []string) (store.Rule, error) {
	if problems := a.model.ValidateRule(typ, values); problems != nil {
		return store.Rule{}, &ValidationError{Details: problems}
	}
	for _, v := range values {
		if name, ok := strings.CutPrefix(v, "group:"); ok && a.model.compiled {
			if _, err := tx.Groups().Get(name); errors.Is(err, store.ErrNotFound) {
				if err := tx.Groups().Create(&store.Group{Name: name}); err != nil {
					return store.Rule{}, err
				}
			}
		}
	}
	return tx.Rules().Add(typ, values)
}

// countAdmins counts the enabled users that reach role:admin.
func countAdmins(tx store.Tx) (int, error) {
	admins, err := AdminUsers(tx)
	return len(admins), err
}

// AdminUsers are the ids of the enabled users that reach role:admin through
// g links, found by walking the links backwards from the role inside tx (so
// it sees the transaction's own changes).
func AdminUsers(tx store.Tx) (map[uint64]bool, error) {
	seen := map[string]bool{RoleAdmin: true}
	queue := []string{RoleAdmin}
	admins := map[uint64]bool{}
	for hop := 0; hop < maxHops && len(queue) > 0; hop++ {
		var next []string
		for _, target := range queue {
			rules, err := tx.Rules().Referencing(target)
			if err != nil {
				return nil, err
			}
			for _, r := range rules {
				if r.Type != "g" || len(r.Values) != 2 || r.Values[1] != target || seen[r.Values[0]] {
					continue
				}
				member := r.Values[0]
				seen[member] = true
				if id, ok := UserID(member); ok {
					if u, err := tx.Users().Get(id); err == nil && !u.Disabled {
						admins[id] = true
					}
					continue
				}
				next = append(next, member)
			}
		}
		queue = next
	}
	return admins, nil
}

// UserSubject is the subject of the user with id.
func UserSubject(id uint64) string { return "user:" + store.FormatID(id) }

// UserID reads the id of a user subject.
func UserID(sub string) (uint64, bool) {
	s, ok := strings.CutPrefix(sub, "user:")
	if !ok {
		return 0, false
	}
	id, err := store.ParseID(s)
	return id, err == nil
}

// Grants returns the p rules whose object and action match obj and act, in
// policy order: the rules that could grant the route.
func (a *Authorizer) Grants(obj, act string) [][]string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out [][]string
	for _, r := range a.eng.candidates(obj, act) {
		out = append(out, r.values())
	}
	return out
}

// DeadRules returns the p rules that match none of the routes given to
// SetRoutes.
func (a *Authorizer) DeadRules() [][]string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	live := map[*prule]bool{}
	for _, rules := range a.eng.byRoute {
		for _, r := range rules {
			live[r] = true
		}
	}
	var out [][]string
	for _, r := range a.eng.rules {
		if !live[r] {
			out = append(out, r.values())
		}
	}
	return out
}

// Seed adds rules to an empty policy, in one transaction, and reports
// whether it did: a database that has any rule keeps its own policy.
func (a *Authorizer) Seed(ctx context.Context, rules []CSVRule) (bool, error) {
	seeded := false
	err := a.Mutate(ctx, func(tx store.Tx) (err error) {
		seeded, err = a.SeedTx(tx, rules)
		return err
	})
	return seeded, err
}

// SeedTx adds rules to the policy in tx when it has none, and reports
// whether it did. Run in Mutate: since the emptiness check and the adds
// are one serializable transaction, processes that start together on an
// empty database seed it once.
func (a *Authorizer) SeedTx(tx store.Tx, rules []CSVRule) (bool, error) {
	if any, err := tx.Rules().Any(); err != nil || any {
		return false, err
	}
	for _, r := range rules {
		if _, err := a.AddRule(tx, r.Type, r.Values); err != nil && !errors.Is(err, store.ErrConflict) {
			return false, fmt.Errorf("seed policy line %d: %w", r.Line, err)
		}
	}
	return true, nil
}
