package rbac

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/persist"
)

// Expected outcomes in a decisions file.
const (
	ExpectAllow  = "allow"
	ExpectDeny   = "deny"
	ExpectStepUp = "stepup" // denied, but allowed with a proven second factor
)

// Decision file: the executable promises of a policy. Each line is either a
// rule to add for the run ("g, user:1, role:user"), or a decision:
//
//	subject, object, action, owner, expected[, mfa]
//
// owner is "-" for none; expected is allow, deny or stepup; mfa is none
// (default), missing or verified.

// Case is one expected decision of a decisions file.
type Case struct {
	Line     int
	Request  Request
	Expected string
}

// DecisionFile is a parsed decisions file.
type DecisionFile struct {
	Rules []CSVRule
	Cases []Case
}

// ParseDecisions reads a decisions file, checking its rules against m.
func ParseDecisions(r io.Reader, m *Model) (*DecisionFile, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	df := &DecisionFile{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return df, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decisions: %w", err)
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if m.Arity(rec[0]) > 0 {
			if p := m.ValidateRule(rec[0], rec[1:]); p != nil {
				return nil, fmt.Errorf("decisions: line %d: %w", line, &ValidationError{Details: p})
			}
			df.Rules = append(df.Rules, CSVRule{Line: line, Type: rec[0], Values: rec[1:]})
			continue
		}
		if len(rec) != 5 && len(rec) != 6 {
			return nil, fmt.Errorf("decisions: line %d: want subject, object, action, owner, expected[, mfa], got %d fields", line, len(rec))
		}
		c := Case{Line: line, Request: Request{Sub: rec[0], Obj: rec[1], Act: rec[2], Owner: rec[3], MFA: MFANone}, Expected: rec[4]}
		if c.Request.Owner == "-" {
			c.Request.Owner = ""
		}
		if len(rec) == 6 {
			c.Request.MFA = rec[5]
		}
		switch {
		case c.Request.Sub == "" || c.Request.Obj == "" || c.Request.Act == "":
			return nil, fmt.Errorf("decisions: line %d: subject, object and action must not be empty", line)
		case c.Expected != ExpectAllow && c.Expected != ExpectDeny && c.Expected != ExpectStepUp:
			return nil, fmt.Errorf("decisions: line %d: expected must be allow, deny or stepup, got %q", line, c.Expected)
		case c.Request.MFA != MFANone && c.Request.MFA != MFAMissing && c.Request.MFA != MFAVerified:
			return nil, fmt.Errorf("decisions: line %d: mfa must be none, missing or verified, got %q", line, c.Request.MFA)
		}
		df.Cases = append(df.Cases, c)
	}
}

// Mismatch is a case whose decision differs from the expected one.
type Mismatch struct {
	Case        Case
	Got         string
	Explanation string
}

func (m Mismatch) String() string {
	r := m.Case.Request
	owner := r.Owner
	if owner == "" {
		owner = "-"
	}
	return fmt.Sprintf("line %d: %s %s %s (owner %s, mfa %s): expected %s, got %s: %s",
		m.Case.Line, r.Sub, r.Act, r.Obj, owner, r.MFA, m.Case.Expected, m.Got, m.Explanation)
}

// Outcome names a decision as a decisions file does.
func Outcome(d Decision) string {
	switch {
	case d.Allowed:
		return ExpectAllow
	case d.StepUp:
		return ExpectStepUp
	}
	return ExpectDeny
}

// NewMemory returns an authorizer over rules held in memory only, for
// offline checks: decisions files, the route inventory. It cannot Mutate.
func NewMemory(m *Model, rules []CSVRule) (*Authorizer, error) {
	a := &Authorizer{model: m, eng: newEngine()}
	if !m.compiled {
		enf, err := casbin.NewSyncedEnforcer(m.casbin)
		if err != nil {
			return nil, fmt.Errorf("rbac: casbin: %w", err)
		}
		a.enf = enf
	}
	for i, r := range rules {
		a.eng.apply(true, uint64(i+1), r.Type, r.Values)
		if a.enf != nil {
			if err := persist.LoadPolicyArray(append([]string{r.Type}, r.Values...), a.enf.GetModel()); err != nil {
				return nil, err
			}
		}
	}
	a.eng.reindex()
	if a.enf != nil {
		if err := a.enf.BuildRoleLinks(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Run checks every case of df against a and returns the mismatches.
func (df *DecisionFile) Run(a *Authorizer) []Mismatch {
	var out []Mismatch
	for _, c := range df.Cases {
		d, why := a.Explain(c.Request)
		if got := Outcome(d); got != c.Expected {
			out = append(out, Mismatch{Case: c, Got: got, Explanation: why})
		}
	}
	return out
}
