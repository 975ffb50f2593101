package scan

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/app/api"
)

// outsidePaths are paths no gatehouse route serves: what proxies add
// (debug and metrics endpoints, a file server), the prefixes above the
// routes, and a path that tries to walk from one rule into another. Each
// must answer 404 or 401 in gatehouse's error JSON.
var outsidePaths = []string{
	"/",
	"/api",
	"/api/admin",
	"/debug/pprof/",
	"/metrics",
	"/.env",
	"/api/notes/1/../../admin/users",
}

// Requests sent by the fixed checks, for the plan.
const (
	corsRequests   = 4
	methodRequests = 3
	signInRequests = 5
)

// fillPath puts a value in each parameter of a route template. Ids get 0,
// which names no record (ids start at 1 and a leading zero is refused),
// names get a name nobody uses: should a route be open that must not be,
// the probe still acts on nothing. Probes send no body either, so a write
// route that is open is refused at decoding.
func fillPath(template string) string {
	parts := strings.Split(template, "/")
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, ":"):
			// id, user_id, noteID
			if strings.HasSuffix(strings.ToLower(p), "id") {
				parts[i] = "0"
			} else {
				parts[i] = "gatehouse-scan-0"
			}
		case p == "*":
			parts[i] = "gatehouse-scan-0"
		}
	}
	return strings.Join(parts, "/")
}

// checkRoutes asks every route of the inventory anonymously. A route no
// rule grants to anonymous must answer 401 unauthorized; a public one must
// answer without refusing or failing.
func (s *scanner) checkRoutes(ctx context.Context) {
	for _, r := range s.o.Inventory.Routes {
		path := fillPath(r.Path)
		access := "guarded"
		if r.Public {
			access = "public"
		}
		name := fmt.Sprintf("route %s %s (%s)", r.Method, r.Path, access)
		e, err := s.send(ctx, r.Method, path, nil)
		if err != nil {
			s.add(name, Fail, "no answer: "+err.Error())
			continue
		}
		res, ev := judgeRoute(r, e)
		s.add(name, res, ev)
	}
}

// judgeRoute decides one route's probe.
func judgeRoute(r api.Route, e *exchange) (Result, string) {
	got := e.label() + " answered " + e.summary()
	if !r.Public {
		if e.status == http.StatusUnauthorized && e.code() == api.CodeUnauthorized {
			return Pass, got
		}
		return Fail, got + "; an anonymous caller must get 401 unauthorized"
	}
	switch {
	case e.status == http.StatusForbidden && e.code() == api.CodeForbidden:
		// Granted by the policy, closed by a setting (registration off).
		return Warn, got + "; the policy grants it to anonymous, the server refuses it (closed by a setting?)"
	case e.status >= 200 && e.status < 300:
		return Pass, got
	case e.status >= 400 && e.status < 500 && !refusedOrMissing(e.status):
		// A body-less probe is refused as input: the route is reachable.
		return Pass, got
	}
	return Fail, got + "; a public route must answer without refusing or failing"
}

// refusedOrMissing are statuses that mean a public route did not reach its
// handler: refused, or not routed at all.
func refusedOrMissing(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusTooManyRequests:
		return true
	}
	return false
}

// checkOutsidePaths asks the paths outside the inventory: each must answer
// 404 or 401 as gatehouse does, in its error JSON, and so leak nothing.
// With a front end (Options.FrontEnd), / is the front end's page, and a
// path outside /api may answer that same page: the single-page app's
// fallback, not a leak. Anything else there is still a finding.
func (s *scanner) checkOutsidePaths(ctx context.Context) {
	var front *exchange
	for _, p := range outsidePaths {
		name := "path " + p
		e, err := s.send(ctx, http.MethodGet, p, nil)
		if err != nil {
			s.add(name, Fail, "no answer: "+err.Error())
			continue
		}
		got := e.label() + " answered " + e.summary()
		underAPI := p == "/api" || strings.HasPrefix(p, "/api/")
		switch {
		case s.o.FrontEnd && p == "/":
			e.outside = true
			if e.status != http.StatusOK {
				s.add(name, Fail, got+excerpt(e.body)+"; the front end's page must answer 200")
				continue
			}
			front = e
			s.add(name, Pass, got+": the front end ("+e.header.Get("Content-Type")+")")
			continue
		case s.o.FrontEnd && !underAPI && front != nil && e.status == http.StatusOK && bytes.Equal(e.body, front.body):
			e.outside = true
			s.add(name, Pass, got+": the front end's page, the same as /")
			continue
		case s.slashRedirect(e):
			// nginx's answer to /api when only /api/ is proxied.
			e.outside = true
			s.add(name, Pass, got+" to "+p+"/: the proxy adds the trailing slash")
			continue
		}
		if e.status != http.StatusNotFound && e.status != http.StatusUnauthorized {
			e.outside = true
			s.add(name, Fail, got+excerpt(e.body)+"; must be 404 or 401: something other than gatehouse answers here")
			continue
		}
		if problem := errorBodyProblem(e); problem != "" {
			e.outside = true
			s.add(name, Fail, got+"; "+problem)
			continue
		}
		s.add(name, Pass, got)
	}
}

// slashRedirect reports whether e is a redirect to its own path with a
// trailing slash, on the same origin.
func (s *scanner) slashRedirect(e *exchange) bool {
	switch e.status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return false
	}
	here, err := url.Parse(s.base.String() + e.path)
	if err != nil {
		return false
	}
	to, err := here.Parse(e.header.Get("Location"))
	if err != nil {
		return false
	}
	// Behind a proxy the Location may name the upstream's port; the
	// path and the host must match.
	return to.Path == e.path+"/" && to.Hostname() == s.base.Hostname() && to.RawQuery == ""
}

