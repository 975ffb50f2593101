package app

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Admin: policies. Every rule is listed with its store id, which stays the
// same for the life of the rule. Changes are operations of the access
// service: checked against the model, committed with their audit record,
// visible to the next request.

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
	err = s.db.View(c.Request().Context(), func(tx store.Tx) error {
		rules, next, err = filteredPage(tx.Rules().List, func(r store.Rule) bool {
			return q == "" || strings.Contains(strings.ToLower(r.Type+", "+strings.Join(r.Values, ", ")), q)
		}, p)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.List[api.Rule]{Items: access.RuleViews(rules), NextCursor: next, Total: knownTotal(p, len(rules), next)})
}

// handlePolicyAdd adds one rule, checked against the model: a rule the
// model refuses is 400 with the problem of each value, a rule the policy
// holds already 409.
func (s *Server) handlePolicyAdd(c echo.Context) error {
	var in api.RuleInput
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	out, err := s.access.AddRule(c.Request().Context(), s.actorOf(c), in.Type, in.Rule)
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
	if err := s.access.RemoveRule(c.Request().Context(), s.actorOf(c), id); err != nil {
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
	groups, problem := requestGroups(in.Groups)
	if problem != "" {
		problems["groups"] = problem
	}
	if len(problems) > 0 {
		return invalidInput(problems)
	}
	obj, prefix := in.Object, ""
	if tmpl, ok := s.routeTemplate(in.Action, in.Object); ok && tmpl != in.Object {
		obj, prefix = tmpl, in.Object+" is the route "+tmpl+"; "
	}
	d, why := s.authz.Explain(rbac.Request{Sub: in.Subject, Obj: obj, Act: in.Action, Owner: in.Owner, MFA: in.MFA, Groups: groups})
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
	res, err := s.access.ImportPolicy(c.Request().Context(), s.actorOf(c), rules, access.Import{Replace: in.Replace})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.PolicyImportResult{Added: len(res.Added), Removed: len(res.Removed)})
}

// handlePolicyExport writes the policy as CSV, in the format of policy.csv.
// Imported with replace, it changes nothing.
func (s *Server) handlePolicyExport(c echo.Context) error {
	var buf bytes.Buffer
	// Written to memory first: the read transaction must not wait on a
	// slow client.
	err := s.db.View(c.Request().Context(), func(tx store.Tx) error { return rbac.WriteCSV(&buf, tx) })
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="policy.csv"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}
