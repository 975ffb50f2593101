package access

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/rbac"
	"golang.org/x/text/unicode/norm"
)

// Bounds of identity text.
const (
	// maxEmailLen is the longest email an account may have.
	maxEmailLen = 254
	// maxNames bounds the roles or groups one change may set.
	maxNames = 100
)

// Identity text: names, emails, descriptions and token names are shown to
// other people (admins in the console, the audit log), so they must not
// carry characters that act instead of showing: C0 and C1 controls
// (U+0080 to U+009F include a terminal's CSI), format characters (Unicode
// category Cf: zero-width characters, the direction overrides U+202A to
// U+202E and isolates U+2066 to U+2069 that make text read backwards), and
// the line and paragraph separators.

// hiddenRune reports whether r is a character identity text may not hold.
func hiddenRune(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// HasHiddenRune reports whether s holds a control, format or separator
// character.
func HasHiddenRune(s string) bool { return strings.ContainsFunc(s, hiddenRune) }

// CanonicalEmail is the form an email is kept in: trimmed and in Unicode
// NFKC, so that compatibility look-alikes (the Kelvin sign K, full-width
// letters, ligatures) become the letters they stand for before the email
// is checked, stored or compared. The store compares emails in this form
// lower-cased (store.NormalizeEmail), so a look-alike is the same address.
func CanonicalEmail(email string) string { return norm.NFKC.String(strings.TrimSpace(email)) }

// CheckEmail returns the problem with an email address for an account, or
// "".
func CheckEmail(email string) string {
	if len(email) > maxEmailLen {
		return "must be at most 254 characters"
	}
	if HasHiddenRune(email) {
		return "must not hold control, format or text-direction characters"
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return "must be an email address like name@example.com"
	}
	return ""
}

// CheckName returns the problem with a display name, or "".
func CheckName(name string) string {
	if utf8.RuneCountInString(name) > 100 || HasHiddenRune(name) {
		return "must be at most 100 printable characters, without control, format or text-direction characters"
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
