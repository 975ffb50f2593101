// Command rename moves a copy of this template to your own module path:
// it rewrites the module line of go.mod and every mention of the old path
// in Go files (imports included), Makefile and CI files, so that
// `make test` passes under the new name. It works offline, on a clone, a
// fork or an unpacked tarball:
//
//	make rename MODULE=example.com/myservice
//	go run ./cmd/rename -module example.com/myservice   (the same)
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rename:", err)
		os.Exit(1)
	}
}

// run parses the flags and renames the module in the current folder.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rename", flag.ContinueOnError)
	fs.SetOutput(stderr)
	module := fs.String("module", "", "the new module path, like example.com/myservice")
	dir := fs.String("dir", ".", "the module's folder (where go.mod is)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	old, changed, err := Rename(*dir, *module)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "module %s is now %s: %d files changed\n", old, *module, changed)
	return nil
}

// modulePath is what a module path may look like here: slash-separated
// elements of letters, digits and -._~ (Go's own rules are stricter about
// the first element; go build says so).
var modulePath = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]*(/[A-Za-z0-9._~-]+)*$`)

// Rename changes the module of the Go module in dir to module, and every
// mention of the old path in the files that name it. It returns the old
// path and how many files it changed.
func Rename(dir, module string) (old string, changed int, err error) {
	if !modulePath.MatchString(module) || strings.Contains(module, "..") {
		return "", 0, fmt.Errorf("%q is not a module path like example.com/myservice", module)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			old = strings.Trim(strings.TrimSpace(rest), `"`)
			break
		}
	}
	if old == "" {
		return "", 0, errors.New("go.mod has no module line")
	}
	if old == module {
		return old, 0, fmt.Errorf("the module is %s already", module)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch {
			case d.Name() == ".git", d.Name() == "node_modules":
				return filepath.SkipDir
			case (d.Name() == "bin" || d.Name() == "data") && filepath.Dir(path) == filepath.Clean(dir):
				// The module's builds and databases (.gitignore): a
				// package of that name deeper down is renamed.
				return filepath.SkipDir
			}
			return nil
		}
		// Regular files only: a symbolic link may lead out of the module,
		// and what it leads to is not this module's to change.
		if !d.Type().IsRegular() || !renamed(path) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out := replaceMentions(data, old, module)
		if bytes.Equal(out, data) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		changed++
		return os.WriteFile(path, out, info.Mode().Perm())
	})
	return old, changed, err
}

// replaceMentions returns data with old replaced by module where old is a
// whole path or the start of one: not where it is the start of a longer
// name (github.com/x/gatehouse-extra) or the end of one
// (mirror.example/github.com/x/gatehouse).
func replaceMentions(data []byte, old, module string) []byte {
	inName := func(c byte, slash bool) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("._~-", c) >= 0 || slash && c == '/'
	}
	var out []byte
	rest := data
	for {
		i := bytes.Index(rest, []byte(old))
		if i < 0 {
			return append(out, rest...)
		}
		end := i + len(old)
		before := len(out) + i
		whole := (before == 0 || !inName(prevByte(out, rest, i), true)) &&
			(end == len(rest) || !inName(rest[end], false))
		out = append(out, rest[:i]...)
		if whole {
			out = append(out, module...)
		} else {
			out = append(out, old...)
		}
		rest = rest[end:]
	}
}

// prevByte is the byte before rest[i] in out followed by rest.
func prevByte(out, rest []byte, i int) byte {
	if i > 0 {
		return rest[i-1]
	}
	return out[len(out)-1]
}

// renamed says whether a file may name the module: Go sources and go.mod,
// the Makefile, CI and lint settings. Documentation keeps its words.
func renamed(path string) bool {
	base := filepath.Base(path)
	switch filepath.Ext(base) {
	case ".go", ".mod", ".yml", ".yaml", ".txtar":
		return true
	}
	return base == "Makefile" || filepath.Base(filepath.Dir(path)) == ".ci"
}
