package app

import (
	"strings"

	"github.com/gatehouse/gatehouse/rbac"
)

// mayUse lists the admin routes ("GET /api/admin/users") the caller may
// use, decided by the same engine and rules as the requests themselves,
// for this session (its second factor) and token (read-only). A client
// shows what it offers from this list instead of trying a route and
// leaving a refusal in the auth-failure log. Admin routes have no owner,
// so the decision needs none.
func (s *Server) mayUse(cl *caller) []string {
	may := []string{}
	for _, r := range s.routes {
		if !strings.HasPrefix(r.path, "/api/admin/") || r.owner != nil {
			continue
		}
		if cl.readOnly() && !safeMethod(r.method) {
			continue
		}
		d := s.authz.Decide(rbac.Request{Sub: cl.subject(), Obj: r.path, Act: r.method, MFA: cl.mfa(), Groups: cl.groups()})
		if d.Allowed {
			may = append(may, r.method+" "+r.path)
		}
	}
	return may
}
