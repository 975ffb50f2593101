package app

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeadAnsweredAsGet: HEAD is answered wherever GET is, with the GET's
// status and headers and no body, decided as the GET is: for every GET
// route of the table, as anonymous, as a plain user and as an admin.
func TestHeadAnsweredAsGet(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	_, admin := mustUser(t, ls.srv, "root@example.com", "admin")
	_, user := mustUser(t, ls.srv, "erin@example.com", "user")
	callers := map[string][]string{"anonymous": nil, "user": {bearer(user)}, "admin": {bearer(admin)}}
	checked := 0
	for _, r := range ls.srv.routes {
		if r.method != http.MethodGet || r.path == "/api/admin/auth-failures/stream" {
			continue
		}
		path := strings.NewReplacer(":id", "1", ":name", "staff", ":user_id", "1").Replace(r.path)
		for who, headers := range callers {
			get := ls.do(t, request{path: path, headers: headers})
			head := ls.do(t, request{method: http.MethodHead, path: path, headers: headers})
			if head.status != get.status || len(head.body) != 0 {
				t.Errorf("%s HEAD %s: %d with %d body bytes; GET: %d", who, path, head.status, len(head.body), get.status)
			}
			if ct := head.header.Get("Content-Type"); ct != get.header.Get("Content-Type") {
				t.Errorf("%s HEAD %s: Content-Type %q, GET's %q", who, path, ct, get.header.Get("Content-Type"))
			}
			checked++
		}
	}
	if checked < 30 {
		t.Fatalf("only %d checks: the route table lost its GET routes?", checked)
	}
	// The stream answers HEAD with its headers and ends.
	head := ls.do(t, request{method: http.MethodHead, path: "/api/admin/auth-failures/stream", headers: []string{bearer(admin)}})
	if head.status != http.StatusOK || head.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD stream: %d %q", head.status, head.header.Get("Content-Type"))
	}
	// A method no route takes stays 405.
	wantStatus(t, ls.do(t, request{method: http.MethodHead, path: "/api/auth/login"}), http.StatusMethodNotAllowed)
}
