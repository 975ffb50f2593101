package app

import (
	"bytes"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Admin: policies. Every rule is listed with its store id, which stays the
// same for the life of the rule. Changes go through authz.Mutate: checked
// against the model, committed with their audit record, visible to the next
// request.

// maxAuditedRules bounds the rules an import lists in its audit record;
// the counts are always whole.
const maxAuditedRules = 100

func apiRule(r store.Rule) api.Rule {
	return api.Rule{ID: store.FormatID(r.ID), Type: r.Type, Rule: r.Values}
}

func apiRules(rules []store.Rule) []api.Rule {
	out := make([]api.Rule, len(rules))
	for i, r := range rules {
		out[i] = apiRule(r)
	}
	return out
}

func ruleTarget(id uint64) string { return "rule:" + store.FormatID(id) }

// handlePolicyList lists every rule in the order it was added; ?q= keeps
// those whose policy.csv line contains it, ignoring case.
func (s *Server) handlePolicyList(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	q, err := searchParam(c)
	if err != nil {
		return err
	}
	var rules []store.Rule
	var next string
	err = s.db.View(c.Request().Context(), func(tx *store.Tx) error {
		rules, next, err = filteredPage(tx.ListRules, func(r store.Rule) bool {
			return q == "" || strings.Contains(strings.ToLower(r.Type+", "+strings.Join(r.Values, ", ")), q)
		}, p)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.List[api.Rule]{Items: apiRules(rules), NextCursor: next, Total: knownTotal(p, len(rules), next)})
}

// handlePolicyAdd adds one rule, checked against the model: a rule the
// model refuses is 400 with the problem of each value, a rule the policy
// holds already 409.
func (s *Server) handlePolicyAdd(c echo.Context) error {
	var in api.RuleInput
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	var out api.Rule
	err := s.authz.Mutate(c.Request().Context(), func(tx *store.Tx) error {
		if err := rbac.CheckUsers(tx, in.Rule); err != nil {
			return err
		}
		r, err := s.authz.AddRule(tx, in.Type, in.Rule)
		if errors.Is(err, store.ErrConflict) {
			return apiError(http.StatusConflict, api.CodeConflict, "the policy has this rule already")
		} else if err != nil {
			return err
		}
		out = apiRule(r)
		return s.audit(c, tx, "policy.add", ruleTarget(r.ID), nil, out)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// handlePolicyRemove removes one rule by id.
func (s *Server) handlePolicyRemove(c echo.Context) error {
	id, err := store.ParseID(c.Param("id"))
	if err != nil {
		return errNotFound
	}
	err = s.authz.Mutate(c.Request().Context(), func(tx *store.Tx) error {
		r, err := tx.RemoveRule(id)
		if err != nil {
			return err
		}
		return s.audit(c, tx, "policy.remove", ruleTarget(id), apiRule(r), nil)
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// handlePolicyCheck answers what-if questions: would subject be allowed
// action on object? The object may be a route template or a concrete path
// of a route (/api/notes/7 is decided as /api/notes/:id, as a request
// would be).
func (s *Server) handlePolicyCheck(c echo.Context) error {
	var in api.CheckRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	in.Subject, in.Object = strings.TrimSpace(in.Subject), strings.TrimSpace(in.Object)
	in.Action, in.Owner = strings.ToUpper(strings.TrimSpace(in.Action)), strings.TrimSpace(in.Owner)
	if in.MFA == "" {
		in.MFA = rbac.MFANone
	}
	problems := map[string]string{}
	for field, v := range map[string]string{"subject": in.Subject, "object": in.Object, "action": in.Action} {
		switch {
		case v == "":
			problems[field] = "is required"
		case len(v) > 256:
			problems[field] = "must be at most 256 characters"
		}
	}
	if len(in.Owner) > 256 {
		problems["owner"] = "must be at most 256 characters"
	}
	switch in.MFA {
	case rbac.MFANone, rbac.MFAMissing, rbac.MFAVerified:
	default:
		problems["mfa"] = "must be none, missing or verified"
	}
	if len(problems) > 0 {
		return invalidInput(problems)
	}
	obj, prefix := in.Object, ""
	if tmpl, ok := s.routeTemplate(in.Action, in.Object); ok && tmpl != in.Object {
		obj, prefix = tmpl, in.Object+" is the route "+tmpl+"; "
	}
	d, why := s.authz.Explain(rbac.Request{Sub: in.Subject, Obj: obj, Act: in.Action, Owner: in.Owner, MFA: in.MFA})
	matched := d.Rule
	if matched == nil {
		matched = []string{}
	}
	return c.JSON(http.StatusOK, api.CheckResult{Allowed: d.Allowed, Matched: matched, Explanation: prefix + why})
}

// routeTemplate finds the registered route a request of method on path
// would reach, as Echo's router decides it.
func (s *Server) routeTemplate(method, path string) (string, bool) {
	if !strings.HasPrefix(path, "/") {
		return "", false
	}
	c := s.echo.NewContext(nil, nil)
	s.echo.Router().Find(method, path, c)
	for _, r := range s.routes {
		if r.method == method && r.path == c.Path() {
			return r.path, true
		}
	}
	return "", false
}

// handlePolicyImport imports rules in the CSV format of policy.csv: every
// line is checked first and the file is taken whole or not at all. With
// replace, rules not in the file are removed; rules in both keep their ids.
func (s *Server) handlePolicyImport(c echo.Context) error {
	var in api.PolicyImport
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	rules, err := rbac.ParseCSV(strings.NewReader(in.CSV), s.authz.Model())
	if err != nil {
		return invalidInput(map[string]string{"csv": err.Error()})
	}
	var res rbac.ImportResult
	err = s.authz.Mutate(c.Request().Context(), func(tx *store.Tx) error {
		var err error
		if res, err = s.authz.Import(tx, rules, in.Replace); err != nil {
			return err
		}
		if len(res.Added) == 0 && len(res.Removed) == 0 {
			return nil
		}
		return s.audit(c, tx, "policy.import", targetPolicy, nil, importSummary(res, in.Replace))
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.PolicyImportResult{Added: len(res.Added), Removed: len(res.Removed)})
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

func importSummary(res rbac.ImportResult, replace bool) importRecord {
	return importRecord{
		Replace: replace, Added: len(res.Added), Removed: len(res.Removed),
		AddedRules:   apiRules(res.Added[:min(len(res.Added), maxAuditedRules)]),
		RemovedRules: apiRules(res.Removed[:min(len(res.Removed), maxAuditedRules)]),
	}
}

// ImportRecord is the audit record of an import for the offline tools,
// alike to the one the API writes.
func ImportRecord(res rbac.ImportResult, replace bool) any { return importSummary(res, replace) }

// handlePolicyExport writes the policy as CSV, in the format of policy.csv.
// Imported with replace, it changes nothing.
func (s *Server) handlePolicyExport(c echo.Context) error {
	var buf bytes.Buffer
	// Written to memory first: the read transaction must not wait on a
	// slow client.
	err := s.db.View(c.Request().Context(), func(tx *store.Tx) error { return rbac.WriteCSV(&buf, tx) })
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="policy.csv"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}
