package rbactest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/rbac"
)

// MustSeed loads the shipped model.conf and policy.csv from the folder top
// (a test's "..": the module root), failing tb on any error. Tests decide
// with the files users run, never with a copy.
func MustSeed(tb testing.TB, top string) (*rbac.Model, []rbac.CSVRule) {
	tb.Helper()
	m, err := rbac.LoadModel(filepath.Join(top, "model.conf"))
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.Open(filepath.Join(top, "policy.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	seed, err := rbac.ParseCSV(f, m)
	if err != nil {
		tb.Fatal(err)
	}
	return m, seed
}
