package rbac

import (
	"slices"
	"strings"

	"github.com/casbin/casbin/v2/util"
)

// maxHops is how many g links a subject may be away from a rule's subject,
// as in Casbin's default role manager.
const maxHops = 10

// Request is one question: may Sub do Act on Obj? Owner is the subject that
// owns the resource ("" when the route has none, so owner-only rules never
// match) and MFA the caller's second factor (MFANone, MFAMissing or
// MFAVerified).
//
// Groups are further subjects the caller holds for this request only
// ("group:engineering" from an identity provider's token), beside the links
// the policy stores: rules for them and for what they link to grant as if
// Sub were their member. They are never stored, so a group the provider
// takes away stops granting with the caller's next token. Owner-only rules
// still compare the owner with Sub. (Under a custom model, decided by
// Casbin, each group is asked as a subject of its own that owns nothing.)
type Request struct {
	Sub, Obj, Act, Owner, MFA string
	Groups                    []string
}

// Decision is the answer to a Request.
type Decision struct {
	Allowed bool
	// Rule is the p rule that allowed the request: sub, obj, act, cond.
	// Decide shares it with the policy, so that a decision allocates
	// nothing: read it, never change it (Explain returns a copy).
	Rule []string
	// StepUp says the request was denied but would be allowed with a
	// proven second factor.
	StepUp bool
}

// prule is a p rule of the shipped model.
type prule struct {
	id                  uint64
	sub, obj, act, cond string
	// vals is sub, obj, act, cond once, for Decision.Rule: an allowed
	// decision then allocates nothing, and so adds no garbage for the
	// collector to find in a heap that grows with the policy.
	vals []string
}

func newPRule(id uint64, sub, obj, act, cond string) *prule {
	return &prule{id: id, sub: sub, obj: obj, act: act, cond: cond, vals: slices.Clip([]string{sub, obj, act, cond})}
}

// values is a copy of the rule's values, for callers that keep them.
func (r *prule) values() []string { return []string{r.sub, r.obj, r.act, r.cond} }

// routeKey names one registered route.
type routeKey struct{ act, obj string }

// engine is the compiled form of a shipped-model policy. It is not safe for
// concurrent use; Authorizer guards it.
type engine struct {
	rules   []*prule // in policy (id) order, which decides which rule is reported
	parents map[string][]string
	// children is the reverse of parents, as sets: a role such as
	// role:user has a member per user, and a list would make loading
	// 100k users quadratic.
	children map[string]map[string]struct{}
	routes   []routeKey
	// byRoute holds, for each registered route, the rules whose object and
	// action match it, in policy order: a decision reads only these. It is
	// rebuilt when p rules change, bounded by routes x rules.
	byRoute map[routeKey][]*prule
}

func newEngine() *engine {
	return &engine{
		parents:  map[string][]string{},
		children: map[string]map[string]struct{}{},
		byRoute:  map[routeKey][]*prule{},
	}
}

