package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// headerRule is a header every answer of gatehouse carries, with what its
// value must be.
type headerRule struct {
	name string
	// ok judges a value; want says what it must be, for evidence.
	ok   func(string) bool
	want string
	// httpsOnly rules are checked only over HTTPS.
	httpsOnly bool
}

func equalFold(want string) func(string) bool {
	return func(v string) bool { return strings.EqualFold(strings.TrimSpace(v), want) }
}

func containsAll(parts ...string) func(string) bool {
	return func(v string) bool {
		v = strings.ToLower(v)
		for _, p := range parts {
			if !strings.Contains(v, p) {
				return false
			}
		}
		return true
	}
}

func isInt(v string) bool {
	_, err := strconv.ParseInt(v, 10, 64)
	return err == nil
}

// hstsMaxAge matches a positive max-age.
var hstsMaxAge = regexp.MustCompile(`(?i)max-age=0*[1-9][0-9]*`)

// headerRules are the headers of README's "Defenses at the boundary".
var headerRules = []headerRule{
	{name: "X-Content-Type-Options", ok: equalFold("nosniff"), want: "nosniff"},
	{name: "Content-Security-Policy", ok: containsAll("default-src 'none'", "frame-ancestors 'none'"), want: "default-src 'none'; frame-ancestors 'none'"},
	{name: "X-Frame-Options", ok: equalFold("DENY"), want: "DENY"},
	{name: "Referrer-Policy", ok: equalFold("no-referrer"), want: "no-referrer"},
	{name: "Cross-Origin-Resource-Policy", ok: equalFold("same-origin"), want: "same-origin"},
	{name: "Cache-Control", ok: containsAll("no-store"), want: "no-store"},
	{name: "X-Request-Id", ok: func(v string) bool { return v != "" }, want: "an id"},
	{name: "X-RateLimit-Limit", ok: isInt, want: "a number"},
	{name: "X-RateLimit-Remaining", ok: isInt, want: "a number"},
	{name: "X-RateLimit-Reset", ok: isInt, want: "a Unix time"},
	{name: "Strict-Transport-Security", ok: hstsMaxAge.MatchString, want: "max-age > 0", httpsOnly: true},
}

// checkHeaders checks each header rule on every answer of gatehouse, and
// that request ids are not repeated (a cache in front would repeat them).
func (s *scanner) checkHeaders() {
	answers := s.appAnswers()
	for _, rule := range headerRules {
		name := "header " + rule.name
		if rule.httpsOnly && !s.https {
			s.add(name, Skip, "plain HTTP: required over HTTPS only")
			continue
		}
		var bad []string
		for _, e := range answers {
			v := e.header.Get(rule.name)
			if rule.ok(v) {
				continue
			}
			if v == "" {
				bad = append(bad, e.label()+" ("+strconv.Itoa(e.status)+"): missing")
			} else {
				bad = append(bad, fmt.Sprintf("%s (%d): %q", e.label(), e.status, v))
			}
		}
		if len(bad) > 0 {
			s.add(name, Fail, fmt.Sprintf("wrong on %d of %d answers (must be %s), e.g. %s", len(bad), len(answers), rule.want, strings.Join(first(bad, 3), "; ")))
			continue
		}
		s.add(name, Pass, fmt.Sprintf("on all %d answers", len(answers)))
	}
	ids := map[string]string{}
	for _, e := range answers {
		id := e.header.Get("X-Request-Id")
		if id == "" {
			continue
		}
		if prev, dup := ids[id]; dup {
			s.add("request ids are unique", Fail, fmt.Sprintf("%s and %s both answered X-Request-Id %s: a cache in front of gatehouse?", prev, e.label(), id))
			return
		}
		ids[id] = e.label()
	}
	s.add("request ids are unique", Pass, fmt.Sprintf("%d distinct ids", len(ids)))
}

func first(xs []string, n int) []string {
	if len(xs) > n {
		return append(xs[:n:n], fmt.Sprintf("and %d more", len(xs)-n))
	}
	return xs
}

