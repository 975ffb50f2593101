package main

import (
	"strings"
	"testing"
)

// TestOIDCSettingsRefused: a wrong provider setting stops start-up with
// exit code 1 and one line naming the variable, before any file is opened
// or the provider is contacted.
func TestOIDCSettingsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want []string // in the one line of stderr
	}{
		{"issuer not a URL", []string{"GATEHOUSE_OIDC_ISSUER=id.example.com", "GATEHOUSE_OIDC_AUDIENCE=api"}, []string{"GATEHOUSE_OIDC_ISSUER", "absolute URL"}},
		{"issuer over plain http", []string{"GATEHOUSE_OIDC_ISSUER=http://id.example.com", "GATEHOUSE_OIDC_AUDIENCE=api"}, []string{"GATEHOUSE_OIDC_ISSUER", "https"}},
		{"issuer without audience", []string{"GATEHOUSE_OIDC_ISSUER=https://id.example.com"}, []string{"GATEHOUSE_OIDC_AUDIENCE", "required"}},
		{"audience without issuer", []string{"GATEHOUSE_OIDC_AUDIENCE=api"}, []string{"GATEHOUSE_OIDC_ISSUER", "required"}},
		{"bad groups claim", []string{"GATEHOUSE_OIDC_ISSUER=https://id.example.com", "GATEHOUSE_OIDC_AUDIENCE=api", "GATEHOUSE_OIDC_GROUPS_CLAIM=realm_access..roles"}, []string{"GATEHOUSE_OIDC_GROUPS_CLAIM", "single dots"}},
		{"bad re-auth age", []string{"GATEHOUSE_OIDC_ISSUER=https://id.example.com", "GATEHOUSE_OIDC_AUDIENCE=api", "GATEHOUSE_OIDC_REAUTH_MAX_AGE=soon"}, []string{"GATEHOUSE_OIDC_REAUTH_MAX_AGE", "duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := append([]string{"GATEHOUSE_DB=" + dir + "/gatehouse.db", "GATEHOUSE_MODEL=" + repoFile(t, "model.conf"),
				"GATEHOUSE_POLICY=" + repoFile(t, "policy.csv"), "GATEHOUSE_ADDR=127.0.0.1:0"}, tt.env...)
			code, _, stderr := runGatehouse(t, env, "serve")
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != 1 || len(lines) != 1 {
				t.Fatalf("exit %d, stderr %q: want 1 and one line", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("stderr %q does not say %q", lines[0], w)
				}
			}
		})
	}
}
