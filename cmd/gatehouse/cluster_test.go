package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

const clusterAdminPassword = "cluster admin password"

// startCluster starts n servers on one new PostgreSQL database and returns
// their URLs; the first creates the admin.
func startCluster(t *testing.T, n int) (string, []string) {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	var urls []string
	for range n {
		url, _, stop := startServe(t, map[string]string{
			"GATEHOUSE_DATABASE_URL":   dbURL,
			"GATEHOUSE_ADMIN_EMAIL":    "admin@example.com",
			"GATEHOUSE_ADMIN_PASSWORD": clusterAdminPassword,
		})
		t.Cleanup(func() {
			if err := stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
		urls = append(urls, url)
	}
	return dbURL, urls
}

// codeOf is the API error code of err ("" for none).
func codeOf(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// A rule change, and a disable, made through one instance hold on the
// very next request through the other, round after round, both ways.
func TestClusterChangeSeenByTheOtherInstance(t *testing.T) {
	t.Parallel()
	_, urls := startCluster(t, 2)
	ctx := context.Background()
	login := func(url, email, password string) *api.Client {
		t.Helper()
		res, err := api.NewClient(url, "").Login(ctx, api.LoginRequest{Email: email, Password: password})
		if err != nil {
			t.Fatalf("sign in %s on %s: %v", email, url, err)
		}
		return api.NewClient(url, res.Token)
	}
	admin := [2]*api.Client{login(urls[0], "admin@example.com", clusterAdminPassword), nil}
	admin[1] = api.NewClient(urls[1], admin[0].Token)
	u, err := admin[0].CreateUser(ctx, api.CreateUserRequest{Email: "user@example.com", Password: "user password here", Roles: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	// The user's session, made on B, works on A: one store of sessions.
	user := [2]*api.Client{nil, login(urls[1], "user@example.com", "user password here")}
	user[0] = api.NewClient(urls[0], user[1].Token)
	if _, err := user[0].ListAudit(ctx, api.ListOptions{}); codeOf(err) != api.CodeForbidden {
		t.Fatalf("audit before the grant: %v, want forbidden", err)
	}
	var measured []time.Duration
	for round := range 10 {
		x, y := round%2, 1-round%2
		start := time.Now()
		rule, err := admin[x].AddPolicy(ctx, api.RuleInput{Type: "p", Rule: []string{"user:" + u.ID, "/api/admin/audit", "GET", "*"}})
		if err != nil {
			t.Fatalf("round %d: grant through %d: %v", round, x, err)
		}
		if _, err := user[y].ListAudit(ctx, api.ListOptions{}); err != nil {
			t.Fatalf("round %d: the grant made through instance %d is not seen by %d's next request: %v", round, x, y, err)
		}
		measured = append(measured, time.Since(start))
		if err := admin[y].RemovePolicy(ctx, rule.ID); err != nil {
			t.Fatalf("round %d: revoke through %d: %v", round, y, err)
		}
		if _, err := user[x].ListAudit(ctx, api.ListOptions{}); codeOf(err) != api.CodeForbidden {
			t.Fatalf("round %d: the revoke made through instance %d is not seen by %d's next request: %v", round, y, x, err)
		}
	}
	t.Logf("grant through one instance, then allowed on the other: %v", measured)
	disabled := true
	if _, err := admin[0].UpdateUser(ctx, u.ID, api.UpdateUserRequest{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := user[1].Me(ctx); codeOf(err) != api.CodeUnauthorized {
		t.Fatalf("a user disabled through A, on B: %v, want unauthorized", err)
	}
}

// Three instances starting together on an empty database make one first
// admin (the others find it) and one seed policy.
func TestClusterStartsTogether(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := map[string]string{
		"GATEHOUSE_ADDR":           "127.0.0.1:0",
		"GATEHOUSE_MODEL":          "../../model.conf",
		"GATEHOUSE_POLICY":         "../../policy.csv",
		"GATEHOUSE_DATABASE_URL":   dbURL,
		"GATEHOUSE_ADMIN_EMAIL":    "admin@example.com",
		"GATEHOUSE_ADMIN_PASSWORD": clusterAdminPassword,
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	outs := make([]*syncBuffer, 3)
	logs := make([]*syncBuffer, 3)
	errs := make([]error, 3)
	for i := range outs {
		outs[i], logs[i] = &syncBuffer{}, &syncBuffer{}
		wg.Go(func() {
			errs[i] = run(ctx, []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), outs[i], logs[i])
		})
	}
	defer func() {
		if t.Failed() {
			for i := range outs {
				t.Logf("instance %d:\n%s\n%s", i, outs[i], logs[i])
			}
		}
	}()
	var urls []string
	deadline := time.Now().Add(30 * time.Second)
	for i, out := range outs {
		for !strings.Contains(out.String(), "listening on ") {
			if time.Now().After(deadline) {
				t.Fatalf("instance %d did not start: %s", i, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		line := out.String()[strings.Index(out.String(), "listening on ")+len("listening on "):]
		urls = append(urls, strings.TrimSpace(strings.SplitN(line, "\n", 2)[0]))
	}
	res, err := api.NewClient(urls[2], "").Login(ctx, api.LoginRequest{Email: "admin@example.com", Password: clusterAdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	c := api.NewClient(urls[1], res.Token)
	users, err := c.ListUsers(ctx, api.ListOptions{})
	if err != nil || len(users.Items) != 1 {
		t.Fatalf("users after three starts: %+v, %v; want one admin", users.Items, err)
	}
	rules, err := c.ListPolicies(ctx, api.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rules.Items {
		key := r.Type + " " + strings.Join(r.Rule, ",")
		if seen[key] {
			t.Fatalf("rule %s stored twice", key)
		}
		seen[key] = true
	}
	if len(rules.Items) == 0 {
		t.Fatal("no seed policy")
	}
	cancel()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
}

// startInstances starts n servers on the database at dbURL.
func startInstances(t *testing.T, dbURL string, n int) []string {
	t.Helper()
	var urls []string
	for range n {
		url, _, stop := startServe(t, map[string]string{
			"GATEHOUSE_DATABASE_URL":   dbURL,
			"GATEHOUSE_ADMIN_EMAIL":    "admin@example.com",
			"GATEHOUSE_ADMIN_PASSWORD": clusterAdminPassword,
		})
		t.Cleanup(func() {
			if err := stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
		urls = append(urls, url)
	}
	return urls
}

// mustAdmin signs the admin in through url.
func mustAdmin(t *testing.T, url string) *api.Client {
	t.Helper()
	res, err := api.NewClient(url, "").Login(context.Background(), api.LoginRequest{Email: "admin@example.com", Password: clusterAdminPassword})
	if err != nil {
		t.Fatalf("sign in on %s: %v", url, err)
	}
	return api.NewClient(url, res.Token)
}

// With PostgreSQL stopped, both instances answer 503 unavailable at once
// rather than hang or decide on what they hold; when it is back, both
// recover by themselves and changes flow between them again.
func TestClusterSurvivesADatabaseRestart(t *testing.T) {
	t.Parallel()
	pg := pgtest.New(t)
	urls := startInstances(t, pg.NewDatabase(t), 2)
	ctx := context.Background()
	admin := mustAdmin(t, urls[0])
	clients := []*api.Client{admin, api.NewClient(urls[1], admin.Token)}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		start := time.Now()
		_, err := c.Me(ctx)
		if codeOf(err) != api.CodeUnavailable {
			t.Fatalf("instance %d with the database down: %v, want unavailable", i, err)
		}
		t.Logf("instance %d answered 503 after %v with the database down", i, time.Since(start))
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for i, c := range clients {
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := c.Me(ctx)
			if err == nil {
				t.Logf("instance %d answered 200 again %v after PostgreSQL accepted connections", i, time.Since(restarted))
				break
			}
			if codeOf(err) != api.CodeUnavailable || time.Now().After(deadline) {
				t.Fatalf("instance %d after the restart: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	u, err := clients[0].CreateUser(ctx, api.CreateUserRequest{Email: "after@example.com", Password: "after the restart", Roles: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := api.NewClient(urls[1], "").Login(ctx, api.LoginRequest{Email: "after@example.com", Password: "after the restart"})
	if err != nil {
		t.Fatal(err)
	}
	user := api.NewClient(urls[1], res.Token)
	if _, err := user.ListAudit(ctx, api.ListOptions{}); codeOf(err) != api.CodeForbidden {
		t.Fatalf("before the grant: %v", err)
	}
	if _, err := clients[0].AddPolicy(ctx, api.RuleInput{Type: "p", Rule: []string{"user:" + u.ID, "/api/admin/audit", "GET", "*"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := user.ListAudit(ctx, api.ListOptions{}); err != nil {
		t.Fatalf("a grant through A after the restart, on B: %v", err)
	}
}

// With the listening connections killed by the server, a change made
// before they are back is still seen by the other instance's next request.
func TestClusterListenerKilled(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	urls := startInstances(t, dbURL, 2)
	ctx := context.Background()
	admin := mustAdmin(t, urls[0])
	u, err := admin.CreateUser(ctx, api.CreateUserRequest{Email: "u@example.com", Password: "user password here", Roles: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := api.NewClient(urls[1], "").Login(ctx, api.LoginRequest{Email: "u@example.com", Password: "user password here"})
	if err != nil {
		t.Fatal(err)
	}
	user := api.NewClient(urls[1], res.Token)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'gatehouse listener' AND query ILIKE '%gatehouse_policy%' AND datname = current_database()`).Scan(&killed); err != nil || killed != 2 {
		t.Fatalf("killed %d listeners, %v; want 2", killed, err)
	}
	if _, err := admin.AddPolicy(ctx, api.RuleInput{Type: "p", Rule: []string{"user:" + u.ID, "/api/admin/audit", "GET", "*"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := user.ListAudit(ctx, api.ListOptions{}); err != nil {
		t.Fatalf("a grant made while the listeners were away, on B: %v", err)
	}
}

// Two admins demoting each other through two instances at once leave one
// admin: one demotion is refused with 409, round after round.
func TestClusterLastAdminAcrossInstances(t *testing.T) {
	t.Parallel()
	urls := startInstances(t, pgtest.NewDatabase(t), 2)
	ctx := context.Background()
	admin := mustAdmin(t, urls[0])
	second, err := admin.CreateUser(ctx, api.CreateUserRequest{Email: "second@example.com", Password: "second admin here", Roles: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	me, err := admin.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := api.NewClient(urls[1], "").Login(ctx, api.LoginRequest{Email: "second@example.com", Password: "second admin here"})
	if err != nil {
		t.Fatal(err)
	}
	other := api.NewClient(urls[1], res.Token)
	userRole := []string{"user"}
	adminRole := []string{"admin"}
	for round := range 10 {
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() { _, errA = admin.UpdateUser(ctx, second.ID, api.UpdateUserRequest{Roles: &userRole}) })
		wg.Go(func() { _, errB = other.UpdateUser(ctx, me.ID, api.UpdateUserRequest{Roles: &userRole}) })
		wg.Wait()
		// The refused one is refused by the guard (409), or, when the other
		// demotion committed before it was authorized, as a caller who is no
		// admin any more (403).
		refused := func(err error) bool {
			return codeOf(err) == api.CodeConflict || codeOf(err) == api.CodeForbidden
		}
		if !(errA == nil && refused(errB) || errB == nil && refused(errA)) {
			t.Fatalf("round %d: demotions answered %q and %q; want one done and one refused", round, codeOf(errA), codeOf(errB))
		}
		// Whoever is still admin makes the other admin again.
		restore, target := admin, second.ID
		if errA != nil {
			restore, target = other, me.ID
		}
		if _, err := restore.UpdateUser(ctx, target, api.UpdateUserRequest{Roles: &adminRole}); err != nil {
			t.Fatalf("round %d: restore: %v", round, err)
		}
	}
}

// A failure answered by one instance shows on the live stream of the
// other.
func TestClusterOneFailureStream(t *testing.T) {
	t.Parallel()
	urls := startInstances(t, pgtest.NewDatabase(t), 2)
	admin := mustAdmin(t, urls[0])
	onB := api.NewClient(urls[1], admin.Token)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan api.AuthFailure, 100)
	streamDone := make(chan error, 1)
	go func() {
		streamDone <- onB.StreamAuthFailures(ctx, func(f api.AuthFailure) { events <- f })
	}()
	// The stream may not be open yet when the first failure happens: fail
	// again until one arrives, within a bound.
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 0; ; attempt++ {
		_, err := api.NewClient(urls[0], "not-a-token").Me(context.Background())
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.CodeUnauthorized {
			t.Fatalf("a bad token on A: %v", err)
		}
		wait := time.After(time.Second)
	waiting:
		for {
			select {
			case f := <-events:
				if f.RequestID == ae.RequestID {
					if f.Status != 401 || f.Route != "/api/auth/me" {
						t.Fatalf("the failure on B's stream: %+v", f)
					}
					t.Logf("A's failure reached B's stream (attempt %d)", attempt+1)
					return
				}
			case err := <-streamDone:
				t.Fatalf("B's stream ended: %v", err)
			case <-wait:
				break waiting
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no failure of A on B's stream within 30s")
		}
	}
}

// A cookie session made on one instance works on the other, CSRF token
// included: nothing of a session is secret to one instance.
func TestClusterCookieSessionOnEitherInstance(t *testing.T) {
	t.Parallel()
	urls := startInstances(t, pgtest.NewDatabase(t), 2)
	res, err := api.NewClient(urls[0], "").Login(context.Background(), api.LoginRequest{Email: "admin@example.com", Password: clusterAdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	logout := func(csrf string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, urls[1]+"/api/auth/logout", nil)
		req.Header.Set("Cookie", "gatehouse_session="+res.Token)
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e api.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Code
	}
	if status, code := logout(""); status != http.StatusForbidden || code != api.CodeCSRFFailed {
		t.Fatalf("a cookie write on B without the CSRF token: %d %s, want 403 csrf_failed", status, code)
	}
	if status, code := logout(res.CSRFToken); status != http.StatusNoContent {
		t.Fatalf("a cookie write on B with the token from A: %d %s, want 204", status, code)
	}
	// Signed out through B: the session is gone on A too.
	if _, err := api.NewClient(urls[0], res.Token).Me(context.Background()); codeOf(err) != api.CodeUnauthorized {
		t.Fatalf("the session after signing out through B, on A: %v", err)
	}
}

// A request without credentials has no credential lookup to read the
// policy version with: it reads the version by itself, so a change made
// through A holds for the anonymous requests B receives after it, from
// the very first.
func TestClusterAnonymousRequestsSeeChanges(t *testing.T) {
	t.Parallel()
	urls := startInstances(t, pgtest.NewDatabase(t), 2)
	ctx := context.Background()
	admin := mustAdmin(t, urls[0])
	anonymousOnB := func() int {
		resp, err := http.Get(urls[1] + "/api/admin/routes")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := anonymousOnB(); got != http.StatusUnauthorized {
		t.Fatalf("anonymous on B before the grant: %d", got)
	}
	var measured []time.Duration
	for round := range 5 {
		rule, err := admin.AddPolicy(ctx, api.RuleInput{Type: "p", Rule: []string{"anonymous", "/api/admin/routes", "GET", "*"}})
		if err != nil {
			t.Fatal(err)
		}
		answered := time.Now()
		if got := anonymousOnB(); got != http.StatusOK {
			t.Fatalf("round %d: anonymous on B right after the grant on A: %d, want 200", round, got)
		}
		measured = append(measured, time.Since(answered))
		if err := admin.RemovePolicy(ctx, rule.ID); err != nil {
			t.Fatal(err)
		}
		if got := anonymousOnB(); got != http.StatusUnauthorized {
			t.Fatalf("round %d: anonymous on B right after the revoke on A: %d, want 401", round, got)
		}
	}
	t.Logf("an anonymous request on B right after a grant answered by A: %v", measured)
}
