package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/labstack/echo/v4"
)

func TestRequestBodyLimits(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.BodyLimit = 4 << 10 })
	_, secret := mustUser(t, ls.srv, "writer@example.com", "user")
	auth := []string{bearer(secret)}
	post := func(body string, headers ...string) answer {
		return ls.do(t, request{method: http.MethodPost, path: "/api/notes", body: body, headers: append(headers, auth...)})
	}
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"over the body limit", `{"title":"` + strings.Repeat("a", 5<<10) + `"}`, http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge},
		{"too deep", `{"title":` + deep + `}`, http.StatusBadRequest, api.CodeInvalidJSON},
		{"deep in an unknown field", `{"x":` + deep + `}`, http.StatusBadRequest, api.CodeInvalidJSON},
		{"wrong type", `{"title":5}`, http.StatusBadRequest, api.CodeInvalidInput},
		{"unknown field", `{"title":"t","owner_id":"1"}`, http.StatusBadRequest, api.CodeInvalidInput},
		{"two values", `{"title":"t"}{"title":"u"}`, http.StatusBadRequest, api.CodeInvalidJSON},
		{"not JSON", `title=t`, http.StatusBadRequest, api.CodeInvalidJSON},
		{"empty object", `{}`, http.StatusBadRequest, api.CodeInvalidInput},
		{"title too long", `{"title":"` + strings.Repeat("é", 201) + `"}`, http.StatusBadRequest, api.CodeInvalidInput},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := post(tc.body)
			wantError(t, a, tc.status, tc.code)
			wantNoGoText(t, a)
		})
	}
	t.Run("wrong type names JSON's type", func(t *testing.T) {
		a := post(`{"title":["t"]}`)
		if a.err.Details["title"] != "must be a string" {
			t.Fatalf("details %v", a.err.Details)
		}
	})
	t.Run("not application/json", func(t *testing.T) {
		a := ls.do(t, request{method: http.MethodPost, path: "/api/notes", headers: append([]string{"Content-Type: text/plain"}, auth...)})
		wantError(t, a, http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType)
	})
	t.Run("chunked body over the limit", func(t *testing.T) {
		body := io.MultiReader(strings.NewReader(`{"title":"`), strings.NewReader(strings.Repeat("a", 1<<20)), strings.NewReader(`"}`))
		req, _ := http.NewRequest(http.MethodPost, ls.url+"/api/notes", body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := ls.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 {
			t.Fatalf("status %d, content length %d", resp.StatusCode, req.ContentLength)
		}
	})
	t.Run("within limits", func(t *testing.T) {
		wantStatus(t, post(`{"title":"t","body":"`+strings.Repeat("b", 3<<10)+`"}`), http.StatusCreated)
	})
}

func TestLongStringsAreRefusedBeforeDecoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"title":"` + strings.Repeat("a", maxJSONString) + `"}`, true},
		{`{"title":"` + strings.Repeat("a", maxJSONString+1) + `"}`, false},
		{`{"title":"` + strings.Repeat(`\u00e9`, maxJSONString) + `"}`, true},
		{`{"title":"` + strings.Repeat("é", maxJSONString) + `"}`, true},
		{`{"` + strings.Repeat("k", maxJSONString+1) + `":1}`, false},
	} {
		var in api.NoteInput
		err := decodeStrict(strings.NewReader(tc.body), &in)
		refused := err != nil && strings.Contains(err.Error(), "longer than")
		if refused == tc.ok {
			t.Errorf("body of %d bytes: err %v, want refused %v", len(tc.body), err, !tc.ok)
		}
	}
}

func TestListLimitIsCapped(t *testing.T) {
	t.Parallel()
	srv, _, _ := newBareServer(t, nil)
	_, secret := mustUser(t, srv, "lister@example.com", "user")
	for _, q := range []string{"limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1e2", "limit=99999999999999999999", "cursor=!!", "cursor=" + strings.Repeat("A", 300)} {
		a := serveDirect(t, srv, http.MethodGet, "/api/notes?"+q, bearer(secret))
		if a.status != http.StatusBadRequest || a.err.Code != api.CodeInvalidInput {
			t.Errorf("%s: %d %s", q, a.status, a.body)
		}
	}
	for _, q := range []string{"limit=1", "limit=100", ""} {
		if a := serveDirect(t, srv, http.MethodGet, "/api/notes?"+q, bearer(secret)); a.status != http.StatusOK {
			t.Errorf("%s: %d %s", q, a.status, a.body)
		}
	}
}

// Every route with a path parameter answers 400 or 404 to ids that cannot
// exist, never 500 (bbolt refuses empty and over-long keys with an error).
func TestMalformedPathIDs(t *testing.T) {
	t.Parallel()
	srv, _, _ := newBareServer(t, nil)
	_, admin := mustUser(t, srv, "admin@example.com", "admin")
	bad := []string{
		"", "0", "00", "-1", "+1", "1.5", "0x10", "abc", "%00", "1%00", "%00%00", "%2e%2e", "..%2F..%2Fetc",
		"%ff%fe", "%EF%BC%91", "%201", "1%20", "18446744073709551616", "99999999999999999999999",
		strings.Repeat("9", 1000), strings.Repeat("a", 5000), strings.Repeat("%00", 300),
	}
	param := regexp.MustCompile(`:[a-z_]+`)
	tested := 0
	for _, r := range srv.routes {
		if !strings.Contains(r.path, ":") {
			continue
		}
		for _, id := range bad {
			path := param.ReplaceAllLiteralString(r.path, id)
			req := httptest.NewRequest(r.method, "http://gatehouse"+path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+admin)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest && rec.Code != http.StatusNotFound {
				t.Errorf("%s %s: %d %s", r.method, path, rec.Code, rec.Body)
			}
			tested++
		}
	}
	if tested == 0 {
		t.Fatal("no route with a parameter")
	}
}

// goText matches what Go error text and internals look like.
var goText = regexp.MustCompile(`(?i)(json: |bolt|bbolt|\.go:|goroutine|panic|runtime\.|\*string|\[\]string|struct field|unexpected EOF|database|/root/|/home/)`)

func wantNoGoText(t *testing.T, a answer) {
	t.Helper()
	if m := goText.FindString(string(a.body)); m != "" {
		t.Fatalf("answer shows %q: %s", m, a.body)
	}
}

func TestInternalErrorsShowNothing(t *testing.T) {
	t.Parallel()
	srv, db, logs := newBareServer(t, nil)
	_, secret := mustUser(t, srv, "user@example.com", "user")

	t.Run("a database error", func(t *testing.T) {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		a := serveDirect(t, srv, http.MethodGet, "/api/auth/me", bearer(secret))
		if a.status != http.StatusInternalServerError || a.err.Code != api.CodeInternal || a.err.RequestID == "" {
			t.Fatalf("%d %s", a.status, a.body)
		}
		wantNoGoText(t, a)
		// The cause is in the log, under the request id.
		if logs.count(`"request failed"`, a.err.RequestID, "database not open") != 1 {
			t.Fatalf("log:\n%s", logs)
		}
	})
	t.Run("a panic", func(t *testing.T) {
		rec := httptest.NewRecorder()
		c := srv.echo.NewContext(httptest.NewRequest(http.MethodGet, "/api/x", nil), rec)
		h := srv.assignRequestID(srv.recoverPanic(func(c echo.Context) error {
			panic("secret detail in /home/me/app/notes.go:12")
		}))
		srv.handleError(h(c), c)
		a := answer{status: rec.Code, body: rec.Body.Bytes()}
		if a.status != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), api.CodeInternal) {
			t.Fatalf("%d %s", a.status, a.body)
		}
		wantNoGoText(t, a)
		if strings.Contains(rec.Body.String(), "secret detail") || logs.count("secret detail", "goroutine") != 1 {
			t.Fatalf("body %s\nlog:\n%s", rec.Body, logs)
		}
	})
}
