package tui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
)

// fakeServer serves the admin API's JSON with the app/api wire types, from
// memory, until the real Echo app lands on this branch. It knows two
// tokens: "admin-token" (user 1, role admin) and "auditor-token" (user 2,
// group auditors, who may read only the two logs), and it records every
// request it answers.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	users    []api.User
	groups   []api.Group
	rules    []api.Rule
	failures []api.AuthFailure
	audit    []api.AuditEntry
	requests []string
	nextID   int
	stream   chan api.AuthFailure // failures to send to the stream
}

// fakeTime is the fixed "now" of the tests and the data.
var fakeTime = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, nextID: 10, stream: make(chan api.AuthFailure, 16)}
	f.users = []api.User{
		{ID: "1", Email: "admin@example.com", Name: "Ada Admin", Roles: []string{"admin"}, Groups: []string{}, CreatedAt: fakeTime},
		{ID: "2", Email: "audrey@example.com", Name: "Audrey Auditor", Roles: []string{"user"}, Groups: []string{"auditors"}, CreatedAt: fakeTime},
		{ID: "3", Email: "bob@example.com", Name: "Bob Builder", Roles: []string{"user", "editor"}, Groups: []string{"staff"}, CreatedAt: fakeTime},
		{ID: "4", Email: "carol@example.com", Name: "Carol", Roles: []string{"user"}, Groups: []string{}, Disabled: true, CreatedAt: fakeTime},
	}
	f.groups = []api.Group{
		{Name: "auditors", Description: "read the logs", Roles: []string{}, Members: []string{"2"}},
		{Name: "staff", Description: "edit every note", Roles: []string{"editor"}, Members: []string{"3"}},
	}
	f.rules = []api.Rule{
		{ID: "1", Type: "p", Rule: []string{"anonymous", "/api/health", "GET", "*"}},
		{ID: "2", Type: "p", Rule: []string{"role:user", "/api/notes/:id", "GET", "owner"}},
		{ID: "3", Type: "p", Rule: []string{"role:editor", "/api/notes/:id", "PATCH", "*"}},
		{ID: "4", Type: "p", Rule: []string{"role:admin", "/api/*", "*", "*"}},
		{ID: "5", Type: "g", Rule: []string{"group:staff", "role:editor"}},
	}
	f.failures = []api.AuthFailure{
		{ID: "f1", Time: fakeTime.Add(-5 * time.Minute), Count: 1, IP: "10.0.0.5", Method: "POST", Path: "/api/auth/login", Route: "/api/auth/login", Status: 401, Reason: "invalid_credentials", RequestID: "req-1"},
		{ID: "f2", Time: fakeTime.Add(-40 * time.Second), LastTime: fakeTime.Add(-20 * time.Second), Count: 3, IP: "10.0.0.9", Method: "DELETE", Path: "/api/notes/12", Route: "/api/notes/:id", Status: 403, Reason: "forbidden", UserID: "3", RequestID: "req-2", Subject: "user:3", Object: "/api/notes/:id", Action: "DELETE", Explanation: "no rule lets role:editor DELETE /api/notes/:id"},
		{ID: "f3", Time: fakeTime.Add(-10 * time.Second), Count: 1, IP: "192.168.1.20", Method: "GET", Path: "/api/notes", Route: "/api/notes", Status: 429, Reason: "rate_limited", RequestID: "req-3"},
	}
	f.audit = []api.AuditEntry{
		{ID: "a1", Time: fakeTime.Add(-time.Hour), ActorID: "1", Actor: "admin@example.com", Action: "user.create", Target: "user:3", After: map[string]any{"email": "bob@example.com", "roles": []any{"user"}}},
		{ID: "a2", Time: fakeTime.Add(-30 * time.Minute), ActorID: "1", Actor: "admin@example.com", Action: "user.update", Target: "user:3", Before: map[string]any{"roles": []any{"user"}}, After: map[string]any{"roles": []any{"user", "editor"}}},
		{ID: "a3", Time: fakeTime.Add(-2 * time.Hour), ActorID: "1", Actor: "admin@example.com", Action: "policy.add", Target: "p, role:editor, /api/notes/:id, PATCH, *"},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

// fakeBaseURL is the server URL the console shows in the tests, whatever
// port the fake listens on, so that golden views are stable.
const fakeBaseURL = "http://gatehouse.test:8080"

// client is a client of the fake server holding token. It believes it talks
// to fakeBaseURL; its transport sends everything to the fake.
func (f *fakeServer) client(token string) *api.Client {
	c := api.NewClient(fakeBaseURL, token)
	target, _ := url.Parse(f.srv.URL)
	c.HTTP = &http.Client{Transport: redirectTransport{target: target}}
	return c
}

// redirectTransport sends every request to target's host.
type redirectTransport struct{ target *url.URL }

func (rt redirectTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = rt.target.Scheme, rt.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

// seen returns the recorded requests other than reads, as "METHOD path body".
func (f *fakeServer) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		if !strings.HasPrefix(r, "GET ") {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeServer) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		f.t.Errorf("fake server: encode: %v", err)
	}
}

