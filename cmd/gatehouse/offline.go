package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
	"github.com/gatehouse/gatehouse/store/postgres"
)

// The offline tools (user, policy export|import, backup) work on the
// database file itself. bbolt locks the file to one process, so they
// refuse, after a second, while a server holds it. With
// GATEHOUSE_DATABASE_URL (or a postgres:// URL as --db) they work on that
// PostgreSQL database instead, while servers run.

// dbFlags are the flags of the offline tools.
type dbFlags struct {
	db, model string
}

func addDBFlags(fs *flag.FlagSet, env *environment, withModel bool) *dbFlags {
	f := &dbFlags{}
	def := envOr(env, "GATEHOUSE_DB", "data/gatehouse.db")
	if u := env.getenv("GATEHOUSE_DATABASE_URL"); u != "" {
		def = u
	}
	fs.StringVar(&f.db, "db", def, "bbolt database file (env GATEHOUSE_DB), or a postgres:// URL (env GATEHOUSE_DATABASE_URL, which wins)")
	if withModel {
		fs.StringVar(&f.model, "model", envOr(env, "GATEHOUSE_MODEL", "model.conf"), "Casbin model (env GATEHOUSE_MODEL)")
	}
	return f
}

// openExisting opens the database of an offline tool. It must exist: these
// tools mend a database, they never make a new one at a mistyped path.
func openExisting(path string, readOnly bool) (store.Store, error) {
	if isDatabaseURL(path) {
		return openPostgres(context.Background(), path, postgres.Options{})
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no database here (gatehouse serve creates it; --db or GATEHOUSE_DB names another)", path)
	}
	return openDB(path, bolt.Options{ReadOnly: readOnly})
}

// writeFileAtomic writes path through a temp file in the same folder,
// synced and renamed into place: path is never left half written.
func writeFileAtomic(path string, mode os.FileMode, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, there is nothing left to remove
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeOutput writes to stdout when path is "-", else atomically to path.
func writeOutput(env *environment, path string, mode os.FileMode, write func(io.Writer) error) error {
	if path == "-" {
		return write(env.stdout)
	}
	return writeFileAtomic(path, mode, write)
}
