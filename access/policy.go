package access

import (
	"context"
	"errors"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// The policy. Every change is checked against the model, committed with its
// audit record, and visible to the next request; rules keep their store id
// for their whole life.

// targetPolicy is the audit target of changes to the policy as a whole.
const targetPolicy = "policy"

// maxAuditedRules bounds the rules an import lists in its audit record;
// the counts are always whole.
const maxAuditedRules = 100

// RuleView is r as the API shows it.
func RuleView(r store.Rule) api.Rule {
	return api.Rule{ID: store.FormatID(r.ID), Type: r.Type, Rule: r.Values}
}

// RuleViews are rules as the API shows them.
func RuleViews(rules []store.Rule) []api.Rule {
	out := make([]api.Rule, len(rules))
	for i, r := range rules {
		out[i] = RuleView(r)
	}
	return out
}

func ruleTarget(id uint64) string { return "rule:" + store.FormatID(id) }

// ErrRuleExists refuses a rule the policy holds already.
var ErrRuleExists = &Error{Kind: Conflict, Message: "the policy has this rule already"}

// AddRule adds one rule, checked against the model (an *rbac.
// ValidationError names the problem of each value), creating the groups it
// names.
func (s *Service) AddRule(ctx context.Context, who Actor, typ string, values []string) (api.Rule, error) {
	var out api.Rule
	err := s.mutate(ctx, func(tx store.Tx) error {
		if err := rbac.CheckUsers(tx, values); err != nil {
			return err
		}
		r, err := s.authz.AddRule(tx, typ, values)
		if errors.Is(err, store.ErrConflict) {
			return ErrRuleExists
		} else if err != nil {
			return err
		}
		out = RuleView(r)
		return Record(tx, who, "policy.add", ruleTarget(r.ID), nil, out)
	})
	return out, err
}

// RemoveRule removes the rule with id.
func (s *Service) RemoveRule(ctx context.Context, who Actor, id uint64) error {
	return s.mutate(ctx, func(tx store.Tx) error {
		r, err := tx.Rules().Remove(id)
		if err != nil {
			return err
		}
		return Record(tx, who, "policy.remove", ruleTarget(id), RuleView(r), nil)
	})
}

// Import says how ImportPolicy imports.
type Import struct {
	// Replace removes the rules that are not among those imported.
	Replace bool
	// Force imports even a policy after which no enabled admin could sign
	// in and manage it: for an operator repairing a policy offline.
	Force bool
}

// ImportPolicy adds rules (parsed and checked by rbac.ParseCSV), whole or
// not at all; with Replace it also removes the rules not among them. Rules
// in both keep their ids. An import that changes nothing is not recorded.
func (s *Service) ImportPolicy(ctx context.Context, who Actor, rules []rbac.CSVRule, how Import) (rbac.ImportResult, error) {
	var res rbac.ImportResult
	mutate := s.mutate
	if how.Force && s.authz != nil {
		mutate = s.authz.MutateUnguarded
	}
	replace := how.Replace
	err := mutate(ctx, func(tx store.Tx) error {
		var err error
		if res, err = s.authz.Import(tx, rules, replace); err != nil {
			return err
		}
		if len(res.Added) == 0 && len(res.Removed) == 0 {
			return nil
		}
		return Record(tx, who, "policy.import", targetPolicy, nil, importRecord{
			Replace: replace, Added: len(res.Added), Removed: len(res.Removed),
			AddedRules:   RuleViews(res.Added[:min(len(res.Added), maxAuditedRules)]),
			RemovedRules: RuleViews(res.Removed[:min(len(res.Removed), maxAuditedRules)]),
		})
	})
	return res, err
}

// importRecord is an import in the audit log: the counts, and the rules
// added and removed up to maxAuditedRules of each.
type importRecord struct {
	Replace      bool       `json:"replace"`
	Added        int        `json:"added"`
	Removed      int        `json:"removed"`
	AddedRules   []api.Rule `json:"added_rules"`
	RemovedRules []api.Rule `json:"removed_rules"`
}
