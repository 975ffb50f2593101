package idp

import (
	"slices"
	"strings"
	"testing"
)

// TestClaimLookup: claim paths reach nested claims, a URL names one claim,
// and the groups claim is read within its bounds.
func TestClaimLookup(t *testing.T) {
	t.Parallel()
	claims := map[string]any{
		"groups":                     []any{"a", "b", "a"},
		"realm_access":               map[string]any{"roles": []any{"admin"}},
		"https://example.com/groups": "ops",
		"bad":                        []any{"ok", 7},
	}
	tests := []struct {
		path    string
		want    []string
		wantErr bool
	}{
		{"groups", []string{"a", "b"}, false},
		{"realm_access.roles", []string{"admin"}, false},
		{"https://example.com/groups", []string{"ops"}, false},
		{"missing.path", nil, false},
		{"realm_access", nil, true},
		{"bad", nil, true},
	}
	for _, tc := range tests {
		got, err := groupValues(lookup(claims, ClaimPath(tc.path)))
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v (error %v)", tc.path, got, err, tc.want, tc.wantErr)
		}
	}
	many := make([]any, MaxGroups+1)
	for i := range many {
		many[i] = "g"
	}
	for name, v := range map[string]any{
		"too many":     many,
		"too long":     []any{strings.Repeat("x", MaxGroupLen+1)},
		"empty":        []any{""},
		"control char": []any{"a\x1bb"},
	} {
		if _, err := groupValues(v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestConfigCheck: the settings a verifier refuses.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	good := Config{Issuer: "https://id.example.com/realms/acme", Audience: "api"}
	if err := good.Check(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, cfg := range map[string]Config{
		"no audience":      {Issuer: good.Issuer},
		"relative issuer":  {Issuer: "id.example.com", Audience: "api"},
		"http issuer":      {Issuer: "http://id.example.com", Audience: "api"},
		"issuer query":     {Issuer: "https://id.example.com/?x=1", Audience: "api"},
		"bad groups claim": {Issuer: good.Issuer, Audience: "api", GroupsClaim: "a..b"},
	} {
		if err := cfg.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	loopback := Config{Issuer: "http://127.0.0.1:5556/dex", Audience: "api"}
	if err := loopback.Check(); err != nil {
		t.Errorf("http on loopback: %v", err)
	}
}
