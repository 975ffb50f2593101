package tui

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// printable shows text that users chose (names, emails, descriptions,
// paths, rules, messages) with every character that would act on the
// terminal instead of showing escaped: controls (C0, C1 such as U+009B,
// a CSI), format characters (zero-width, text-direction overrides and
// isolates) and invalid UTF-8 become \xNN or \uNNNN. The server refuses
// such characters in names and emails; the console does not rely on it,
// since older data, paths and other text can hold them.
func printable(s string) string {
	if !strings.ContainsFunc(s, needsEscape) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case needsEscape(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// printableLines is printable for text laid out in lines: line breaks
// stay, everything else is escaped.
func printableLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = printable(l)
	}
	return strings.Join(lines, "\n")
}

func needsEscape(r rune) bool {
	return !unicode.IsPrint(r) && r != ' ' || unicode.Is(unicode.Cf, r)
}
