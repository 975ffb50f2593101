package app

import (
	"context"
	"errors"
	"github.com/gatehouse/gatehouse/access"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
)

// TestCredentialsClient drives the second factor and tokens through the
// typed client, as a Go program or the console would, and checks that its
// errors come back as *api.Error with the server's code.
func TestCredentialsClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts, clock := newClockedServer(t)
	frank := ts.mustUser([]string{"user"})
	c := api.NewClient(ts.http.URL, frank.Token)

	setup, err := c.SetupMFA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnableMFA(ctx, api.MFAEnableRequest{OTP: "000000", Password: testPassword}); !api.IsCode(err, api.CodeInvalidCredentials) {
		t.Fatalf("enable with a wrong code: %v", err)
	}
	me, err := c.EnableMFA(ctx, api.MFAEnableRequest{OTP: totpCode(t, setup.Secret, clock, 0), Password: testPassword})
	if err != nil || !me.MFAEnabled {
		t.Fatalf("enable: %+v, %v", me, err)
	}
	clock.Advance(access.TOTPPeriod * time.Second)
	login := api.NewClient(ts.http.URL, "")
	if _, err := login.Login(ctx, api.LoginRequest{Email: frank.Email, Password: testPassword}); !api.IsCode(err, api.CodeMFARequired) {
		t.Fatalf("login without a code: %v", err)
	}
	if _, err := login.Login(ctx, api.LoginRequest{Email: frank.Email, Password: testPassword, OTP: totpCode(t, setup.Secret, clock, 0)}); err != nil {
		t.Fatal(err)
	}

	tok, err := login.CreateToken(ctx, api.CreateTokenRequest{Password: testPassword, Name: "client", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	script := api.NewClient(ts.http.URL, tok.Secret)
	if u, err := script.Me(ctx); err != nil || u.ID != me.ID {
		t.Fatalf("me with the token: %+v, %v", u, err)
	}
	if _, err := script.CreateToken(ctx, api.CreateTokenRequest{Password: testPassword, Name: "child"}); !api.IsCode(err, api.CodeForbidden) {
		t.Fatalf("a token making a token: %v", err)
	}
	list, err := login.ListTokens(ctx, api.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0] != tok.Token {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if err := login.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := script.Me(ctx); !api.IsCode(err, api.CodeUnauthorized) {
		t.Fatalf("me with a revoked token: %v", err)
	}

	admin := api.NewClient(ts.http.URL, ts.admin.Token)
	if err := admin.ResetMFA(ctx, me.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := login.Me(ctx); !api.IsCode(err, api.CodeUnauthorized) {
		t.Fatalf("me with a session ended by the reset: %v", err)
	}
	err = admin.ResetMFA(ctx, "999")
	var e *api.Error
	if !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Code != api.CodeNotFound {
		t.Fatalf("reset of no one: %v", err)
	}
}
