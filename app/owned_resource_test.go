package app

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// The projects of README's "Add a resource end to end", built as the
// walkthrough says: this declaration is step 1 word for word, its rules
// are read from the README (step 3), and the test below adds its routes as
// step 2 does, so that the walkthrough cannot rot.

type Project struct {
	store.Owned
	Name string `json:"name"`
}

type ProjectInput struct {
	Name *string `json:"name,omitempty"`
}

type ProjectView struct {
	ID        string    `json:"id"`
	OwnerID   string    `json:"owner_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

var projects = declare(&OwnedResource[Project, *Project, ProjectInput, ProjectView]{
	Name: "projects", // the routes /api/projects and /api/projects/:id
	Check: func(in *ProjectInput, create bool) map[string]string {
		if create && in.Name == nil {
			return map[string]string{"name": "is required"}
		}
		if in.Name != nil && (*in.Name == "" || len(*in.Name) > 100) {
			return map[string]string{"name": "must be 1 to 100 characters"}
		}
		return nil
	},
	Apply: func(p *Project, in *ProjectInput) {
		if in.Name != nil {
			p.Name = *in.Name
		}
	},
	View: func(p *Project) ProjectView {
		return ProjectView{ID: store.FormatID(p.ID), OwnerID: store.FormatID(p.OwnerID),
			Name: p.Name, CreatedAt: p.CreatedAt}
	},
})

// readmeRules reads the policy lines of README's walkthrough that name
// path: the indented "p, ..." lines of its rules step.
func readmeRules(t *testing.T, path string) []rbac.CSVRule {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var csv strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "p, ") && strings.Contains(line, path) {
			csv.WriteString(line + "\n")
		}
	}
	rules, err := rbac.ParseCSV(strings.NewReader(csv.String()), mustModel(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 5 {
		t.Fatalf("README's walkthrough has %d rules for %s: %q", len(rules), path, csv.String())
	}
	return rules
}

// TestOwnedResourceFromTheWalkthrough: a second owned resource, declared
// as README says, works through the real server like the notes: owners
// act on their own, others get 403 (or 404 for what does not exist), the
// list is the caller's or, for an admin, everyone's, input is checked,
// and a deleted user's projects go with them.
func TestOwnedResourceFromTheWalkthrough(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	// Step 2, as routes.go would do it in registerRoutes.
	ts.addOwned(projects)
	keys := make([][2]string, len(ts.routes))
	for i, r := range ts.routes {
		keys[i] = [2]string{r.method, r.path}
	}
	ts.authz.SetRoutes(keys)
	// Step 3: the rules, imported into the running database.
	if _, err := ts.access.ImportPolicy(context.Background(), access.Offline, readmeRules(t, "/api/projects"), access.Import{}); err != nil {
		t.Fatal(err)
	}

	alice, bob := ts.mustUser([]string{"user"}), ts.mustUser([]string{"user"})
	admin := ts.admin
	name := func(s string) *string { return &s }

	var mine ProjectView
	expect(t, ts.do(http.MethodPost, "/api/projects", &alice, ProjectInput{Name: name("apollo")}, &mine), http.StatusCreated, "")
	if mine.Name != "apollo" || mine.OwnerID != store.FormatID(alice.ID) || mine.ID == "" || mine.CreatedAt.IsZero() {
		t.Fatalf("created %+v", mine)
	}
	var theirs ProjectView
	expect(t, ts.do(http.MethodPost, "/api/projects", &bob, ProjectInput{Name: name("gemini")}, &theirs), http.StatusCreated, "")

	cases := []struct {
		name   string
		caller *testUser
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"anonymous lists", nil, "GET", "/api/projects", nil, 401, api.CodeUnauthorized},
		{"owner reads", &alice, "GET", "/api/projects/" + mine.ID, nil, 200, ""},
		{"other reads", &bob, "GET", "/api/projects/" + mine.ID, nil, 403, api.CodeForbidden},
		{"other renames", &bob, "PATCH", "/api/projects/" + mine.ID, ProjectInput{Name: name("stolen")}, 403, api.CodeForbidden},
		{"other deletes", &bob, "DELETE", "/api/projects/" + mine.ID, nil, 403, api.CodeForbidden},
		{"owner reads missing", &alice, "GET", "/api/projects/999999", nil, 404, api.CodeNotFound},
		{"owner reads a non-id", &alice, "GET", "/api/projects/abc", nil, 404, api.CodeNotFound},
		{"no name", &alice, "POST", "/api/projects", ProjectInput{}, 400, api.CodeInvalidInput},
		{"empty name", &alice, "PATCH", "/api/projects/" + mine.ID, ProjectInput{Name: name("")}, 400, api.CodeInvalidInput},
		{"owner field", &alice, "POST", "/api/projects", map[string]string{"name": "x", "owner_id": "1"}, 400, api.CodeInvalidInput},
		{"admin reads", &admin, "GET", "/api/projects/" + mine.ID, nil, 200, ""},
	}
	for _, tc := range cases {
		expect(t, ts.do(tc.method, tc.path, tc.caller, tc.body, nil), tc.status, tc.code)
	}

	var renamed ProjectView
	expect(t, ts.do(http.MethodPatch, "/api/projects/"+mine.ID, &alice, ProjectInput{Name: name("artemis")}, &renamed), http.StatusOK, "")
	if renamed.Name != "artemis" || renamed.OwnerID != mine.OwnerID || !renamed.CreatedAt.Equal(mine.CreatedAt) {
		t.Fatalf("renamed %+v, was %+v", renamed, mine)
	}

	list := func(u *testUser) []string {
		t.Helper()
		var out api.List[ProjectView]
		expect(t, ts.do(http.MethodGet, "/api/projects?limit=1", u, nil, &out), http.StatusOK, "")
		names := []string{}
		for {
			for _, p := range out.Items {
				names = append(names, p.Name)
			}
			if out.NextCursor == "" {
				return names
			}
			cursor := out.NextCursor
			out = api.List[ProjectView]{}
			expect(t, ts.do(http.MethodGet, "/api/projects?limit=1&cursor="+cursor, u, nil, &out), http.StatusOK, "")
		}
	}
	if got := strings.Join(list(&alice), ","); got != "artemis" {
		t.Errorf("alice lists %q, want her own only", got)
	}
	if got := strings.Join(list(&admin), ","); got != "artemis,gemini" {
		t.Errorf("the admin lists %q, want everyone's", got)
	}

	// A deleted user's projects go with them.
	ts.mustCall(t, admin.Token, "DELETE", "/api/admin/users/"+store.FormatID(alice.ID), nil, 204, "")
	expect(t, ts.do(http.MethodGet, "/api/projects/"+mine.ID, &admin, nil, nil), http.StatusNotFound, api.CodeNotFound)
	if got := strings.Join(list(&admin), ","); got != "gemini" {
		t.Errorf("after alice's deletion the admin lists %q, want bob's only", got)
	}
	expect(t, ts.do(http.MethodDelete, "/api/projects/"+theirs.ID, &bob, nil, nil), http.StatusNoContent, "")
	if got := list(&bob); len(got) != 0 {
		t.Errorf("bob lists %q after deleting his only project", got)
	}
}
