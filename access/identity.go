package access

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/rbac"
)

// Bounds of identity text.
const (
	// maxEmailLen is the longest email an account may have.
	maxEmailLen = 254
	// maxNames bounds the roles or groups one change may set.
	maxNames = 100
)

// CheckEmail returns the problem with an email address for an account, or
// "".
func CheckEmail(email string) string {
	if len(email) > maxEmailLen {
		return "must be at most 254 characters"
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return "must be an email address like name@example.com"
	}
	return ""
}

// CheckName returns the problem with a display name, or "".
func CheckName(name string) string {
	if utf8.RuneCountInString(name) > 100 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "must be at most 100 printable characters"
	}
	return ""
}

// CleanNames checks a list of role or group names and drops repeats,
// keeping the order. It returns the problem with the list, or "".
func CleanNames(names []string) ([]string, string) {
	if len(names) > maxNames {
		return nil, fmt.Sprintf("must hold at most %d names", maxNames)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !rbac.ValidName(n) {
			return nil, fmt.Sprintf("%q is not a name: 1 to 64 lower case letters, digits, '_', '.' or '-'", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, ""
}
