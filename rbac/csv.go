package rbac

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CSVRule is one line of a policy CSV file.
type CSVRule struct {
	Line   int
	Type   string
	Values []string
}

// maxCSVRules bounds how many rules one CSV may hold.
const maxCSVRules = 1_000_000

// ParseCSV reads a policy in Casbin's CSV format ("p, sub, obj, act, cond"),
// with '#' comments and standard CSV quoting for values that hold commas or
// quotes. It checks every rule against m and reports all problems at once:
// a file is taken whole or not at all.
func ParseCSV(r io.Reader, m *Model) ([]CSVRule, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	var rules []CSVRule
	var problems []string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("line %d: %v", pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("policy csv: %w", err)
		}
		// FieldPos only knows the record Read returned: after the error
		// check, or it panics on a record that failed to parse.
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		for i := range rec {
			rec[i] = strings.TrimRight(rec[i], " \t")
		}
		typ, values := rec[0], rec[1:]
		if p := m.ValidateRule(typ, values); p != nil {
			problems = append(problems, fmt.Sprintf("line %d: %s", line, (&ValidationError{Details: p}).Error()[len("rbac: invalid rule: "):]))
		}
		if len(rules) >= maxCSVRules {
			return nil, fmt.Errorf("line %d: more than %d rules", line, maxCSVRules)
		}
		rules = append(rules, CSVRule{Line: line, Type: typ, Values: values})
	}
	if len(problems) > 0 {
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("and %d more", len(problems)-20))
		}
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return rules, nil
}

// FormatCSVLine writes one rule in the format of policy.csv: values
// separated by ", ", quoted only when they hold a comma, a quote, or
// leading or trailing space.
func FormatCSVLine(typ string, values []string) string {
	var b strings.Builder
	b.WriteString(typ)
	for _, v := range values {
		b.WriteString(", ")
		if strings.ContainsAny(v, ",\"\r\n") || strings.TrimSpace(v) != v || v == "" {
			b.WriteByte('"')
			b.WriteString(strings.ReplaceAll(v, `"`, `""`))
			b.WriteByte('"')
		} else {
			b.WriteString(v)
		}
	}
	return b.String()
}