func (f *fakeServer) writeError(w http.ResponseWriter, status int, code, msg string) {
	f.writeJSON(w, status, api.Error{Code: code, Message: msg, RequestID: "fake"})
}

// caller is the user behind the request's token, or nil.
func (f *fakeServer) caller(r *http.Request) *api.User {
	switch r.Header.Get("Authorization") {
	case "Bearer admin-token":
		return &f.users[0]
	case "Bearer auditor-token":
		return &f.users[1]
	}
	return nil
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	var body json.RawMessage
	if r.Body != nil && r.Method != http.MethodGet {
		_ = json.NewDecoder(r.Body).Decode(&body)
	}
	f.mu.Lock()
	f.requests = append(f.requests, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(body)))
	f.mu.Unlock()

	if r.Method == http.MethodPost && r.URL.Path == "/api/auth/login" {
		f.login(w, body)
		return
	}
	me := f.caller(r)
	if me == nil {
		f.writeError(w, 401, api.CodeUnauthorized, "sign in first")
		return
	}
	logs := strings.HasPrefix(r.URL.Path, "/api/admin/auth-failures") || r.URL.Path == "/api/admin/audit"
	if strings.HasPrefix(r.URL.Path, "/api/admin/") && !slices.Contains(me.Roles, "admin") && !logs {
		f.writeError(w, 403, api.CodeForbidden, fmt.Sprintf("user:%s may not %s %s", me.ID, r.Method, r.URL.Path))
		return
	}
	if r.URL.Path == "/api/admin/auth-failures/stream" {
		f.serveStream(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.route(w, r, me, body)
}

func (f *fakeServer) login(w http.ResponseWriter, body json.RawMessage) {
	var in api.LoginRequest
	_ = json.Unmarshal(body, &in)
	switch {
	case in.Email == "admin@example.com" && in.Password == "correct horse battery":
		if in.OTP == "" {
			f.writeError(w, 401, api.CodeMFARequired, "a one-time code is needed")
			return
		}
		if in.OTP != "123456" {
			f.writeError(w, 401, api.CodeInvalidCredentials, "invalid credentials")
			return
		}
		f.writeJSON(w, 200, api.LoginResponse{Token: "admin-token", User: f.users[0]})
	case in.Email == "audrey@example.com" && in.Password == "correct horse battery":
		f.writeJSON(w, 200, api.LoginResponse{Token: "auditor-token", User: f.users[1]})
	default:
		f.writeError(w, 401, api.CodeInvalidCredentials, "invalid credentials")
	}
}

// serveStream sends the failures pushed to f.stream as Server-Sent Events
// until the client leaves or a zero failure asks it to end the stream.
func (f *fakeServer) serveStream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case a := <-f.stream:
			if a.ID == "" {
				return
			}
			b, _ := json.Marshal(a)
			fmt.Fprintf(w, "event: auth_failure\ndata: %s\n\n", b)
			w.(http.Flusher).Flush()
		}
	}
}

