package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"golang.org/x/term"
)

// runUser runs the offline account tools: recovery when nobody can sign in.
func runUser(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 {
		return errors.New("user needs a subcommand: create or passwd")
	}
	switch args[0] {
	case "create":
		return runUserCreate(ctx, env, args[1:])
	case "passwd":
		return runUserPasswd(ctx, env, args[1:])
	}
	return fmt.Errorf("user: unknown subcommand %q (create or passwd)", args[0])
}

// runUserCreate creates a user (an admin with --admin) on the database file.
func runUserCreate(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("gatehouse user create", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	email := fs.String("email", "", "email of the new user (required)")
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "give the user the admin role (else the user role)")
	df := addDBFlags(fs, env, true)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: gatehouse user create --email E [--name N] [--admin] [--db FILE]\n\nThe password comes from GATEHOUSE_PASSWORD, or one line of standard input.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("user create: unexpected argument %q", fs.Arg(0))
	}
	*email = access.CanonicalEmail(*email)
	if p := access.CheckEmail(*email); p != "" {
		return fmt.Errorf("user create: --email %s", p)
	}
	model, err := rbac.LoadModel(df.model)
	if err != nil {
		return fmt.Errorf("%s: %w", df.model, err)
	}
	db, err := openExisting(df.db, false)
	if err != nil {
		return err
	}
	defer db.Close()
	// What can be refused is refused before the password is asked for.
	err = db.View(ctx, func(tx store.Tx) error {
		if any, err := tx.Rules().Any(); err != nil {
			return err
		} else if !any {
			return fmt.Errorf("%s has no policy yet: start gatehouse serve on it once to seed it", displayName(df.db))
		}
		if _, err := tx.Users().ByEmail(*email); err == nil {
			return fmt.Errorf("a user with email %s exists (gatehouse user passwd sets a password)", *email)
		}
		return nil
	})
	if err != nil {
		return err
	}
	password, err := readPassword(env)
	if err != nil {
		return err
	}
	authz, err := rbac.New(ctx, db, model)
	if err != nil {
		return err
	}
	svc, err := access.New(db, authz, access.Config{HashConcurrency: 1})
	if err != nil {
		return err
	}
	role := "user"
	if *admin {
		role = "admin"
	}
	u, err := svc.CreateUser(ctx, access.Offline, access.NewUser{Email: *email, Name: *name, Password: password, Roles: []string{role}})
	if errors.Is(err, access.ErrEmailTaken) {
		return fmt.Errorf("a user with email %s exists (gatehouse user passwd sets a password)", *email)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "created user %s (%s) with role %s\n", u.ID, u.Email, role)
	return nil
}

// runUserPasswd sets a user's password on the database file and ends their
// login sessions.
func runUserPasswd(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("gatehouse user passwd", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	email := fs.String("email", "", "email of the user (required)")
	df := addDBFlags(fs, env, false)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: gatehouse user passwd --email E [--db FILE]\n\nThe password comes from GATEHOUSE_PASSWORD, or one line of standard input.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("user passwd: unexpected argument %q", fs.Arg(0))
	}
	if strings.TrimSpace(*email) == "" {
		return errors.New("user passwd: --email is required")
	}
	db, err := openExisting(df.db, false)
	if err != nil {
		return err
	}
	defer db.Close()
	var id uint64
	err = db.View(ctx, func(tx store.Tx) error {
		u, err := tx.Users().ByEmail(*email)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user with email %s", *email)
		}
		id = u.ID
		return err
	})
	if err != nil {
		return err
	}
	password, err := readPassword(env)
	if err != nil {
		return err
	}
	// A password change touches no rule: no model is needed.
	svc, err := access.New(db, nil, access.Config{HashConcurrency: 1})
	if err != nil {
		return err
	}
	res, err := svc.UpdateUser(ctx, access.Offline, id, access.UserChange{Password: &password})
	if err != nil {
		return err
	}
	u := res.User
	// Account recovery: whoever had the account may hold its sessions or
	// tokens, so all of them end (access.Service.UpdateUser).
	fmt.Fprintf(env.stdout, "password of user %s (%s) set; %d sessions ended, %d tokens revoked\n", u.ID, u.Email, res.SessionsEnded, res.TokensRevoked)
	if u.Disabled {
		fmt.Fprintln(env.stdout, "note: this user is disabled; an admin can enable them")
	}
	return nil
}

// maxPasswordLine bounds the line read from standard input.
const maxPasswordLine = 4096

// readPassword takes the password from GATEHOUSE_PASSWORD, else from
// standard input: asked twice without echo on a terminal, else its first
// line. It is never a flag, which other users could read in the process
// list.
func readPassword(env *environment) (string, error) {
	if pw := env.getenv("GATEHOUSE_PASSWORD"); pw != "" {
		return pw, nil
	}
	if f, ok := env.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.stderr, "password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(env.stderr, "again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(first) != string(second) {
			return "", errors.New("the two passwords differ")
		}
		return string(first), nil
	}
	line, err := bufio.NewReaderSize(io.LimitReader(env.stdin, maxPasswordLine), maxPasswordLine).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password: set GATEHOUSE_PASSWORD or write it on standard input")
	}
	return line, nil
}
