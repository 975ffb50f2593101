package main

import (
	"io"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/app"
)

// GATEHOUSE_COOKIE_SAMESITE reaches app.Config: strict by default, lax when
// asked (in any case), the flag over the variable.
func TestCookieSameSiteSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  string
		args []string
		want http.SameSite
	}{
		{"", nil, http.SameSiteStrictMode},
		{"lax", nil, http.SameSiteLaxMode},
		{"Strict", nil, http.SameSiteStrictMode},
		{" LAX ", nil, http.SameSiteLaxMode},
		{"lax", []string{"--cookie-samesite", "strict"}, http.SameSiteStrictMode},
	} {
		c := serveConfig{Config: app.DefaultConfig()}
		getenv := func(k string) string {
			if k == "GATEHOUSE_COOKIE_SAMESITE" {
				return tc.env
			}
			return ""
		}
		if err := parseSettings("serve", serveSettings(&c), tc.args, getenv, io.Discard); err != nil || c.CookieSameSite != tc.want {
			t.Errorf("%q %v: SameSite %v, %v; want %v", tc.env, tc.args, c.CookieSameSite, err, tc.want)
		}
	}
}
