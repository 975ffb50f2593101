package app

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
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

// hasHiddenRune reports whether s holds a control, format or separator
// character.
func hasHiddenRune(s string) bool { return strings.ContainsFunc(s, hiddenRune) }

// canonicalEmail is the form an email is kept in: trimmed and in Unicode
// NFKC, so that compatibility look-alikes (the Kelvin sign K, full-width
// letters, ligatures) become the letters they stand for before the email
// is checked, stored or compared. The store compares emails in this form
// lower-cased (store.NormalizeEmail), so a look-alike is the same address.
func canonicalEmail(email string) string { return norm.NFKC.String(strings.TrimSpace(email)) }
