package scan

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
)

// The judgements of a scan on answers it may meet. The scan of real
// servers, direct and through nginx, is in cmd/gatehouse/scan_test.go.

func TestFillPathActsOnNothing(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"/api/health":    "/api/health",
		"/api/notes/:id": "/api/notes/0",
		"/api/admin/groups/:name/members/:user_id": "/api/admin/groups/gatehouse-scan-0/members/0",
		"/api/things/:thingID":                     "/api/things/0",
		"/files/*":                                 "/files/gatehouse-scan-0",
	}
	for in, want := range tests {
		if got := fillPath(in); got != want {
			t.Errorf("fillPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseBase(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"http://127.0.0.1:8080", "https://api.example.com/", "http://[::1]:8080"} {
		if _, err := parseBase(ok); err != nil {
			t.Errorf("parseBase(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8080", "ftp://x", "https://", "https://api.example.com/api", "https://x?y=1"} {
		if _, err := parseBase(bad); err == nil {
			t.Errorf("parseBase(%q) accepted", bad)
		}
	}
}

func TestTransportWarnsOfPlainHTTPToAnotherHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want Result
	}{
		{"https://api.example.com", Pass},
		{"http://127.0.0.1:8080", Pass},
		{"http://localhost:8080", Pass},
		{"http://[::1]:8080", Pass},
		{"http://api.example.com", Warn},
		{"http://10.0.0.5:8080", Warn},
	}
	for _, tt := range tests {
		base, err := parseBase(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		s := &scanner{base: base, https: base.Scheme == "https"}
		s.checkTransport()
		if got := s.checks[0].Result; got != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.url, got, s.checks[0].Evidence, tt.want)
		}
	}
}

func errAnswer(status int, body string) *exchange {
	h := http.Header{}
	h.Set("X-Request-Id", "abc")
	return &exchange{method: http.MethodGet, path: "/x", status: status, header: h, body: []byte(body)}
}

func TestJudgeRoute(t *testing.T) {
	t.Parallel()
	guarded := api.Route{Method: "GET", Path: "/api/notes"}
	public := api.Route{Method: "POST", Path: "/api/auth/login", Public: true}
	tests := []struct {
		name  string
		route api.Route
		e     *exchange
		want  Result
	}{
		{"guarded 401", guarded, errAnswer(401, `{"error":"unauthorized","message":"m","request_id":"abc"}`), Pass},
		{"guarded open", guarded, errAnswer(200, `{"items":[]}`), Fail},
		{"guarded 403", guarded, errAnswer(403, `{"error":"forbidden","message":"m","request_id":"abc"}`), Fail},
		{"guarded 401 not ours", guarded, errAnswer(401, `<html>401</html>`), Fail},
		{"public 415", public, errAnswer(415, `{"error":"unsupported_media_type","message":"m","request_id":"abc"}`), Pass},
		{"public 200", public, errAnswer(200, `{}`), Pass},
		{"public 401", public, errAnswer(401, `{"error":"unauthorized","message":"m","request_id":"abc"}`), Fail},
		{"public 404", public, errAnswer(404, `{"error":"not_found","message":"m","request_id":"abc"}`), Fail},
		{"public 502", public, errAnswer(502, `bad gateway`), Fail},
		{"public closed", public, errAnswer(403, `{"error":"forbidden","message":"m","request_id":"abc"}`), Warn},
	}
	for _, tt := range tests {
		if got, ev := judgeRoute(tt.route, tt.e); got != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.name, got, ev, tt.want)
		}
	}
}

func TestErrorBodyProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   string // "" or a part of the problem
	}{
		{"documented", 404, `{"error":"not_found","message":"no such route","request_id":"abc"}`, ""},
		{"with details", 400, `{"error":"invalid_input","message":"m","request_id":"abc","details":{"title":"too long"}}`, ""},
		{"success is not judged", 200, `{"name":"usain bolt"}`, ""},
		{"html", 404, `<html><body>404 Not Found</body></html>`, "not the documented error JSON"},
		{"extra field", 500, `{"error":"internal","message":"m","request_id":"abc","trace":"x"}`, "not the documented error JSON"},
		{"wrong code", 404, `{"error":"forbidden","message":"m","request_id":"abc"}`, "not a code of status 404"},
		{"other id", 404, `{"error":"not_found","message":"m","request_id":"zzz"}`, "differs from X-Request-Id"},
		{"stack", 500, `{"error":"internal","message":"panic: boom\ngoroutine 7 [running]:","request_id":"abc"}`, "a stack trace"},
		{"source line", 500, `{"error":"internal","message":"at handler.go:42","request_id":"abc"}`, "a stack trace"},
		{"path", 500, `{"error":"internal","message":"open /var/lib/gatehouse/data.db: denied","request_id":"abc"}`, "a file path"},
		{"go text", 400, `{"error":"invalid_json","message":"invalid character 'x' looking for beginning of value","request_id":"abc"}`, "Go error text"},
		{"database", 503, `{"error":"unavailable","message":"bolt: database not open","request_id":"abc"}`, "a database message"},
	}
	for _, tt := range tests {
		got := errorBodyProblem(errAnswer(tt.status, tt.body))
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestJudgeCookies(t *testing.T) {
	t.Parallel()
	parse := func(lines ...string) []*http.Cookie {
		return parseCookies(http.Header{"Set-Cookie": lines})
	}
	tests := []struct {
		name    string
		cookies []*http.Cookie
		https   bool
		want    Result
		problem string
	}{
		{"gatehouse over https", parse("gatehouse_session=s; Path=/api; HttpOnly; Secure; SameSite=Strict"), true, Pass, ""},
		{"not secure over http", parse("gatehouse_session=s; Path=/api; HttpOnly; SameSite=Lax"), false, Pass, ""},
		{"not secure over https", parse("gatehouse_session=s; Path=/api; HttpOnly; SameSite=Strict"), true, Fail, "not Secure"},
		{"readable session", parse("gatehouse_session=s; Secure; SameSite=Strict"), true, Fail, "not HttpOnly"},
		{"readable csrf token", parse("gatehouse_session=s; HttpOnly; Secure; SameSite=Strict", "gatehouse_csrf=c; Secure; SameSite=Strict"), true, Pass, ""},
		{"no samesite", parse("gatehouse_session=s; HttpOnly; Secure"), true, Fail, "SameSite"},
		{"samesite none", parse("gatehouse_session=s; HttpOnly; Secure; SameSite=None"), true, Fail, "SameSite"},
		{"none", nil, true, Fail, "no cookie"},
	}
	for _, tt := range tests {
		got, ev := judgeCookies(tt.cookies, tt.https)
		if got != tt.want || !strings.Contains(ev, tt.problem) {
			t.Errorf("%s: %s (%s), want %s with %q", tt.name, got, ev, tt.want, tt.problem)
		}
	}
}

// TestRunRefusesAPlanOverItsBudget: the budget is checked before the first
// request, so nothing is sent (the address answers nothing anyway).
func TestRunRefusesAPlanOverItsBudget(t *testing.T) {
	t.Parallel()
	inv := api.RouteInventory{Routes: make([]api.Route, 50)}
	_, err := Run(context.Background(), Options{BaseURL: "http://127.0.0.1:1", Inventory: &inv, Budget: 40})
	if err == nil || !strings.Contains(err.Error(), "budget is 40") {
		t.Fatalf("Run: %v, want the plan refused", err)
	}
}

func TestReportTableKeepsRowsOnOneLine(t *testing.T) {
	t.Parallel()
	r := &Report{Target: "http://x", Inventory: "built-in", Checks: []Check{{Name: "path /", Result: Fail, Evidence: "answered 200 \"a\nb\""}}}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `answered 200 "a\nb"`) || !strings.Contains(b.String(), "1 checks: 0 passed, 1 failed") {
		t.Errorf("table:\n%s", b.String())
	}
}

// TestRunSaysWhenNothingAnswers: no answer at all is an error of the scan,
// not a report.
func TestRunSaysWhenNothingAnswers(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	inv := api.RouteInventory{}
	rep, err := Run(context.Background(), Options{BaseURL: "http://" + addr, Inventory: &inv})
	if !errors.Is(err, ErrUnreachable) || rep != nil {
		t.Fatalf("Run: %v, %v; want ErrUnreachable", rep, err)
	}
}
