package app

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/idp"
	"github.com/labstack/echo/v4"
)

// Identity from an OpenID Connect provider. With Config.OIDC set, a Bearer
// token shaped like a JWT is the provider's: verified on every request
// (package idp), never stored. Its issuer and sub reach one gatehouse user,
// made on first use (access.LinkedUser); the values of its groups claim are
// group:<value> subjects for this request only (rbac.Request.Groups), so a
// group taken away at the provider stops granting with the next token.

// Reasons a provider token is refused beyond idp's, as the auth-failure
// log records them.
const (
	failUserDisabled = "user_disabled"
	failEmailTaken   = "email_taken"
	// failStaleAuth: a linked user's token stood in for the password, but
	// the person signed in at the provider too long ago.
	failStaleAuth = "stale_auth_time"
)

// providerIdentity is what the caller's provider token said.
type providerIdentity struct {
	// groups are the groups claim's values as subjects (group:<value>).
	groups   []string
	authTime time.Time
}

// groups are the subjects the caller holds for this request only.
func (cl *caller) groups() []string {
	if cl == nil || cl.identity == nil {
		return nil
	}
	return cl.identity.groups
}

// providerCaller verifies a provider token and finds (or, on first use,
// makes) its user. Every refusal is 401 unauthorized, recorded with its
// reason.
func (s *Server) providerCaller(c echo.Context, raw string) (*caller, error) {
	ctx := c.Request().Context()
	id, err := s.provider.Verify(ctx, raw)
	if err != nil {
		var e *idp.Error
		reason := idp.ReasonBadSignature
		if errors.As(err, &e) {
			reason = e.Reason
		}
		if reason == idp.ReasonUnavailable {
			s.log.Warn("OpenID Connect provider unreachable", "issuer", s.provider.Issuer(), "error", err.Error())
		}
		c.Set(ctxFailReason, reason)
		return nil, errUnauthorized
	}
	u, err := s.access.LinkedUser(ctx, access.Identity{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, Name: id.Name})
	var refusal *access.Error
	switch {
	case errors.Is(err, access.ErrIdentityEmailTaken):
		c.Set(ctxFailReason, failEmailTaken)
		return nil, apiError(http.StatusUnauthorized, api.CodeUnauthorized,
			"the token's email belongs to an account that is not linked to this identity: an admin must change that account's email first")
	case errors.As(err, &refusal) && refusal.Kind == access.Invalid:
		c.Set(ctxFailReason, idp.ReasonBadClaims)
		return nil, errUnauthorized
	case err != nil:
		return nil, err
	case u.Disabled:
		c.Set(ctxFailReason, failUserDisabled)
		return nil, errUnauthorized
	}
	groups := make([]string, len(id.Groups))
	for i, g := range id.Groups {
		groups[i] = groupPrefix + g
	}
	return &caller{user: u, secret: raw, identity: &providerIdentity{groups: groups, authTime: id.AuthTime}}, nil
}

const groupPrefix = "group:"

// discoverProvider reads the provider's discovery document at start-up, so
// that a wrong issuer shows in the log at once. A provider that does not
// answer does not stop the server: its tokens are refused
// (provider_unavailable) and discovery is tried again, at most once per
// key refresh interval, by the requests that bring them.
func (s *Server) discoverProvider(ctx context.Context) {
	if err := s.provider.Discover(ctx); err != nil {
		s.log.Warn("OpenID Connect provider not reachable at start-up: its tokens are refused until it answers",
			"issuer", s.provider.Issuer(), "error", err.Error())
		return
	}
	s.log.Info("OpenID Connect provider discovered", "issuer", s.provider.Issuer())
}

// proveWithProvider checks that a provider-linked caller signed in at the
// provider recently enough for their token to stand in for a password
// before a credential change. A token that does not say when (no
// auth_time) proves nothing.
func (s *Server) proveWithProvider(c echo.Context, cl *caller) error {
	maxAge := orDefault(s.cfg.OIDCReauthMaxAge, defaultReauthMaxAge)
	at := cl.identity.authTime
	if at.IsZero() || s.now().Sub(at) > maxAge || at.After(s.now().Add(time.Minute)) {
		c.Set(ctxFailReason, failStaleAuth)
		return apiError(http.StatusUnauthorized, api.CodeInvalidCredentials,
			"sign in at your identity provider again (for example with max_age="+strconv.Itoa(int(maxAge.Seconds()))+
				") and send the new token: this change needs a sign-in within the last "+maxAge.String())
	}
	return nil
}

// proveIdentity is the proof a credential change needs: a fresh provider
// sign-in for a caller who came with a provider token, else the password.
func (s *Server) proveIdentity(c echo.Context, cl *caller, password string) error {
	if cl.identity != nil {
		if password != "" {
			return invalidInput(map[string]string{"password": "must be left out: this account has no password; a recent sign-in at your identity provider proves it is you"})
		}
		return s.proveWithProvider(c, cl)
	}
	return s.checkCurrentPassword(c, cl.user, password)
}

// requestGroups reads the groups a what-if asks as a member of: bare names
// or group:name, within the bounds a provider token has.
func requestGroups(names []string) ([]string, string) {
	if len(names) > idp.MaxGroups {
		return nil, "must hold at most 100 groups"
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		n = strings.TrimPrefix(strings.TrimSpace(n), groupPrefix)
		if n == "" || len(n) > idp.MaxGroupLen || access.HasHiddenRune(n) {
			return nil, "each must be a group name of 1 to 256 printable bytes"
		}
		out = append(out, groupPrefix+n)
	}
	return out, ""
}