// checkCORS sends a foreign origin and the null origin, on a simple request
// and on a preflight: neither may get an Access-Control-Allow-* header.
func (s *scanner) checkCORS(ctx context.Context) {
	for _, origin := range []string{s.o.Origin, "null"} {
		name := "CORS: origin " + origin + " not allowed"
		var problems []string
		read, _ := s.plainGET(true)
		if read == "" {
			read = "/api/health"
		}
		write, method := s.writeRoute()
		probes := []struct {
			method, path string
			header       http.Header
		}{
			{http.MethodGet, read, http.Header{"Origin": {origin}}},
			{http.MethodOptions, write, http.Header{
				"Origin":                         {origin},
				"Access-Control-Request-Method":  {method},
				"Access-Control-Request-Headers": {"authorization, content-type, x-csrf-token"},
			}},
		}
		for _, pr := range probes {
			e, err := s.send(ctx, pr.method, pr.path, &request{header: pr.header})
			if err != nil {
				problems = append(problems, "no answer: "+err.Error())
				continue
			}
			for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
				if v := e.header.Get(h); v != "" {
					problems = append(problems, fmt.Sprintf("%s answered %s: %s", e.label(), h, v))
				}
			}
		}
		if len(problems) > 0 {
			s.add(name, Fail, strings.Join(problems, "; "))
			continue
		}
		s.add(name, Pass, fmt.Sprintf("no Access-Control-Allow-* header on GET %s nor on the preflight of %s %s", read, method, write))
	}
}

// checkCORSHeaders looks at every answer for a wildcard origin, which
// opens the API to every site.
func (s *scanner) checkCORSHeaders() {
	for _, e := range s.seen {
		if v := e.header.Get("Access-Control-Allow-Origin"); v == "*" {
			s.add("CORS: no wildcard origin", Fail, e.label()+" answered Access-Control-Allow-Origin: *")
			return
		}
	}
	s.add("CORS: no wildcard origin", Pass, fmt.Sprintf("none of %d answers allows every origin", len(s.seen)))
}

// checkMethods sends a method no route takes and HEAD requests: the first
// must answer 405 with Allow, HEAD as GET did in the sweep, without a body.
func (s *scanner) checkMethods(ctx context.Context) {
	const name405 = "unknown method answers 405 with Allow"
	public, _ := s.plainGET(true)
	if public == "" {
		public = "/api/health"
	}
	if e, err := s.send(ctx, "SCAN", public, nil); err != nil {
		s.add(name405, Fail, "no answer: "+err.Error())
	} else {
		got := e.label() + " answered " + e.summary()
		allow := e.header.Get("Allow")
		switch {
		case e.status != http.StatusMethodNotAllowed || e.code() != api.CodeMethodNotAllowed:
			s.add(name405, Fail, got+"; must be 405 method_not_allowed")
		case !strings.Contains(allow, http.MethodGet):
			s.add(name405, Fail, got+" with Allow: "+allow+"; must list GET")
		default:
			s.add(name405, Pass, got+", Allow: "+allow)
		}
	}
	// HEAD on a public and on a guarded GET route, compared with what
	// their GET answered in the sweep.
	const nameHEAD = "HEAD answers as GET, without a body"
	var problems, fine []string
	for _, public := range []bool{true, false} {
		path, get := s.plainGET(public)
		if get == nil {
			continue
		}
		e, err := s.send(ctx, http.MethodHead, path, nil)
		if err != nil {
			problems = append(problems, "no answer: "+err.Error())
			continue
		}
		switch {
		case e.status != get.status:
			problems = append(problems, fmt.Sprintf("%s answered %d, GET answers %d", e.label(), e.status, get.status))
		case len(e.body) > 0:
			problems = append(problems, fmt.Sprintf("%s answered with a body of %d bytes", e.label(), len(e.body)))
		default:
			fine = append(fine, fmt.Sprintf("%s answered %d", e.label(), e.status))
		}
	}
	switch {
	case len(problems) > 0:
		s.add(nameHEAD, Fail, strings.Join(problems, "; "))
	case len(fine) == 0:
		s.add(nameHEAD, Skip, "the inventory has no GET route without parameters")
	default:
		s.add(nameHEAD, Pass, strings.Join(fine, ", "))
	}
}

// plainGET is the first GET route without parameters that is public (or
// guarded), and the answer its GET got in the sweep.
func (s *scanner) plainGET(public bool) (string, *exchange) {
	for _, r := range s.o.Inventory.Routes {
		if r.Method != http.MethodGet || r.Public != public || strings.ContainsAny(r.Path, ":*") {
			continue
		}
		for _, e := range s.seen {
			if e.method == http.MethodGet && e.path == r.Path {
				return r.Path, e
			}
		}
		return r.Path, nil
	}
	return "", nil
}

// writeRoute is where CORS preflights are probed: the first route taking
// a write, whose preflight is one a browser would send, with its method.
func (s *scanner) writeRoute() (path, method string) {
	for _, r := range s.o.Inventory.Routes {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			return fillPath(r.Path), r.Method
		}
	}
	return "/api/health", http.MethodPost
}

// appAnswers are the answers gatehouse made: every one but those of outside
// paths that something else answered.
func (s *scanner) appAnswers() []*exchange {
	var out []*exchange
	for _, e := range s.seen {
		if !e.outside {
			out = append(out, e)
		}
	}
	return out
}

// excerpt is the start of a body, for evidence.
func excerpt(b []byte) string {
	t := strings.TrimSpace(string(b))
	if t == "" {
		return ""
	}
	if len(t) > 60 {
		t = t[:60] + "…"
	}
	return fmt.Sprintf(" %q", t)
}