// errorBody is the documented body of an error answer.
type errorBody struct {
	Code      string            `json:"error"`
	Message   string            `json:"message"`
	RequestID string            `json:"request_id"`
	Details   map[string]string `json:"details"`
}

// parseErrorBody decodes b as the documented error body: a JSON object of
// error, message, request_id and details, nothing else.
func parseErrorBody(b []byte) (errorBody, bool) {
	var out errorBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil || out.Code == "" {
		return errorBody{}, false
	}
	return out, true
}

// codesByStatus are the error codes of the error contract.
var codesByStatus = map[int][]string{
	400: {"invalid_json", "invalid_input"},
	401: {"unauthorized", "invalid_credentials", "mfa_required"},
	403: {"forbidden", "csrf_failed", "mfa_required"},
	404: {"not_found"},
	405: {"method_not_allowed"},
	409: {"conflict"},
	412: {"precondition_failed"},
	413: {"payload_too_large"},
	415: {"unsupported_media_type"},
	429: {"rate_limited"},
	500: {"internal"},
	501: {"not_implemented"},
	503: {"unavailable"},
}

// leaks are what no answer may hold: a stack trace, Go error text, a file
// path, a database message.
var leaks = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a stack trace", regexp.MustCompile(`goroutine \d+ \[|panic: |runtime error|\.go:\d+`)},
	{"a file path", regexp.MustCompile(`(^|[\s"'=(])/(home|root|usr|var|etc|tmp|opt|srv|proc|go)/|[A-Za-z]:\\\\`)},
	{"Go error text", regexp.MustCompile(`invalid character '|unexpected EOF|json: cannot|strconv\.|no such file or directory|connection refused|context deadline exceeded|context canceled|nil pointer|index out of range|http: |x509: `)},
	{"a database message", regexp.MustCompile(`(?i)bolt|\bSQLSTATE\b|pq: |pgx|redis: `)},
}

// leakIn names what b leaks, or "".
func leakIn(b []byte) string {
	for _, l := range leaks {
		if m := l.re.Find(b); m != nil {
			return fmt.Sprintf("holds %s (%q)", l.what, m)
		}
	}
	return ""
}

// errorBodyProblem says what is wrong with an error answer's body, or "":
// it must be the documented JSON with a code of its status and the request
// id of its header, and leak nothing of the server's insides.
func errorBodyProblem(e *exchange) string {
	if e.status < 400 || e.method == http.MethodHead {
		return ""
	}
	if leak := leakIn(e.body); leak != "" {
		return "the body " + leak
	}
	b, ok := parseErrorBody(e.body)
	if !ok {
		return "the body is not the documented error JSON" + excerpt(e.body)
	}
	codes, known := codesByStatus[e.status]
	if !known || !contains(codes, b.Code) {
		return fmt.Sprintf("error %q is not a code of status %d", b.Code, e.status)
	}
	if id := e.header.Get("X-Request-Id"); b.RequestID == "" || (id != "" && b.RequestID != id) {
		return fmt.Sprintf("request_id %q differs from X-Request-Id %q", b.RequestID, id)
	}
	return ""
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// checkErrorBodies checks the body of every answer of gatehouse.
func (s *scanner) checkErrorBodies() {
	answers := s.appAnswers()
	var bad []string
	errs := 0
	for _, e := range answers {
		if e.status >= 400 {
			errs++
		}
		if p := errorBodyProblem(e); p != "" {
			bad = append(bad, e.label()+" ("+strconv.Itoa(e.status)+"): "+p)
		}
	}
	const name = "error answers: documented JSON, nothing internal"
	if len(bad) > 0 {
		s.add(name, Fail, fmt.Sprintf("%d answers: %s", len(bad), strings.Join(first(bad, 3), "; ")))
		return
	}
	s.add(name, Pass, fmt.Sprintf("%d error answers of %d", errs, len(answers)))
}
