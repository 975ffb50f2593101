package api

import (
	"context"
	"net/http"
	"net/url"
)

// The caller's own credentials: the second factor and personal API tokens.
// These calls need a login session; a personal token is refused them.

// SetupMFA starts enrolling a second factor: the answer holds the secret
// for an authenticator app, shown this once.
func (c *Client) SetupMFA(ctx context.Context) (MFASetup, error) {
	var out MFASetup
	err := c.do(ctx, http.MethodPost, "/api/auth/mfa/setup", nil, nil, &out)
	return out, err
}

// EnableMFA turns the second factor on with a code from the app and the
// password. The caller's other login sessions end.
func (c *Client) EnableMFA(ctx context.Context, in MFAEnableRequest) (User, error) {
	var out User
	err := c.do(ctx, http.MethodPost, "/api/auth/mfa/enable", nil, in, &out)
	return out, err
}

// DisableMFA turns the second factor off with a current code or the
// password.
func (c *Client) DisableMFA(ctx context.Context, in MFADisableRequest) error {
	return c.do(ctx, http.MethodDelete, "/api/auth/mfa", nil, in, nil)
}

// ListTokens lists the caller's personal API tokens, never their secrets.
func (c *Client) ListTokens(ctx context.Context, opts ListOptions) (List[Token], error) {
	var out List[Token]
	err := c.do(ctx, http.MethodGet, "/api/auth/tokens", opts.query(), nil, &out)
	return out, err
}

// CreateToken makes a personal API token. Its secret is in the answer and
// nowhere else, ever.
func (c *Client) CreateToken(ctx context.Context, in CreateTokenRequest) (CreatedToken, error) {
	var out CreatedToken
	err := c.do(ctx, http.MethodPost, "/api/auth/tokens", nil, in, &out)
	return out, err
}

// RevokeToken revokes one of the caller's tokens.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/auth/tokens/"+url.PathEscape(id), nil, nil, nil)
}
