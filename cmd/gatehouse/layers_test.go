package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gatehouse/gatehouse/"

// mayImport is the shape of the program: data flows one way, from the
// commands down to the storage contract (store), which its implementations
// (store/bolt) fulfil; the console reaches the server only through the wire
// types and client of app/api. Commands are composition roots and may
// import anything of ours; only they choose a backend.
var mayImport = map[string][]string{
	"store":                 {},
	"store/bolt":            {"store"},
	"store/storetest":       {"store"},
	"store/postgres":        {"store"},
	"store/postgres/pgtest": {},
	"app/redistest":         {},
	"rbac":                  {"store"},
	"rbac/rbactest":         {"rbac", "store"},
	"app/api":               {},
	"access":                {"store", "rbac", "app/api"},
	"idp":                   {},
	"app":                   {"access", "store", "rbac", "app/api", "idp"},
	"app/scan":              {"app/api"},
	"tui":                   {"app/api"},
	"cmd/gatehouse-console": {"tui", "app/api"},
}

// goList runs go list in the module root and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func TestPackagesImportOnlyDownward(t *testing.T) {
	t.Parallel()
	for _, line := range goList(t, "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		allowed, known := mayImport[pkg]
		if !known {
			if !strings.HasPrefix(pkg, "cmd/") {
				t.Errorf("package %s has no place in the shape of the program: add it to mayImport", pkg)
			}
			continue
		}
		for _, imp := range fields[1:] {
			ours, ok := strings.CutPrefix(imp, module)
			if ok && !slices.Contains(allowed, ours) {
				t.Errorf("%s imports %s; it may import only %v of ours", pkg, ours, allowed)
			}
		}
	}
}

// Only the commands choose a backend: what sits above the storage contract
// never links a database driver.
func TestOnlyCommandsLinkABackend(t *testing.T) {
	t.Parallel()
	for _, dep := range goList(t, "-deps", "./app", "./rbac", "./tui") {
		if dep == "go.etcd.io/bbolt" || strings.HasPrefix(dep, "go.etcd.io/bbolt/") || strings.HasPrefix(dep, module+"store/") {
			t.Errorf("app, rbac or tui links %s", dep)
		}
	}
}

// Bubble Tea v1 queries the terminal from a package init: the server must
// not link it.
func TestServerDoesNotLinkBubbleTea(t *testing.T) {
	t.Parallel()
	for _, dep := range goList(t, "-deps", "./cmd/gatehouse") {
		if strings.HasPrefix(dep, "github.com/charmbracelet/") || strings.HasPrefix(dep, "github.com/muesli/") {
			t.Errorf("cmd/gatehouse links %s", dep)
		}
	}
}
