package main

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// copyTree copies the module at src to dst, without what git ignores
// (builds, databases) and without .git.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "data":
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// goCmd runs the go tool in dir and fails the test with its output.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRenameACopy renames a copy of this repository as a new user would
// (make rename MODULE=example.com/myservice): afterwards nothing in its Go
// files names the old module, every package builds, and the layering test,
// which knows the module path, passes under the new name.
func TestRenameACopy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a renamed copy of the whole module")
	}
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	old := strings.TrimSpace(goCmd(t, root, "list", "-m"))
	dir := t.TempDir()
	copyTree(t, root, dir)

	var stdout bytes.Buffer
	if err := run([]string{"-dir", dir, "-module", "example.com/myservice"}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "module "+old+" is now example.com/myservice: ") {
		t.Errorf("rename said %q", stdout.String())
	}
	if got := strings.TrimSpace(goCmd(t, dir, "list", "-m")); got != "example.com/myservice" {
		t.Fatalf("module after rename: %q", got)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !renamed(path) {
			return err
		}
		data, err := os.ReadFile(path)
		if err == nil && bytes.Contains(data, []byte(old)) {
			t.Errorf("%s still names %s", path, old)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	goCmd(t, dir, "build", "./...")
	goCmd(t, dir, "test", "-count=1", "-run", "^TestPackagesImportOnlyDownward$", "./cmd/gatehouse")

	// Twice is refused: the module has its new name already.
	if err := run([]string{"-dir", dir, "-module", "example.com/myservice"}, io.Discard, io.Discard); err == nil {
		t.Error("a second rename to the same path was not refused")
	}
}

func TestRenameRefusesBadPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/old\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n\nimport _ \"example.com/old/x\"\n\nconst other = \"example.com/older\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", " x", "a b", "/abs", "x//y", "../up", "x/../y", "example.com/old"} {
		if _, _, err := Rename(dir, bad); err == nil {
			t.Errorf("Rename to %q was not refused", bad)
		}
	}
	if _, n, err := Rename(dir, "example.com/new"); err != nil || n != 2 {
		t.Fatalf("rename: %d files, %v; want go.mod and a.go", n, err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.go"))
	if !bytes.Contains(a, []byte(`"example.com/new/x"`)) || !bytes.Contains(a, []byte(`"example.com/older"`)) {
		t.Errorf("a.go after rename:\n%s\nwant the import renamed and the longer name kept", a)
	}
}

// TestRenameKeepsToTheModule: only whole mentions of the module path are
// renamed (not the end of a longer path, not the start of a longer name,
// next to each other too); a package named data or bin below the root is
// renamed while the root's data and bin folders (databases, builds) are
// not; a symbolic link is not followed out of the module.
func TestRenameKeepsToTheModule(t *testing.T) {
	t.Parallel()
	dir, outside := t.TempDir(), t.TempDir()
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "go.mod"), "module example.com/old\n\ngo 1.26\n")
	write(filepath.Join(dir, "a.go"), "package a\n\n// example.com/old example.com/old,example.com/old\nconst (\n"+
		"\tmirror = \"proxy.example/example.com/old\"\n\tlonger = \"example.com/old-extra\"\n\tsub = \"example.com/old/x\"\n)\n")
	write(filepath.Join(dir, "internal", "data", "d.go"), "package data\n\nimport _ \"example.com/old/x\"\n")
	write(filepath.Join(dir, "data", "d.go"), "package data\n\nimport _ \"example.com/old/x\"\n")
	write(filepath.Join(dir, "bin", "b.go"), "package bin\n\nimport _ \"example.com/old/x\"\n")
	elsewhere := filepath.Join(outside, "elsewhere.go")
	write(elsewhere, "package elsewhere\n\nimport _ \"example.com/old/x\"\n")
	if err := os.Symlink(elsewhere, filepath.Join(dir, "link.go")); err != nil {
		t.Fatal(err)
	}
	if _, n, err := Rename(dir, "example.com/new"); err != nil || n != 3 {
		t.Fatalf("rename: %d files, %v; want go.mod, a.go and internal/data/d.go", n, err)
	}
	want := map[string]string{
		filepath.Join(dir, "a.go"): "package a\n\n// example.com/new example.com/new,example.com/new\nconst (\n" +
			"\tmirror = \"proxy.example/example.com/old\"\n\tlonger = \"example.com/old-extra\"\n\tsub = \"example.com/new/x\"\n)\n",
		filepath.Join(dir, "internal", "data", "d.go"): "package data\n\nimport _ \"example.com/new/x\"\n",
		filepath.Join(dir, "data", "d.go"):             "package data\n\nimport _ \"example.com/old/x\"\n",
		filepath.Join(dir, "bin", "b.go"):              "package bin\n\nimport _ \"example.com/old/x\"\n",
		elsewhere:                                      "package elsewhere\n\nimport _ \"example.com/old/x\"\n",
	}
	for path, text := range want {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != text {
			t.Errorf("%s after rename:\n%s\nwant\n%s", path, got, text)
		}
	}
}
