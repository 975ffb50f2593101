package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// runPolicyExport writes the policy of the database file as CSV, in the
// format of policy.csv.
func runPolicyExport(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("gatehouse policy export", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	df := addDBFlags(fs, env, false)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: gatehouse policy export [--db FILE] [OUT.csv|-]   (default -: standard output)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	out := "-"
	switch fs.NArg() {
	case 0:
	case 1:
		out = fs.Arg(0)
	default:
		return fmt.Errorf("policy export: unexpected argument %q", fs.Arg(1))
	}
	db, err := openExisting(df.db, true)
	if err != nil {
		return err
	}
	defer db.Close()
	return writeOutput(env, out, 0o644, func(w io.Writer) error {
		return db.View(ctx, func(tx store.Tx) error { return rbac.WriteCSV(w, tx) })
	})
}

// runPolicyImport imports a policy CSV into the database file: every line
// is checked first, and the file is taken whole or not at all. --replace
// removes the rules the file does not have. Like the API, it refuses a
// policy after which no enabled admin could sign in and manage it, unless
// --force.
func runPolicyImport(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("gatehouse policy import", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	replace := fs.Bool("replace", false, "remove every rule that is not in the file")
	force := fs.Bool("force", false, "import even when afterwards no enabled admin could sign in and manage the policy")
	df := addDBFlags(fs, env, true)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: gatehouse policy import [--replace] [--force] [--db FILE] IN.csv|-")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("policy import needs one CSV file (- for standard input)")
	}
	model, err := rbac.LoadModel(df.model)
	if err != nil {
		return fmt.Errorf("%s: %w", df.model, err)
	}
	in, name := env.stdin, "standard input"
	if p := fs.Arg(0); p != "-" {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, p
	}
	rules, err := rbac.ParseCSV(in, model)
	if err != nil {
		return fmt.Errorf("%s: %w (nothing imported)", name, err)
	}
	db, err := openExisting(df.db, false)
	if err != nil {
		return err
	}
	defer db.Close()
	authz, err := rbac.New(ctx, db, model)
	if err != nil {
		return err
	}
	svc, err := access.New(db, authz, access.Config{HashConcurrency: 1})
	if err != nil {
		return err
	}
	// The same last-admin guard as the API, unless the operator means it.
	res, err := svc.ImportPolicy(ctx, access.Offline, rules, access.Import{Replace: *replace, Force: *force})
	if errors.Is(err, rbac.ErrLastAdmin) {
		return fmt.Errorf("%s: %w (nothing imported; --force imports it anyway)", name, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w (nothing imported)", name, err)
	}
	fmt.Fprintf(env.stdout, "imported %s: %d rules added, %d removed\n", name, len(res.Added), len(res.Removed))
	return nil
}
