package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gatehouse/gatehouse/cmd/gatehouse-bench/benchdb"
	"github.com/gatehouse/gatehouse/rbac/rbactest"
)

// genOptions say what database to build.
type genOptions struct {
	db, model, policy string
	users, notes      int
}

// generated describes a database built by generate.
type generated struct {
	path     string
	password string // every user's
	size     rbactest.Size
	rules    int
	took     time.Duration
}

// email is the address of generated user id; user 1 is the admin.
func email(id int) string { return benchdb.Email(id) }

func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehouse-bench gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o genOptions
	fs.StringVar(&o.db, "db", "data/bench.db", "database file to create (must not exist)")
	fs.StringVar(&o.model, "model", "model.conf", "Casbin model")
	fs.StringVar(&o.policy, "policy", "policy.csv", "seed policy")
	fs.IntVar(&o.users, "users", 100_000, "users (groups: one per 100; two role links per user; 500 p rules)")
	fs.IntVar(&o.notes, "notes", 1, "notes per user")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	g, err := generate(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d users with %d notes each, %d groups, %d rules, in %s\n",
		g.path, g.size.Users, o.notes, g.size.Groups, g.rules, g.took.Round(time.Millisecond))
	fmt.Fprintf(stdout, "Every user signs in as user<N>@bench.test (user1 is an admin) with password %s\n", g.password)
	return nil
}

// generate builds a database of the size asked for (see benchdb.Generate).
func generate(ctx context.Context, o genOptions) (*generated, error) {
	g, err := benchdb.Generate(ctx, benchdb.Options{DB: o.db, Model: o.model, Policy: o.policy, Users: o.users, Notes: o.notes})
	if err != nil {
		return nil, err
	}
	return &generated{path: g.Path, password: g.Password, size: g.Size, rules: g.Rules, took: g.Took}, nil
}
