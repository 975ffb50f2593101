package tui

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs go list in the module root and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// The console reaches the server only through app/api: it imports no other
// package of ours (never store, rbac or app).
func TestConsoleImportsOnlyTheAPIPackage(t *testing.T) {
	t.Parallel()
	for _, imp := range goList(t, "-f", `{{join .Imports " "}}`, "./tui", "./cmd/gatehouse-console") {
		if strings.HasPrefix(imp, "github.com/gatehouse/gatehouse/") &&
			imp != "github.com/gatehouse/gatehouse/app/api" && imp != "github.com/gatehouse/gatehouse/tui" {
			t.Errorf("the console imports %s", imp)
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
