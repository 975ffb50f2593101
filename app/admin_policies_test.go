package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
)

// TestPolicyCSVRoundTrip imports values that need CSV quoting (commas,
// quotes) and gets the very same bytes back from export; a malformed file
// is refused whole and leaves the policy as it was.
func TestPolicyCSVRoundTrip(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	seed := mustExport(t, ts, admin)

	csv := seed +
		`p, role:user, "/api/reports/a,b", GET, *` + "\n" +
		`p, group:ops, "/api/say ""hi"", now", POST, owner` + "\n" +
		"g, group:ops, role:editor\n"
	var res api.PolicyImportResult
	ts.mustCallJSON(t, admin, "POST", "/api/admin/policies/import", api.PolicyImport{CSV: csv, Replace: true}, 200, &res)
	if res != (api.PolicyImportResult{Added: 3}) {
		t.Fatalf("import: %+v, want 3 added", res)
	}
	if got := mustExport(t, ts, admin); got != csv {
		t.Fatalf("export after import differs:\n%s\nwant\n%s", got, csv)
	}
	// The quoted values are single values, and the group they name exists.
	r := mustFindRule(t, ts, admin, "p", "group:ops", `/api/say "hi", now`, "POST", "owner")
	if r.ID == "" {
		t.Fatal("rule without id")
	}
	ts.mustCall(t, admin, "GET", "/api/admin/groups/ops", nil, 200, "")

	// Importing the same file again changes nothing.
	ts.mustCallJSON(t, admin, "POST", "/api/admin/policies/import", api.PolicyImport{CSV: csv, Replace: true}, 200, &res)
	if res != (api.PolicyImportResult{}) {
		t.Fatalf("second import: %+v, want no change", res)
	}

	malformed := []struct{ name, csv string }{
		{"unterminated quote", seed + "p, role:user, \"/api/open, GET, *\n"},
		{"wrong arity mid-file", "p, role:user, /api/fine, GET, *\np, role:user, /api/short\np, role:user, /api/fine2, GET, *\n"},
		{"unknown section", "p, role:user, /api/fine, GET, *\nx, a, b\n"},
		{"bad condition", "p, role:user, /api/fine, GET, sometimes\n"},
	}
	for _, m := range malformed {
		for _, replace := range []bool{false, true} {
			data := ts.mustCall(t, admin, "POST", "/api/admin/policies/import", api.PolicyImport{CSV: m.csv, Replace: replace}, 400, api.CodeInvalidInput)
			if !strings.Contains(string(data), `"csv":"line `) {
				t.Errorf("%s: the details do not name the line: %s", m.name, data)
			}
			if got := mustExport(t, ts, admin); got != csv {
				t.Fatalf("%s (replace %v): policy changed by a refused import:\n%s", m.name, replace, got)
			}
		}
	}

	// Replacing with the seed removes exactly what was added.
	ts.mustCallJSON(t, admin, "POST", "/api/admin/policies/import", api.PolicyImport{CSV: seed, Replace: true}, 200, &res)
	if res != (api.PolicyImportResult{Removed: 3}) {
		t.Fatalf("replace with seed: %+v, want 3 removed", res)
	}
	if got := mustExport(t, ts, admin); got != seed {
		t.Fatalf("export after replace:\n%s\nwant\n%s", got, seed)
	}

	// Export is a CSV download.
	req, _ := http.NewRequest("GET", ts.http.URL+"/api/admin/policies/export", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestPolicyCheck asks what-if questions and reads the answers.
func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	cases := []struct {
		name    string
		in      api.CheckRequest
		allowed bool
		matched string
		says    string
	}{
		{"owner only, not the owner", api.CheckRequest{Subject: "role:user", Object: "/api/notes/:id", Action: "DELETE", Owner: "user:9"},
			false, "[]", "only as owner, and the owner is user:9"},
		{"owner", api.CheckRequest{Subject: "user:9", Object: "/api/notes/:id", Action: "delete", Owner: "user:9"},
			false, "[]", "no rule grants user:9"},
		{"concrete path", api.CheckRequest{Subject: "role:editor", Object: "/api/notes/42", Action: "PATCH"},
			true, "[role:editor /api/notes/:id PATCH *]", "/api/notes/42 is the route /api/notes/:id; allowed"},
		{"admin through a role link", api.CheckRequest{Subject: "role:admin", Object: "/api/admin/backup", Action: "GET"},
			true, "[role:admin /api/admin/backup GET mfa]", "allowed"},
		{"second factor missing", api.CheckRequest{Subject: "role:admin", Object: "/api/admin/policies", Action: "POST", MFA: "missing"},
			false, "[]", "only with a proven second factor"},
		{"auditors", api.CheckRequest{Subject: "group:auditors", Object: "/api/admin/users", Action: "GET"},
			false, "[]", "denied: no rule grants group:auditors GET on /api/admin/users"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var res api.CheckResult
			ts.mustCallJSON(t, admin, "POST", "/api/admin/policies/check", c.in, 200, &res)
			if res.Allowed != c.allowed || fmtRule(res.Matched) != c.matched || !strings.Contains(res.Explanation, c.says) {
				t.Errorf("got %+v, want allowed %v, matched %s, saying %q", res, c.allowed, c.matched, c.says)
			}
		})
	}
}

func fmtRule(r []string) string { return "[" + strings.Join(r, " ") + "]" }
