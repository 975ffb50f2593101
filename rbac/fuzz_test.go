package rbac

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// genericModelText is a model whose values the compiled engine gives no
// meaning to, so that ValidateRule only checks their shape: the round trip
// of FormatCSVLine and ParseCSV is then fuzzed over any text a value may
// hold, not only over subjects, routes and methods.
const genericModelText = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, cond

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`

func mustGenericModel(t testing.TB) *Model {
	t.Helper()
	m, err := ParseModel(genericModelText)
	if err != nil {
		t.Fatal(err)
	}
	if m.Compiled() {
		t.Fatal("the generic model must not be the compiled one")
	}
	return m
}

// formatPolicy writes rules as a policy file, one FormatCSVLine a line.
func formatPolicy(rules []CSVRule) string {
	var b strings.Builder
	for _, r := range rules {
		b.WriteString(FormatCSVLine(r.Type, r.Values))
		b.WriteByte('\n')
	}
	return b.String()
}

// sameRules compares rules by type and values (not by line).
func sameRules(a, b []CSVRule) bool {
	return slices.EqualFunc(a, b, func(x, y CSVRule) bool {
		return x.Type == y.Type && slices.Equal(x.Values, y.Values)
	})
}

// FuzzParseCSV feeds any text to ParseCSV under the shipped model and a
// generic one. It must not panic; what it accepts must be rules the model
// accepts, and writing them back with FormatCSVLine must read back the same
// rules, each on its own line.
func FuzzParseCSV(f *testing.F) {
	models := []*Model{mustModel(f), mustGenericModel(f)}
	f.Fuzz(func(t *testing.T, generic bool, data []byte) {
		m := models[0]
		if generic {
			m = models[1]
		}
		rules, err := ParseCSV(bytes.NewReader(data), m)
		if err != nil {
			if rules != nil {
				t.Fatalf("%q: rules and an error", data)
			}
			return
		}
		for _, r := range rules {
			if p := m.ValidateRule(r.Type, r.Values); p != nil {
				t.Fatalf("%q: accepted line %d that the model refuses: %v", data, r.Line, p)
			}
		}
		text := formatPolicy(rules)
		again, err := ParseCSV(strings.NewReader(text), m)
		if err != nil {
			t.Fatalf("%q was accepted, its formatting %q is not: %v", data, text, err)
		}
		if !sameRules(rules, again) {
			t.Fatalf("%q: read %+v, formatted %q, read back %+v", data, rules, text, again)
		}
		for i, r := range again {
			if r.Line != i+1 {
				t.Fatalf("%q: rule %d of the formatted policy reported on line %d", text, i, r.Line)
			}
		}
	})
}

// FuzzFormatCSVLine starts from the values: any rule the model accepts,
// written with FormatCSVLine, reads back with ParseCSV as exactly that rule.
func FuzzFormatCSVLine(f *testing.F) {
	models := []*Model{mustModel(f), mustGenericModel(f)}
	f.Fuzz(func(t *testing.T, generic bool, typ, v0, v1, v2, v3 string) {
		m := models[0]
		if generic {
			m = models[1]
		}
		values := []string{v0, v1, v2, v3}[:max(m.Arity(typ), 0)]
		if m.Arity(typ) == 0 || m.ValidateRule(typ, values) != nil {
			return
		}
		line := FormatCSVLine(typ, values)
		rules, err := ParseCSV(strings.NewReader(line), m)
		if err != nil {
			t.Fatalf("%s %q formatted as %q: %v", typ, values, line, err)
		}
		want := []CSVRule{{Type: typ, Values: values}}
		if !sameRules(rules, want) {
			t.Fatalf("%s %q formatted as %q read back as %+v", typ, values, line, rules)
		}
	})
}

// csvField quotes a value for a decisions file when CSV needs it.
func csvField(v string) string {
	if strings.ContainsAny(v, ",\"\r\n#") || strings.TrimSpace(v) != v || v == "" {
		return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	return v
}

// formatDecisions writes a parsed decisions file back: rules first, then
// the cases, which ParseDecisions reads the same whatever the order.
func formatDecisions(df *DecisionFile) string {
	var b strings.Builder
	for _, r := range df.Rules {
		fmt.Fprintln(&b, FormatCSVLine(r.Type, r.Values))
	}
	for _, c := range df.Cases {
		owner := c.Request.Owner
		if owner == "" {
			owner = "-"
		}
		fields := []string{c.Request.Sub, c.Request.Obj, c.Request.Act, owner, c.Expected, c.Request.MFA}
		for i, v := range fields {
			fields[i] = csvField(v)
		}
		fmt.Fprintln(&b, strings.Join(fields, ", "))
	}
	return b.String()
}

// FuzzParseDecisions feeds any text to ParseDecisions. It must not panic;
// what it accepts must hold only rules the model accepts and cases with a
// subject, object, action, a known outcome and a known mfa state, and must
// read back the same when written out again.
func FuzzParseDecisions(f *testing.F) {
	m := mustModel(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		df, err := ParseDecisions(bytes.NewReader(data), m)
		if err != nil {
			if df != nil {
				t.Fatalf("%q: a file and an error", data)
			}
			return
		}
		for _, r := range df.Rules {
			if p := m.ValidateRule(r.Type, r.Values); p != nil {
				t.Fatalf("%q: accepted rule on line %d that the model refuses: %v", data, r.Line, p)
			}
		}
		for _, c := range df.Cases {
			r := c.Request
			switch {
			case r.Sub == "" || r.Obj == "" || r.Act == "":
				t.Fatalf("%q: line %d: empty subject, object or action: %+v", data, c.Line, r)
			case c.Expected != ExpectAllow && c.Expected != ExpectDeny && c.Expected != ExpectStepUp:
				t.Fatalf("%q: line %d: outcome %q", data, c.Line, c.Expected)
			case r.MFA != MFANone && r.MFA != MFAMissing && r.MFA != MFAVerified:
				t.Fatalf("%q: line %d: mfa %q", data, c.Line, r.MFA)
			}
		}
		text := formatDecisions(df)
		again, err := ParseDecisions(strings.NewReader(text), m)
		if err != nil {
			t.Fatalf("%q was accepted, its formatting %q is not: %v", data, text, err)
		}
		if !sameRules(df.Rules, again.Rules) {
			t.Fatalf("%q: rules %+v, read back %+v", data, df.Rules, again.Rules)
		}
		if !slices.EqualFunc(df.Cases, again.Cases, func(a, b Case) bool {
			return reflect.DeepEqual(a.Request, b.Request) && a.Expected == b.Expected
		}) {
			t.Fatalf("%q: cases %+v, formatted %q, read back %+v", data, df.Cases, text, again.Cases)
		}
	})
}
