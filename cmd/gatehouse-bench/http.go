package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gatehouse/gatehouse/rbac/rbactest"
	"github.com/gatehouse/gatehouse/store"
)

// runHTTP runs the HTTP comparison on a database made by gen.
func runHTTP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehouse-bench http", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbPath := fs.String("db", "data/bench.db", "database made by gatehouse-bench gen")
	password := fs.String("password", "", "the users' password, as gen printed it")
	modelPath := fs.String("model", "model.conf", "Casbin model")
	conns := fs.Int("conns", 16, "connections of the load generator")
	d := fs.Duration("duration", 5*time.Second, "length of each load run")
	rounds := fs.Int("rounds", 3, "rounds per side, alternating")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *password == "" {
		return errors.New("http: -password is needed (gen printed it)")
	}
	srv, err := startInProcess(ctx, *dbPath, *modelPath, io.Discard)
	if err != nil {
		return err
	}
	defer srv.stop()
	var users int
	if err := srv.db.View(ctx, func(tx store.Tx) (err error) { users, err = tx.Users().Count(); return err }); err != nil {
		return err
	}
	g := &generated{path: *dbPath, password: *password, size: rbactest.SizeFor(users)}
	cmp, err := compareHTTP(ctx, srv, g, *conns, *d, *rounds)
	if err != nil {
		return err
	}
	for i := range cmp.gatehouse {
		for _, side := range []struct {
			name string
			r    loadResult
		}{{"gatehouse", cmp.gatehouse[i]}, {"bare echo", cmp.bare[i]}} {
			fmt.Fprintf(stdout, "round %d %-10s %8.0f req/s  p50 %s  p99 %s  failed %d\n", i+1, side.name,
				side.r.rps(), ms(side.r.percentile(0.5)), ms(side.r.percentile(0.99)), side.r.failed)
		}
	}
	gh, bare := medianOf(cmp.gatehouse, loadResult.rps), medianOf(cmp.bare, loadResult.rps)
	fmt.Fprintf(stdout, "median: gatehouse %.0f req/s, bare echo %.0f req/s: %.0f%%\n", gh, bare, 100*gh/bare)
	return nil
}
