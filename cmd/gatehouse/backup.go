package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gatehouse/gatehouse/store"
)

// runBackup writes a consistent copy of the database file, offline. (While
// a server runs, GET /api/admin/backup does the same.)
func runBackup(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("gatehouse backup", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	df := addDBFlags(fs, env, false)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: gatehouse backup [--db FILE] OUT.db|-")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		return errors.New("backup needs one output file (- for standard output)")
	}
	if isDatabaseURL(df.db) {
		return errNotOneFile
	}
	out := fs.Arg(0)
	if out != "-" {
		if a, err := os.Stat(out); err == nil {
			if b, err := os.Stat(df.db); err == nil && os.SameFile(a, b) {
				return fmt.Errorf("%s is the database itself: name another file", out)
			}
		}
	}
	db, err := openExisting(df.db, true)
	if err != nil {
		return err
	}
	defer db.Close()
	snap, ok := db.(store.Snapshotter)
	if !ok {
		return errors.New("this database is not one file: back it up with its own tools")
	}
	var n int64
	// The copy holds password hashes and second-factor secrets: 0600.
	err = writeOutput(env, out, 0o600, func(w io.Writer) error {
		var err error
		n, err = snap.Snapshot(ctx, func(int64) (io.Writer, error) { return w, nil })
		return err
	})
	if err != nil {
		return err
	}
	if out != "-" {
		fmt.Fprintf(env.stdout, "backup of %s written to %s (%d bytes)\n", df.db, out, n)
	}
	return nil
}
