package app

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Personal API tokens are for scripts and other services. A token is a
// store.Session of kind token: its secret ("gatehouse_pat_" and 43
// characters, a prefix secret scanners can look for) is shown once and
// stored only as its SHA-256. It works as a Bearer token, acts as its user
// with the user's roles at the time of each request, needs no CSRF token,
// and stops working at once when it is revoked, expires or its user is
// disabled (authenticate looks it up on every request).
//
// A read-only token may only use safe methods (GET, HEAD, OPTIONS): the
// authorization middleware refuses anything else with 403, after the policy
// and whatever it grants. A token never counts as a proven second factor,
// and it cannot manage tokens or the second factor (refuseTokenCaller).
const (
	maxTokenNameLen  = 100
	maxTokensPerUser = 100
	minTokenLifetime = time.Minute
	maxTokenLifetime = 10 * 365 * 24 * time.Hour
)

// ownerOfToken loads the personal token of the route's :id for the
// authorization middleware and keeps it for the handler. Login sessions
// are not tokens: their ids answer as if they did not exist.
func (s *Server) ownerOfToken(c echo.Context) (uint64, error) {
	id, err := store.ParseID(c.Param("id"))
	if err != nil {
		return 0, err
	}
	var t store.Session
	err = s.db.View(c.Request().Context(), func(tx store.Tx) error {
		t, err = tx.Sessions().Get(id)
		return err
	})
	if err != nil {
		return 0, err
	}
	if t.Kind != store.KindToken {
		return 0, store.ErrNotFound
	}
	c.Set(ctxResource, t)
	return t.UserID, nil
}

func toToken(t store.Session) api.Token {
	out := api.Token{ID: store.FormatID(t.ID), Name: t.Name, ReadOnly: t.ReadOnly, CreatedAt: t.CreatedAt}
	if !t.ExpiresAt.IsZero() {
		exp := t.ExpiresAt
		out.ExpiresAt = &exp
	}
	return out
}

// liveTokens returns the user's tokens that have not expired, in id order.
func liveTokens(tx store.Tx, userID uint64, now time.Time) ([]store.Session, error) {
	all, err := tx.Sessions().OfUser(userID, store.KindToken)
	if err != nil {
		return nil, err
	}
	live := all[:0]
	for _, t := range all {
		if !t.Expired(now) {
			live = append(live, t)
		}
	}
	return live, nil
}

// handleTokenList lists the caller's live tokens, never their secrets. The
// cursor is the id of the last token of the previous page.
func (s *Server) handleTokenList(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	after, err := p.ID()
	if err != nil {
		return err
	}
	var tokens []store.Session
	err = s.db.View(c.Request().Context(), func(tx store.Tx) error {
		tokens, err = liveTokens(tx, callerOf(c).user.ID, s.now())
		return err
	})
	if err != nil {
		return err
	}
	out := api.List[api.Token]{Items: []api.Token{}}
	var last uint64
	for _, t := range tokens {
		if t.ID <= after {
			continue
		}
		if len(out.Items) == p.Limit {
			out.NextCursor = store.IDCursor(last)
			break
		}
		out.Items = append(out.Items, toToken(t))
		last = t.ID
	}
	return c.JSON(http.StatusOK, out)
}

// checkTokenRequest returns the problems of a token request and the
// lifetime it asks for (0: no expiry).
func checkTokenRequest(in *api.CreateTokenRequest) (time.Duration, map[string]string) {
	problems := map[string]string{}
	in.Name = strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(in.Name); n < 1 || n > maxTokenNameLen || access.CheckName(in.Name) != "" {
		problems["name"] = "must be 1 to 100 printable characters"
	}
	var lifetime time.Duration
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d < minTokenLifetime || d > maxTokenLifetime {
			problems["expires_in"] = "must be a duration like 720h, from 1m to 87600h (ten years); leave it out for a token that does not expire"
		}
		lifetime = d
	}
	if len(problems) > 0 {
		return 0, problems
	}
	return lifetime, nil
}

// handleTokenCreate makes a token for the caller and shows its secret, the
// only time it is ever shown.
func (s *Server) handleTokenCreate(c echo.Context) error {
	cl := callerOf(c)
	if err := refuseTokenCaller(c, cl); err != nil {
		return err
	}
	var in api.CreateTokenRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	lifetime, problems := checkTokenRequest(&in)
	if problems != nil {
		return invalidInput(problems)
	}
	secret, hash := newSecret(tokenPrefix)
	now := s.now().UTC()
	t := store.Session{UserID: cl.user.ID, Kind: store.KindToken, Name: in.Name, ReadOnly: in.ReadOnly, CreatedAt: now}
	if lifetime > 0 {
		t.ExpiresAt = now.Add(lifetime)
	}
	err := s.db.Update(c.Request().Context(), func(tx store.Tx) error {
		live, err := liveTokens(tx, cl.user.ID, now)
		if err != nil {
			return err
		}
		if len(live) >= maxTokensPerUser {
			return apiError(http.StatusConflict, api.CodeConflict, "you have 100 tokens: revoke one first")
		}
		if err := tx.Sessions().Create(&t, hash); err != nil {
			return err
		}
		return access.Record(tx, access.UserActor(cl.user), "token.create", tokenTarget(t), nil, tokenAuditState(t))
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusCreated, api.CreatedToken{Token: toToken(t), Secret: secret})
}

// handleTokenDelete revokes one of the caller's tokens: the next request
// made with it is refused.
func (s *Server) handleTokenDelete(c echo.Context) error {
	cl := callerOf(c)
	if err := refuseTokenCaller(c, cl); err != nil {
		return err
	}
	t, ok := resourceOf[store.Session](c)
	if !ok {
		return errNotFound
	}
	err := s.db.Update(c.Request().Context(), func(tx store.Tx) error {
		if err := tx.Sessions().Delete(t.ID); err != nil {
			return err
		}
		return access.Record(tx, access.UserActor(cl.user), "token.revoke", tokenTarget(t), tokenAuditState(t), nil)
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func tokenTarget(t store.Session) string { return "token:" + store.FormatID(t.ID) }

// tokenAuditState is what the audit log keeps of a token: never its secret
// or hash.
func tokenAuditState(t store.Session) map[string]any {
	state := map[string]any{"name": t.Name, "read_only": t.ReadOnly, "user_id": store.FormatID(t.UserID)}
	if !t.ExpiresAt.IsZero() {
		state["expires_at"] = t.ExpiresAt
	}
	return state
}