// apply adds or removes one rule. It reports whether a p rule changed, in
// which case the route index needs a rebuild.
func (e *engine) apply(added bool, id uint64, typ string, v []string) (pChanged bool) {
	switch {
	case typ == "p" && len(v) == 4:
		if added {
			r := newPRule(id, v[0], v[1], v[2], v[3])
			i, _ := slices.BinarySearchFunc(e.rules, id, func(r *prule, id uint64) int { return cmpID(r.id, id) })
			e.rules = slices.Insert(e.rules, i, r)
		} else {
			e.rules = slices.DeleteFunc(e.rules, func(r *prule) bool { return r.id == id })
		}
		return true
	case typ == "g" && len(v) == 2:
		if added {
			e.parents[v[0]] = appendOnce(e.parents[v[0]], v[1])
			members := e.children[v[1]]
			if members == nil {
				members = map[string]struct{}{}
				e.children[v[1]] = members
			}
			members[v[0]] = struct{}{}
		} else {
			e.parents[v[0]] = removeValue(e.parents, v[0], v[1])
			delete(e.children[v[1]], v[0])
			if len(e.children[v[1]]) == 0 {
				delete(e.children, v[1])
			}
		}
	}
	return false
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func appendOnce(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// removeValue drops v from m[k], deleting the key when nothing is left so
// that removed users cost no memory.
func removeValue(m map[string][]string, k, v string) []string {
	list := slices.DeleteFunc(slices.Clone(m[k]), func(s string) bool { return s == v })
	if len(list) == 0 {
		delete(m, k)
		return nil
	}
	return list
}

// setRoutes registers the routes to index and rebuilds the index.
func (e *engine) setRoutes(routes []routeKey) {
	e.routes = routes
	e.reindex()
}

func (e *engine) reindex() {
	idx := make(map[routeKey][]*prule, len(e.routes))
	for _, rk := range e.routes {
		idx[rk] = e.matching(rk.obj, rk.act)
	}
	e.byRoute = idx
}

// matching returns the rules whose object and action match, in order.
func (e *engine) matching(obj, act string) []*prule {
	var out []*prule
	for _, r := range e.rules {
		if (r.act == "*" || r.act == act) && util.KeyMatch(obj, r.obj) {
			out = append(out, r)
		}
	}
	return out
}

// closure appends to buf sub, the request's groups, and every subject they
// reach by g links within maxHops, breadth first. With buf on the caller's
// stack it allocates nothing for the few links and groups a user has.
func (e *engine) closure(sub string, groups []string, buf []string) []string {
	buf = append(buf, sub)
	for _, g := range groups {
		if !slices.Contains(buf, g) {
			buf = append(buf, g)
		}
	}
	start := 0
	for hop := 0; hop < maxHops && start < len(buf); hop++ {
		end := len(buf)
		for _, n := range buf[start:end] {
			for _, p := range e.parents[n] {
				if !slices.Contains(buf, p) {
					buf = append(buf, p)
				}
			}
		}
		start = end
	}
	return buf
}

func condHolds(cond string, req *Request) bool {
	switch cond {
	case CondAny:
		return true
	case CondOwner:
		return req.Owner == req.Sub
	case CondMFA:
		return req.MFA != MFAMissing
	case CondTOTP:
		return req.MFA == MFAVerified
	}
	return false
}

// candidates are the rules that could grant act on obj: from the index for
// a registered route, else by a scan.
func (e *engine) candidates(obj, act string) []*prule {
	if rules, ok := e.byRoute[routeKey{act, obj}]; ok {
		return rules
	}
	return e.matching(obj, act)
}

func (e *engine) decide(req Request) Decision {
	if req.Sub == "" {
		return Decision{}
	}
	var buf [64]string
	subs := e.closure(req.Sub, req.Groups, buf[:0])
	rules := e.candidates(req.Obj, req.Act)
	if r := firstGrant(rules, subs, &req); r != nil {
		return Decision{Allowed: true, Rule: r.vals}
	}
	if req.MFA != MFAVerified {
		up := req
		up.MFA = MFAVerified
		return Decision{StepUp: firstGrant(rules, subs, &up) != nil}
	}
	return Decision{}
}

func firstGrant(rules []*prule, subs []string, req *Request) *prule {
	for _, r := range rules {
		if condHolds(r.cond, req) && slices.Contains(subs, r.sub) {
			return r
		}
	}
	return nil
}

// path returns the chain of g links from sub to target (both included), or
// nil when there is none within maxHops.
func (e *engine) path(sub, target string) []string {
	if sub == target {
		return []string{sub}
	}
	prev := map[string]string{sub: ""}
	frontier := []string{sub}
	for hop := 0; hop < maxHops && len(frontier) > 0; hop++ {
		var next []string
		for _, n := range frontier {
			for _, p := range e.parents[n] {
				if _, seen := prev[p]; seen {
					continue
				}
				prev[p] = n
				if p == target {
					var chain []string
					for at := p; at != ""; at = prev[at] {
						chain = append(chain, at)
					}
					slices.Reverse(chain)
					return chain
				}
				next = append(next, p)
			}
		}
		frontier = next
	}
	return nil
}

// requestPath is the chain from the caller to target: from Sub by stored
// links, else from one of the request's groups, shown as held "for this
// request".
func (e *engine) requestPath(req *Request, target string) []string {
	if p := e.path(req.Sub, target); p != nil {
		return p
	}
	for _, g := range req.Groups {
		if p := e.path(g, target); p != nil {
			return append([]string{req.Sub, g + " (for this request)"}, p[1:]...)
		}
	}
	return nil
}

// explain decides req and says why in a sentence a person understands.
func (e *engine) explain(req Request) (Decision, string) {
	d := e.decide(req)
	d.Rule = slices.Clone(d.Rule)
	action := req.Act + " on " + req.Obj
	if d.Allowed {
		r := &prule{sub: d.Rule[0], obj: d.Rule[1], act: d.Rule[2], cond: d.Rule[3]}
		return d, "allowed: " + describeGrant(r, e.requestPath(&req, r.sub), req.Sub)
	}
	rules := e.candidates(req.Obj, req.Act)
	if len(rules) == 0 {
		return d, "denied: no rule grants " + action + " to anyone"
	}
	var buf [64]string
	subs := e.closure(req.Sub, req.Groups, buf[:0])
	var reasons, grantees []string
	for _, r := range rules {
		grantees = appendOnce(grantees, r.sub+condSuffix(r.cond))
		if !slices.Contains(subs, r.sub) {
			continue
		}
		via := ""
		if r.sub != req.Sub {
			via = " (as " + strings.Join(e.requestPath(&req, r.sub), " -> ") + ")"
		}
		switch r.cond {
		case CondOwner:
			owner := "the resource has no owner on this route"
			if req.Owner != "" {
				owner = "the owner is " + req.Owner
			}
			reasons = append(reasons, r.sub+via+" may "+action+" only as owner, and "+owner)
		case CondMFA, CondTOTP:
			reasons = append(reasons, r.sub+via+" may "+action+" only with a proven second factor")
		}
	}
	if len(reasons) > 0 {
		return d, "denied: " + strings.Join(reasons, "; ")
	}
	return d, "denied: no rule grants " + req.Sub + " " + action + "; it is granted to " + strings.Join(grantees, ", ")
}

func condSuffix(cond string) string {
	switch cond {
	case CondOwner:
		return " (owner only)"
	case CondMFA:
		return " (with second factor, if enrolled)"
	case CondTOTP:
		return " (with second factor)"
	}
	return ""
}

func describeGrant(r *prule, chain []string, sub string) string {
	s := "rule p, " + strings.Join(r.values(), ", ") + " grants " + r.act + " on " + r.obj + " to " + r.sub
	if len(chain) > 1 {
		s += ", and " + strings.Join(chain, " -> ")
	} else if sub != r.sub {
		s += ", and " + sub + " reaches it"
	}
	switch r.cond {
	case CondOwner:
		s += "; the caller owns the resource"
	case CondMFA, CondTOTP:
		s += "; the second factor holds"
	}
	return s
}