func (f *fakeServer) route(w http.ResponseWriter, r *http.Request, me *api.User, body json.RawMessage) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/"), "/")
	switch {
	case r.URL.Path == "/api/auth/me":
		f.writeJSON(w, 200, api.Me{User: *me, May: fakeMay(me)})
	case r.URL.Path == "/api/admin/users" && r.Method == http.MethodGet:
		q := strings.ToLower(r.URL.Query().Get("q"))
		var found []api.User
		for _, u := range f.users {
			if strings.Contains(strings.ToLower(u.Email+" "+u.Name), q) {
				found = append(found, u)
			}
		}
		f.writeJSON(w, 200, api.List[api.User]{Items: found})
	case len(parts) == 5 && parts[1] == "users" && parts[3] == "roles":
		i := slices.IndexFunc(f.users, func(u api.User) bool { return u.ID == parts[2] })
		if i < 0 {
			f.writeError(w, 404, api.CodeNotFound, "no such user")
			return
		}
		u := &f.users[i]
		if r.Method == http.MethodPut && !slices.Contains(u.Roles, parts[4]) {
			u.Roles = append(slices.Clone(u.Roles), parts[4])
		} else if r.Method == http.MethodDelete {
			u.Roles = slices.DeleteFunc(slices.Clone(u.Roles), func(x string) bool { return x == parts[4] })
		}
		f.writeJSON(w, 200, u)
	case r.URL.Path == "/api/admin/users" && r.Method == http.MethodPost:
		var in api.CreateUserRequest
		_ = json.Unmarshal(body, &in)
		f.nextID++
		u := api.User{ID: fmt.Sprint(f.nextID), Email: in.Email, Name: in.Name, Roles: in.Roles, Groups: in.Groups, CreatedAt: fakeTime}
		f.users = append(f.users, u)
		f.writeJSON(w, 201, u)
	case len(parts) == 3 && parts[1] == "users":
		i := slices.IndexFunc(f.users, func(u api.User) bool { return u.ID == parts[2] })
		if i < 0 {
			f.writeError(w, 404, api.CodeNotFound, "no such user")
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.writeJSON(w, 200, f.users[i])
		case http.MethodPatch:
			var in api.UpdateUserRequest
			_ = json.Unmarshal(body, &in)
			u := &f.users[i]
			if in.Roles != nil {
				u.Roles = *in.Roles
			}
			if in.Groups != nil {
				u.Groups = *in.Groups
			}
			if in.Disabled != nil {
				u.Disabled = *in.Disabled
			}
			if in.Name != nil {
				u.Name = *in.Name
			}
			f.writeJSON(w, 200, u)
		case http.MethodDelete:
			f.users = slices.Delete(f.users, i, i+1)
			w.WriteHeader(204)
		}
	case len(parts) == 4 && parts[1] == "users" && parts[3] == "sessions" && r.Method == http.MethodGet:
		exp := fakeTime.Add(20 * time.Hour)
		f.writeJSON(w, 200, []api.UserSession{{ID: "31", Kind: "session", CreatedAt: fakeTime.Add(-4 * time.Hour), ExpiresAt: &exp}})
	case len(parts) == 4 && parts[1] == "users" && parts[3] == "sessions":
		w.WriteHeader(204)
	case r.URL.Path == "/api/admin/groups" && r.Method == http.MethodGet:
		f.writeJSON(w, 200, api.List[api.Group]{Items: f.groups})
	case r.URL.Path == "/api/admin/groups" && r.Method == http.MethodPost:
		var in api.CreateGroupRequest
		_ = json.Unmarshal(body, &in)
		g := api.Group{Name: in.Name, Description: in.Description, Roles: in.Roles, Members: []string{}}
		f.groups = append(f.groups, g)
		f.writeJSON(w, 201, g)
	case len(parts) >= 3 && parts[1] == "groups":
		i := slices.IndexFunc(f.groups, func(g api.Group) bool { return g.Name == parts[2] })
		if i < 0 {
			f.writeError(w, 404, api.CodeNotFound, "no such group")
			return
		}
		g := &f.groups[i]
		switch {
		case len(parts) == 5 && r.Method == http.MethodPut:
			g.Members = append(g.Members, parts[4])
			if u := slices.IndexFunc(f.users, func(u api.User) bool { return u.ID == parts[4] }); u >= 0 {
				f.users[u].Groups = append(slices.Clone(f.users[u].Groups), g.Name)
			}
			w.WriteHeader(204)
		case len(parts) == 5 && r.Method == http.MethodDelete:
			g.Members = slices.DeleteFunc(g.Members, func(id string) bool { return id == parts[4] })
			if u := slices.IndexFunc(f.users, func(u api.User) bool { return u.ID == parts[4] }); u >= 0 {
				f.users[u].Groups = slices.DeleteFunc(slices.Clone(f.users[u].Groups), func(x string) bool { return x == g.Name })
			}
			w.WriteHeader(204)
		case r.Method == http.MethodGet:
			f.writeJSON(w, 200, g)
		case r.Method == http.MethodPatch:
			var in api.UpdateGroupRequest
			_ = json.Unmarshal(body, &in)
			if in.Roles != nil {
				g.Roles = *in.Roles
			}
			if in.Description != nil {
				g.Description = *in.Description
			}
			f.writeJSON(w, 200, g)
		case r.Method == http.MethodDelete:
			f.groups = slices.Delete(f.groups, i, i+1)
			w.WriteHeader(204)
		}
	case r.URL.Path == "/api/admin/policies" && r.Method == http.MethodGet:
		f.writeJSON(w, 200, api.List[api.Rule]{Items: f.rules})
	case r.URL.Path == "/api/admin/policies" && r.Method == http.MethodPost:
		var in api.RuleInput
		_ = json.Unmarshal(body, &in)
		f.nextID++
		rule := api.Rule{ID: fmt.Sprint(f.nextID), Type: in.Type, Rule: in.Rule}
		f.rules = append(f.rules, rule)
		f.writeJSON(w, 201, rule)
	case r.URL.Path == "/api/admin/policies/check":
		var in api.CheckRequest
		_ = json.Unmarshal(body, &in)
		if in.Subject == "role:admin" {
			f.writeJSON(w, 200, api.CheckResult{Allowed: true, Matched: []string{"p", "role:admin", "/api/*", "*", "*"}, Explanation: "role:admin may do anything under /api/* (rule 4)."})
			return
		}
		f.writeJSON(w, 200, api.CheckResult{Explanation: fmt.Sprintf("no rule lets %s %s %s; gatehouse denies by default.", in.Subject, in.Action, in.Object)})
	case r.URL.Path == "/api/admin/policies/import":
		var in api.PolicyImport
		_ = json.Unmarshal(body, &in)
		f.writeJSON(w, 200, api.PolicyImportResult{Added: strings.Count(in.CSV, "\n")})
	case len(parts) == 3 && parts[1] == "policies" && r.Method == http.MethodDelete:
		f.rules = slices.DeleteFunc(f.rules, func(rule api.Rule) bool { return rule.ID == parts[2] })
		w.WriteHeader(204)
	case r.URL.Path == "/api/admin/auth-failures":
		user := strings.TrimPrefix(r.URL.Query().Get("user"), "user:")
		items := []api.AuthFailure{}
		for _, a := range f.failures {
			if user == "" || a.UserID == user {
				items = append(items, a)
			}
		}
		f.writeJSON(w, 200, api.List[api.AuthFailure]{Items: items})
	case r.URL.Path == "/api/admin/audit":
		// Newest first, as the server answers.
		items := slices.DeleteFunc(slices.Clone(f.audit), func(e api.AuditEntry) bool {
			target := r.URL.Query().Get("target")
			return target != "" && e.Target != target
		})
		slices.SortStableFunc(items, func(a, b api.AuditEntry) int { return b.Time.Compare(a.Time) })
		f.writeJSON(w, 200, api.List[api.AuditEntry]{Items: items})
	default:
		f.writeError(w, 404, api.CodeNotFound, "no route "+r.URL.Path)
	}
}

// fakeMay is what GET /api/auth/me says the user may do: an admin every
// admin route the console uses, anyone else the two logs.
func fakeMay(u *api.User) []string {
	logs := []string{routeFailures, "GET /api/admin/auth-failures/stream", routeAudit}
	if !slices.Contains(u.Roles, "admin") {
		return logs
	}
	return append(logs, routeUsers, routeUserCreate, routeUserUpdate, routeUserDelete, routeUserSessions,
		routeRoleAdd, routeRoleRemove, routeGroups, routeGroupCreate, routeGroupUpdate, routeGroupDelete,
		routeMemberAdd, routeMemberRemove, routePolicies, routePolicyAdd, routePolicyRemove, routePolicyImport, routePolicyCheck)
}
