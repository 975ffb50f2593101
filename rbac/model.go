// Package rbac decides who may do what. The rules are a Casbin model
// (model.conf) and policy (p and g rules) that people read and edit; the
// policy is stored through the storage contract of package store.
//
// Decisions on the shipped model are made by a compiled engine that gives
// exactly Casbin's answers (a test holds it to that) in O(1) of the number
// of users and links: rules are indexed by route, and a caller's roles are
// found by walking their few links. A model edited beyond what the engine
// understands is enforced by Casbin itself.
package rbac

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/util"
)

// Subjects and values the shipped model gives meaning to.
const (
	Anonymous = "anonymous"
	RoleAdmin = "role:admin"
	RoleUser  = "role:user"

	CondAny   = "*"
	CondOwner = "owner"
	CondMFA   = "mfa"
	CondTOTP  = "totp"

	MFANone     = "none"     // the user has no second factor
	MFAMissing  = "missing"  // enrolled, not proven by this credential
	MFAVerified = "verified" // proven at sign-in
)

// shippedMatcher is the matcher the compiled engine implements. A model
// whose definitions differ is enforced by Casbin's own Enforce.
const shippedMatcher = `g(r.sub, p.sub) && keyMatch(r.obj, p.obj) && (p.act == "*" || r.act == p.act) && (p.cond == "*" || p.cond == "owner" && r.owner == r.sub || p.cond == "mfa" && r.mfa != "missing" || p.cond == "totp" && r.mfa == "verified")`

// Model is a parsed Casbin model.
type Model struct {
	casbin model.Model
	text   string
	// compiled says the model is the shipped one, which the engine decides.
	compiled bool
}

// LoadModel reads and checks a Casbin model file.
func LoadModel(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rbac: model: %w", err)
	}
	return ParseModel(string(data))
}

// ParseModel parses a Casbin model text and checks that it has what
// gatehouse needs: a request of at least sub, obj, act, a p section, a g
// section and a matcher.
func ParseModel(text string) (*Model, error) {
	m, err := model.NewModelFromString(text)
	if err != nil {
		return nil, fmt.Errorf("rbac: model: %w", err)
	}
	for _, need := range []struct{ sec, key string }{{"r", "r"}, {"p", "p"}, {"g", "g"}, {"e", "e"}, {"m", "m"}} {
		if _, ok := m[need.sec][need.key]; !ok {
			return nil, fmt.Errorf("rbac: model: missing %s definition", need.key)
		}
	}
	if got := m["r"]["r"].Tokens; len(got) < 3 {
		return nil, fmt.Errorf("rbac: model: request needs at least sub, obj, act, has %d fields", len(got))
	}
	if got := m["g"]["g"].Tokens; len(got) != 2 {
		return nil, fmt.Errorf("rbac: model: role definition g must have 2 fields, has %d", len(got))
	}
	return &Model{casbin: m, text: text, compiled: isShipped(m)}, nil
}

// isShipped reports whether m is the model the engine implements. Casbin
// keeps matchers and effects escaped ("r.sub" becomes "r_sub"), so the
// shipped text is escaped the same way before comparing, white space aside.
func isShipped(m model.Model) bool {
	norm := func(s string) string { return util.EscapeAssertion(strings.Join(strings.Fields(s), "")) }
	tokens := func(sec, key string) string { return strings.Join(m[sec][key].Tokens, ",") }
	return norm(m["m"]["m"].Value) == norm(shippedMatcher) &&
		tokens("r", "r") == "r_sub,r_obj,r_act,r_owner,r_mfa" &&
		tokens("p", "p") == "p_sub,p_obj,p_act,p_cond" &&
		norm(m["e"]["e"].Value) == norm("some(where (p.eft == allow))") &&
		len(m["g"]) == 1
}

// Compiled reports whether decisions are made by the compiled engine (true
// for the shipped model) rather than by Casbin's Enforce.
func (m *Model) Compiled() bool { return m.compiled }

// Text is the model as written.
func (m *Model) Text() string { return m.text }

// Sections are the rule types the model defines, "p" then "g".
func (m *Model) Sections() []string { return []string{"p", "g"} }

// Arity is the number of values a rule of type typ has, or 0 if the model
// has no such type.
func (m *Model) Arity(typ string) int {
	if typ == "" {
		return 0
	}
	sec := m.casbin[typ[:1]]
	if sec == nil || (typ[0] != 'p' && typ[0] != 'g') {
		return 0
	}
	a, ok := sec[typ]
	if !ok {
		return 0
	}
	return len(a.Tokens)
}

var (
	subjectPattern = regexp.MustCompile(`^(anonymous|user:[1-9][0-9]{0,19}|group:[a-z0-9][a-z0-9_.-]{0,63}|role:[a-z0-9][a-z0-9_.-]{0,63})$`)
	namePattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
)

// ValidName reports whether s may name a role or a group: lower case
// letters, digits, '_', '.', '-', at most 64.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// maxValueLen bounds each value of a rule.
const maxValueLen = 256

// ErrInvalidRule wraps the problems of a rule that the model refuses.
var ErrInvalidRule = errors.New("invalid rule")

// ValidateRule checks a rule against the model and returns its problems by
// field ("type", "rule", "rule[2]"), or nil when it is sound.
func (m *Model) ValidateRule(typ string, values []string) map[string]string {
	problems := map[string]string{}
	arity := m.Arity(typ)
	if arity == 0 {
		problems["type"] = fmt.Sprintf("unknown rule type %q: the model defines p and g", typ)
		return problems
	}
	if len(values) != arity {
		problems["rule"] = fmt.Sprintf("a %s rule has %d values, got %d", typ, arity, len(values))
		return problems
	}
	for i, v := range values {
		field := fmt.Sprintf("rule[%d]", i)
		switch {
		case strings.TrimSpace(v) == "":
			problems[field] = "must not be empty"
		case len(v) > maxValueLen:
			problems[field] = fmt.Sprintf("longer than %d bytes", maxValueLen)
		case v != strings.TrimSpace(v):
			problems[field] = "must not start or end with white space"
		case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			problems[field] = "must not contain control characters"
		}
	}
	if len(problems) > 0 || !m.compiled {
		return nilIfEmpty(problems)
	}
	// The shipped model gives each value a meaning; check it.
	switch typ {
	case "p":
		if !subjectPattern.MatchString(values[0]) {
			problems["rule[0]"] = "subject must be anonymous, user:<id>, group:<name> or role:<name>"
		}
		if obj := values[1]; obj != "*" && !strings.HasPrefix(obj, "/") {
			problems["rule[1]"] = "object must be a route template starting with / (a trailing * matches a prefix)"
		}
		if !validAction(values[2]) {
			problems["rule[2]"] = "action must be * or an HTTP method in capitals"
		}
		switch values[3] {
		case CondAny, CondOwner, CondMFA, CondTOTP:
		default:
			problems["rule[3]"] = "condition must be *, owner, mfa or totp"
		}
	case "g":
		if !subjectPattern.MatchString(values[0]) || values[0] == Anonymous {
			problems["rule[0]"] = "member must be user:<id>, group:<name> or role:<name>"
		}
		if !subjectPattern.MatchString(values[1]) || strings.HasPrefix(values[1], "user:") {
			problems["rule[1]"] = "must be group:<name>, role:<name> or anonymous"
		}
		if values[0] == values[1] {
			problems["rule[1]"] = "a subject cannot be linked to itself"
		}
	}
	return nilIfEmpty(problems)
}

func validAction(a string) bool {
	switch a {
	case "*", http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
