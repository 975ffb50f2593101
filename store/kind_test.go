package store

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestCheckKind holds CheckKind to the pattern it documents, on edge cases
// and on random strings over an alphabet that has every class of byte it
// tells apart.
func TestCheckKind(t *testing.T) {
	pattern := regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	cases := []string{"", "a", "notes", "a_1", "1a", "_a", "A", "aB", "a-b", "a b", "a\\n", "é",
		strings.Repeat("a", 32), strings.Repeat("a", 33), "a" + strings.Repeat("9", 31)}
	const alphabet = "az09_AZ-. \\n\\x00é"
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		b := make([]byte, r.IntN(36))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, k := range cases {
		if got, want := CheckKind(k) == nil, pattern.MatchString(k); got != want {
			t.Errorf("CheckKind(%q) accepts: %v, the pattern: %v", k, got, want)
		}
	}
}
