package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"regexp"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
)

// requestBodies makes a value of every request body type the API decodes.
// A new request type belongs here, with seeds in testdata/fuzz/FuzzDecode;
// the bodies of owned resources join by themselves (see init below).
var requestBodies = []func() any{
	func() any { return new(api.RegisterRequest) },
	func() any { return new(api.LoginRequest) },
	func() any { return new(api.UpdateMeRequest) },
	func() any { return new(api.MFAEnableRequest) },
	func() any { return new(api.MFADisableRequest) },
	func() any { return new(api.CreateTokenRequest) },
	func() any { return new(api.NoteInput) },
	func() any { return new(api.CreateUserRequest) },
	func() any { return new(api.UpdateUserRequest) },
	func() any { return new(api.CreateGroupRequest) },
	func() any { return new(api.UpdateGroupRequest) },
	func() any { return new(api.RuleInput) },
	func() any { return new(api.PolicyImport) },
	func() any { return new(api.CheckRequest) },
}

// init adds the body of every declared owned resource that the list does
// not hold yet, after the others (the seeds are numbered by position).
func init() {
	have := map[reflect.Type]bool{}
	for _, mk := range requestBodies {
		have[reflect.TypeOf(mk())] = true
	}
	for _, r := range declaredResources {
		if t := reflect.TypeOf(r.newBody()); !have[t] {
			have[t] = true
			requestBodies = append(requestBodies, r.newBody)
		}
	}
}

// quoted is a client's own text echoed in a message (an unknown field's
// name), which may look like anything.
var quoted = regexp.MustCompile(`"(\\.|[^"\\])*"`)

// FuzzDecode feeds any bytes to decodeStrict as every request type. It
// must not panic; a refusal must be a 400 invalid_json or invalid_input
// whose words are ours, not Go's; an accepted body must survive encoding
// and decoding again unchanged.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		mk := requestBodies[int(kind)%len(requestBodies)]
		v := mk()
		err := decodeStrict(bytes.NewReader(data), v)
		if err != nil {
			var e *api.Error
			if !errors.As(err, &e) {
				t.Fatalf("%T %q: not an API error: %v", v, data, err)
			}
			if e.Status != http.StatusBadRequest || e.Code != api.CodeInvalidJSON && e.Code != api.CodeInvalidInput {
				t.Fatalf("%T %q: %d %s", v, data, e.Status, e.Code)
			}
			if m := goText.FindString(quoted.ReplaceAllString(e.Message, `""`)); m != "" {
				t.Fatalf("%T %q: message shows %q: %s", v, data, m, e.Message)
			}
			for field, problem := range e.Details {
				if m := goText.FindString(problem); m != "" || field == "" {
					t.Fatalf("%T %q: details %v", v, data, e.Details)
				}
			}
			return
		}
		once, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		again := mk()
		if err := decodeStrict(bytes.NewReader(once), again); err != nil {
			t.Fatalf("%T: %s was accepted, its encoding %s is not: %v", v, data, once, err)
		}
		if twice, _ := json.Marshal(again); !bytes.Equal(once, twice) {
			t.Fatalf("%T: %s then %s", v, once, twice)
		}
	})
}
