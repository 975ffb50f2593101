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
		reason  string // recorded reason
		message string
	}{
		{"cookie without token", []string{cookie(aliceSecret)}, alice.ID, failCSRFMissing, errCSRFMissing.Message},
		{"cookie with a wrong token", []string{cookie(aliceSecret), "X-CSRF-Token: not-the-token"}, alice.ID, failCSRFWrong, errCSRFWrong.Message},
		{"cookie with an empty token", []string{cookie(aliceSecret), "X-CSRF-Token:"}, alice.ID, failCSRFMissing, errCSRFMissing.Message},
		{"cookie with another session's token", []string{cookie(aliceSecret), "X-CSRF-Token: " + csrfToken(bobSecret)}, alice.ID, failCSRFWrong, errCSRFWrong.Message},
		// Double submit is not how the token is checked: a CSRF cookie
		// matching the header proves nothing, only the session's own token
		// does.
		{"cookie with a planted CSRF cookie and the same header", []string{
			"Cookie: " + cookieName + "=" + aliceSecret + "; " + csrfCookieName + "=planted", "X-CSRF-Token: planted",
		}, alice.ID, failCSRFWrong, errCSRFWrong.Message},
		{"cookie, right token, cross-site", []string{cookie(aliceSecret), token, "Sec-Fetch-Site: cross-site"}, alice.ID, failCSRFCrossSite, errCSRFCrossSite.Message},
		{"cookie, right token, same-site", []string{cookie(aliceSecret), token, "Sec-Fetch-Site: same-site"}, alice.ID, failCSRFCrossSite, errCSRFCrossSite.Message},
		{"cookie, right token, foreign Origin", []string{cookie(aliceSecret), token, "Origin: https://evil.example"}, alice.ID, failCSRFCrossSite, errCSRFCrossSite.Message},
		{"cookie, no token, cross-site", []string{cookie(aliceSecret), "Sec-Fetch-Site: cross-site"}, alice.ID, failCSRFCrossSite, errCSRFCrossSite.Message},
		{"no credential, cross-site", []string{"Sec-Fetch-Site: cross-site"}, 0, failCSRFCrossSite, errCSRFCrossSite.Message},
		{"stale cookie, cross-site", []string{cookie("gatehouse_sess_" + csrfToken("x")), "Sec-Fetch-Site: cross-site"}, 0, failCSRFCrossSite, errCSRFCrossSite.Message},
	}
	for i, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			ip := fmt.Sprintf("198.51.100.%d", i+1)
			a := ls.do(t, request{method: http.MethodPost, path: "/api/notes", body: note, headers: append(tc.headers, xff(ip))})
			wantError(t, a, http.StatusForbidden, api.CodeCSRFFailed)
			if a.err.Message != tc.message {
				t.Fatalf("message %q, want %q", a.err.Message, tc.message)
			}
			ls.flush(t)
			recs := ls.failures(t, ip)
			if len(recs) != 1 || recs[0].Count != 1 || recs[0].Reason != tc.reason || recs[0].Status != http.StatusForbidden ||
				recs[0].RequestID != a.err.RequestID || recs[0].Route != "/api/notes" || recs[0].UserID != tc.user {
				t.Fatalf("records: %+v, want one for user %d with reason %s", recs, tc.user, tc.reason)
			}
		})
	}

	// The three causes from one client within the fold window stay three
	// records; a repeat of one folds into its own.
	t.Run("causes are not folded together", func(t *testing.T) {
		ip := "198.51.100.200"
		for _, h := range [][]string{
			{cookie(aliceSecret)},
			{cookie(aliceSecret), "X-CSRF-Token: not-the-token"},
			{cookie(aliceSecret), token, "Sec-Fetch-Site: cross-site"},
			{cookie(aliceSecret)},
		} {
			wantError(t, ls.do(t, request{method: http.MethodPost, path: "/api/notes", body: note, headers: append(h, xff(ip))}), http.StatusForbidden, api.CodeCSRFFailed)
		}
		ls.flush(t)
		counts := map[string]int{}
		for _, r := range ls.failures(t, ip) {
			counts[r.Reason] += r.Count
			if r.Count == 2 && r.Reason != failCSRFMissing {
				t.Errorf("folded record %+v", r)
			}
		}
		want := map[string]int{failCSRFMissing: 2, failCSRFWrong: 1, failCSRFCrossSite: 1}
		if len(ls.failures(t, ip)) != 3 || fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Fatalf("records by reason %v (%d records), want %v in 3", counts, len(ls.failures(t, ip)), want)
		}
	})

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
