package app

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
)

func TestCSRF(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	alice, aliceSecret := mustUser(t, ls.srv, "alice@example.com", "user")
	_, bobSecret := mustUser(t, ls.srv, "bob@example.com", "user")
	note := `{"title":"hello"}`
	token := "X-CSRF-Token: " + csrfToken(aliceSecret)

	refused := []struct {
		name    string
		headers []string
		user    uint64 // recorded user
	}{
		{"cookie without token", []string{cookie(aliceSecret)}, alice.ID},
		{"cookie with a wrong token", []string{cookie(aliceSecret), "X-CSRF-Token: not-the-token"}, alice.ID},
		{"cookie with an empty token", []string{cookie(aliceSecret), "X-CSRF-Token:"}, alice.ID},
		{"cookie with another session's token", []string{cookie(aliceSecret), "X-CSRF-Token: " + csrfToken(bobSecret)}, alice.ID},
		{"cookie, right token, cross-site", []string{cookie(aliceSecret), token, "Sec-Fetch-Site: cross-site"}, alice.ID},
		{"cookie, right token, same-site", []string{cookie(aliceSecret), token, "Sec-Fetch-Site: same-site"}, alice.ID},
		{"cookie, right token, foreign Origin", []string{cookie(aliceSecret), token, "Origin: https://evil.example"}, alice.ID},
		{"no credential, cross-site", []string{"Sec-Fetch-Site: cross-site"}, 0},
		{"stale cookie, cross-site", []string{cookie("gatehouse_sess_" + csrfToken("x")), "Sec-Fetch-Site: cross-site"}, 0},
	}
	for i, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			ip := fmt.Sprintf("198.51.100.%d", i+1)
			a := ls.do(t, request{method: http.MethodPost, path: "/api/notes", body: note, headers: append(tc.headers, xff(ip))})
			wantError(t, a, http.StatusForbidden, api.CodeCSRFFailed)
			ls.flush(t)
			recs := ls.failures(t, ip)
			if len(recs) != 1 || recs[0].Count != 1 || recs[0].Reason != api.CodeCSRFFailed || recs[0].Status != http.StatusForbidden ||
				recs[0].RequestID != a.err.RequestID || recs[0].Route != "/api/notes" || recs[0].UserID != tc.user {
				t.Fatalf("records: %+v, want one for user %d", recs, tc.user)
			}
		})
	}

	allowed := []struct {
		name    string
		headers []string
	}{
		{"bearer without token", []string{bearer(aliceSecret)}},
		{"bearer, cross-site", []string{bearer(aliceSecret), "Sec-Fetch-Site: cross-site"}},
		{"cookie with its token, same-origin", []string{cookie(aliceSecret), token, "Sec-Fetch-Site: same-origin"}},
		{"cookie with its token, no browser headers", []string{cookie(aliceSecret), token}},
		{"cookie with its token, own Origin", []string{cookie(aliceSecret), token, "Origin: " + ls.url}},
	}
	for _, tc := range allowed {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, ls.do(t, request{method: http.MethodPost, path: "/api/notes", body: note, headers: tc.headers}), http.StatusCreated)
		})
	}
	// Safe methods need no token.
	wantStatus(t, ls.do(t, request{path: "/api/auth/me", headers: []string{cookie(aliceSecret), "Sec-Fetch-Site: cross-site"}}), http.StatusOK)
}
