package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// FuzzParseSecret checks the shape test every credential passes before any
// database lookup: it accepts exactly a known prefix and 43 characters of
// base64url, hashes what was presented, and accepts every secret newSecret
// can make.
func FuzzParseSecret(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, raw []byte, token bool) {
		hash, ok := parseSecret(s)
		if ok {
			rest, cut := strings.CutPrefix(s, sessionPrefix)
			if !cut {
				rest, cut = strings.CutPrefix(s, tokenPrefix)
			}
			if _, err := base64.RawURLEncoding.DecodeString(rest); !cut || len(rest) != secretLen || err != nil {
				t.Fatalf("parseSecret accepted %q", s)
			}
			if sum := sha256.Sum256([]byte(s)); !bytes.Equal(hash, sum[:]) {
				t.Fatalf("parseSecret(%q): hash %x, want %x", s, hash, sum)
			}
		} else if hash != nil {
			t.Fatalf("parseSecret(%q) refused it with a hash", s)
		}
		// Any 32 bytes behind either prefix is a secret the server makes.
		var b [32]byte
		copy(b[:], raw)
		prefix := sessionPrefix
		if token {
			prefix = tokenPrefix
		}
		made := prefix + base64.RawURLEncoding.EncodeToString(b[:])
		if _, ok := parseSecret(made); !ok {
			t.Fatalf("parseSecret refused %q", made)
		}
	})
}

// mustFuzzServer is the API over a fresh database with the seed policy and
// one signed-in admin, whose session secret it returns. It takes a
// testing.TB so that fuzz targets can share one server across inputs.
func mustFuzzServer(tb testing.TB) (*Server, string) {
	tb.Helper()
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(tb.TempDir(), "gatehouse.db"), bolt.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	m := mustModel(tb)
	authz, err := rbac.New(ctx, db, m)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.CookieSecure = false
	cfg.RateLimit, cfg.LoginRateLimit = "1000000000-M", "1000000-M"
	srv, err := NewServer(slog.New(slog.NewJSONHandler(io.Discard, nil)), cfg, db, authz)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	if _, err := srv.Bootstrap(ctx, mustSeedPolicy(tb, m), "admin@example.com", testPassword); err != nil {
		tb.Fatal(err)
	}
	body, _ := json.Marshal(api.LoginRequest{Email: "admin@example.com", Password: testPassword})
	req := httptest.NewRequest(http.MethodPost, "/api/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var out api.LoginResponse
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Token == "" {
		tb.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	return srv, out.Token
}

// FuzzCredential sends any Authorization header and session cookie to the
// real server on a route that needs a caller. The answer is 200 only for
// the one live secret, else a 401 unauthorized in JSON: never a panic, a
// 500, or another code.
func FuzzCredential(f *testing.F) {
	srv, secret := mustFuzzServer(f)
	f.Add("Bearer "+secret, "")
	f.Add("bearer   "+secret+"  ", "")
	f.Add("", secret)
	f.Add("Basic "+secret, secret)
	f.Add("Bearer "+secret[:len(secret)-1]+"A", "")
	f.Fuzz(func(t *testing.T, authorization, cookie string) {
		req := httptest.NewRequest(http.MethodGet, "/api/auth/me", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookieName+"="+cookie)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !strings.Contains(authorization, secret) && !strings.Contains(cookie, secret) {
				t.Fatalf("Authorization %q, cookie %q: signed in without the secret", authorization, cookie)
			}
		case http.StatusUnauthorized:
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code != api.CodeUnauthorized {
				t.Fatalf("Authorization %q, cookie %q: 401 %s", authorization, cookie, rec.Body)
			}
		default:
			t.Fatalf("Authorization %q, cookie %q: %d %s", authorization, cookie, rec.Code, rec.Body)
		}
	})
}

// TestFuzzDecodeCoversEveryRequestBody reads the handlers' source for every
// s.decodeJSON(c, &in) and the declared type of in, and requires each such
// type in requestBodies, so that a new request type cannot escape FuzzDecode.
func TestFuzzDecodeCoversEveryRequestBody(t *testing.T) {
	t.Parallel()
	fuzzed := map[string]bool{}
	for _, mk := range requestBodies {
		fuzzed["api."+reflect.TypeOf(mk()).Elem().Name()] = true
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	decoded := map[string][]string{} // type -> functions decoding it
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			vars := map[string]string{} // local variable -> its declared type
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ValueSpec:
					if n.Type != nil {
						for _, id := range n.Names {
							vars[id.Name] = types(n.Type)
						}
					}
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok || sel.Sel.Name != "decodeJSON" || len(n.Args) != 2 {
						return true
					}
					typ := "unknown"
					if u, ok := n.Args[1].(*ast.UnaryExpr); ok && u.Op == token.AND {
						if id, ok := u.X.(*ast.Ident); ok && vars[id.Name] != "" {
							typ = vars[id.Name]
						}
					}
					decoded[typ] = append(decoded[typ], fset.Position(n.Pos()).String()+" "+fn.Name.Name)
				}
				return true
			})
		}
	}
	if len(decoded) == 0 {
		t.Fatal("found no s.decodeJSON call: the test no longer reads the handlers")
	}
	// Owned resources decode their body as the type parameter In of
	// OwnedResource (resources.go): covered when the body of every declared
	// resource is fuzzed.
	if _, ok := decoded["In"]; ok {
		delete(decoded, "In")
		bodies := map[reflect.Type]bool{}
		for _, mk := range requestBodies {
			bodies[reflect.TypeOf(mk())] = true
		}
		for _, r := range declaredResources {
			if b := reflect.TypeOf(r.newBody()); !bodies[b] {
				t.Errorf("the owned resource body %s is not in requestBodies of FuzzDecode", b)
			}
		}
	}
	for typ, where := range decoded {
		if !fuzzed[typ] {
			slices.Sort(where)
			t.Errorf("%s is decoded (%s) but not in requestBodies of FuzzDecode", typ, strings.Join(where, ", "))
		}
	}
}

// types renders a type expression of the form pkg.Name or Name.
func types(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			return x.Name + "." + e.Sel.Name
		}
	}
	return "unknown"
}

// TestPolicyImportRefusesBrokenCSV keeps the first crasher the CSV fuzz
// target found: a bare quote made ParseCSV panic, so the import answered
// 500 instead of saying what is wrong with the file.
func TestPolicyImportRefusesBrokenCSV(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, csv := range []string{`00"0000`, "p, role:a, \"/x, GET, *\n", "p, role:a, /x\"y, GET, *\n"} {
		body := ts.mustCall(t, ts.admin.Token, http.MethodPost, "/api/admin/policies/import",
			api.PolicyImport{CSV: csv}, http.StatusBadRequest, api.CodeInvalidInput)
		var e api.Error
		mustUnmarshal(t, body, &e)
		if !strings.HasPrefix(e.Details["csv"], "line 1: ") {
			t.Errorf("%q: details %v, want the line of the problem", csv, e.Details)
		}
	}
}
