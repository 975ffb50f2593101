package app

import (
	"net/http"

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
// Making one needs the account's password, checked and counted like a
// login, so a stolen session cannot mint a credential that outlives it.

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
	tokens, err := s.access.Tokens(c.Request().Context(), callerOf(c).user.ID)
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
	secret, hash := newSecret(tokenPrefix)
	t, err := s.access.CreateToken(c.Request().Context(), cl.user, access.NewToken{
		Name: in.Name, ReadOnly: in.ReadOnly, ExpiresIn: in.ExpiresIn, Password: in.Password,
		Prove: func(password string) error { return s.proveIdentity(c, cl, password) },
	}, hash)
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
	if err := s.access.RevokeToken(c.Request().Context(), cl.user, t); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
