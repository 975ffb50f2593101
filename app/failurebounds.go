package app

import (
	"net/http"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/store"
)

// Everything a client controls in an auth-failure record is bounded here,
// before the record is logged, folded, queued or stored: a flood of
// distinct junk then costs at most a small record per fold key, and the
// log, the file (which also caps the number of records, oldest first) and
// the writer's memory stay bounded. Without it, a 60 KB HTTP method became
// a 60 KB log line, a 60 KB record and a fresh fold key on every request.
const (
	// otherMethod stands for every method no route takes: they are all
	// one value, so junk methods fold into one record per client.
	otherMethod = "OTHER"
	// Byte bounds of the fields of one record (maxFailurePath is the
	// path's). A record, and its log line, stay within a few KB.
	maxFailureIP          = 64
	maxFailureRoute       = 256
	maxFailureReason      = 64
	maxFailureRule        = 256 // subject, object and action of a denial
	maxFailureExplanation = 1024
)

// failureMethod buckets a request method: the standard methods as they
// are, anything else as otherMethod.
func failureMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return otherMethod
}

// cutText cuts s to at most n bytes without splitting a character, and
// replaces invalid UTF-8, so that a cut field is still valid text.
func cutText(s string, n int) string {
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // invalid bytes become U+FFFD
	}
	return s
}

// boundFailure cuts every field of rec to its bound and buckets the method.
func boundFailure(rec *store.AuthFailure) {
	rec.Method = failureMethod(rec.Method)
	rec.IP = cutText(rec.IP, maxFailureIP)
	rec.Path = cutText(rec.Path, maxFailurePath)
	rec.Route = cutText(rec.Route, maxFailureRoute)
	rec.Reason = cutText(rec.Reason, maxFailureReason)
	rec.Subject = cutText(rec.Subject, maxFailureRule)
	rec.Object = cutText(rec.Object, maxFailureRule)
	rec.Action = cutText(rec.Action, maxFailureRule)
	rec.Explanation = cutText(rec.Explanation, maxFailureExplanation)
}
