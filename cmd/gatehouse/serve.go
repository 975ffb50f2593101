package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
	"github.com/gatehouse/gatehouse/store/postgres"
)

// runServe starts the API: it opens the database, loads model and policy,
// seeds a new database, listens, and serves until ctx ends.
func runServe(ctx context.Context, env *environment, args []string) error {
	cfg := serveConfig{Config: app.DefaultConfig()}
	if err := parseSettings("serve", serveSettings(&cfg), args, env.getenv, env.stderr); err != nil {
		return err
	}
	if err := cfg.checkOIDC(); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(env.stderr, nil))
	defer keepHeapFloor(env.getenv, heapFloor)()

	model, err := rbac.LoadModel(cfg.Model)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Model, err)
	}
	seed, err := readPolicyFile(cfg.Policy, model)
	if err != nil {
		return err
	}
	var db store.Store
	where := cfg.DB
	if cfg.DatabaseURL != "" {
		db, err = openPostgres(ctx, cfg.DatabaseURL, postgres.Options{TxTimeout: serveTxTimeout})
		where = displayName(cfg.DatabaseURL)
	} else {
		db, err = openDB(cfg.DB, bolt.Options{})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	authz, err := rbac.New(ctx, db, model)
	if err != nil {
		return err
	}
	if pg, ok := db.(*postgres.DB); ok {
		stop := watchPolicy(ctx, log, pg, authz)
		defer stop()
	}
	if !model.Compiled() {
		log.Warn("model.conf differs from the shipped model: decisions are made by Casbin's Enforce, which is slower", "model", cfg.Model)
	}
	srv, err := app.NewServer(log, cfg.Config, db, authz)
	if err != nil {
		return err
	}
	password, err := srv.Bootstrap(ctx, seed, cfg.AdminEmail, cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("prepare database: %w", err)
	}
	if password != "" {
		fmt.Fprintf(env.stdout, "Created the first admin: %s with password %s\nThis password is shown only once. Sign in and change it.\n", cfg.AdminEmail, password)
	}
	// A database seeded by an older policy.csv keeps the seed rules later
	// releases tightened: each is replaced once, audited, before serving.
	upgrades, err := srv.UpgradePolicy(ctx)
	if err != nil {
		return fmt.Errorf("upgrade the rules of an older seed policy: %w (fix the policy with `gatehouse policy import`, README: Upgrading)", err)
	}
	for _, u := range upgrades {
		added := make([]string, len(u.Added))
		for i, r := range u.Added {
			added[i] = access.RuleText(r)
		}
		log.Warn("policy upgraded: a rule of an older seed policy was replaced (audit log: policy.migrate)",
			"migration", u.Name, "removed", access.RuleText(u.Removed), "added", strings.Join(added, "; "))
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	fmt.Fprintf(env.stdout, "gatehouse listening on http://%s\n", l.Addr())
	log.Info("listening", "addr", l.Addr().String(), "db", where)
	if err := srv.Serve(ctx, l); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// openDB opens the database with a message that says what to do.
func openDB(path string, opts bolt.Options) (store.Store, error) {
	db, err := bolt.Open(path, opts)
	switch {
	case errors.Is(err, bolt.ErrInUse):
		return nil, fmt.Errorf("%s: database is in use by another process (is a gatehouse server running?)", path)
	case errors.Is(err, bolt.ErrForeign):
		return nil, fmt.Errorf("%s: not a gatehouse database (left untouched): %w", path, err)
	case errors.Is(err, bolt.ErrCorrupt):
		return nil, fmt.Errorf("%s: the database file is damaged and was left untouched: restore it from a backup: %w", path, err)
	case err != nil:
		return nil, err
	}
	return db, nil
}

// readPolicyFile parses a policy CSV, naming the file in any error.
func readPolicyFile(path string, m *rbac.Model) ([]rbac.CSVRule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	rules, err := rbac.ParseCSV(f, m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rules, nil
}
