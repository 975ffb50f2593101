package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
	"github.com/gatehouse/gatehouse/store/postgres"
)

// runCopy copies every record of one store into another, empty one: a
// bbolt file to PostgreSQL when a deployment outgrows one machine, or
// back. FROM is only read.
func runCopy(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("gatehouse copy", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: gatehouse copy FROM TO\n\nEach of FROM and TO is a bbolt file or a postgres:// URL. TO must be empty (a new file, or a database without gatehouse data); FROM is only read.")
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errUsage
	}
	from, to := fs.Arg(0), fs.Arg(1)
	if from == to {
		return errors.New("copy: FROM and TO are the same store")
	}
	src, err := openCopyEnd(ctx, from, true)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openCopyEnd(ctx, to, false)
	if err != nil {
		return err
	}
	defer dst.Close()
	srcD, dstD := src.(store.Dumper), dst.(store.Dumper)
	if empty, err := dstD.Empty(ctx); err != nil {
		return fmt.Errorf("copy: %s: %w", displayName(to), err)
	} else if !empty {
		return fmt.Errorf("copy: %s already holds data: copy only into an empty store (nothing was copied)", displayName(to))
	}
	counts, err := copyRecords(ctx, srcD, dstD)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("copy: %s already holds data: copy only into an empty store (nothing was copied)", displayName(to))
	} else if err != nil {
		return fmt.Errorf("copy: %w (nothing was copied)", err)
	}
	fmt.Fprintf(env.stdout, "copied %s to %s: %d users, %d groups, %d rules, %d sessions and tokens, %d owned resources (notes and others), %d audit records, %d auth failures\n",
		displayName(from), displayName(to), counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6])
	return nil
}

// openCopyEnd opens one end of a copy. FROM must exist; a bbolt TO is
// created when missing.
func openCopyEnd(ctx context.Context, target string, from bool) (store.Store, error) {
	switch {
	case isDatabaseURL(target):
		return openPostgres(ctx, target, postgres.Options{})
	case from:
		return openExisting(target, true)
	}
	// An existing file is opened as it is: Empty decides.
	return openDB(target, bolt.Options{})
}

// copyRecords streams src's records into dst: Dump's read transaction
// and Load's write transaction run side by side, joined by a channel, so
// the copy never holds the whole database in memory. It returns the
// number of records of each kind, in Record's field order.
func copyRecords(ctx context.Context, src, dst store.Dumper) ([7]int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	records := make(chan store.Record, 256)
	dumpErr := make(chan error, 1)
	go func() {
		defer close(records)
		dumpErr <- src.Dump(ctx, func(r store.Record) error {
			select {
			case records <- r:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var counts [7]int
	err := dst.Load(ctx, func() (store.Record, error) {
		r, ok := <-records
		if !ok {
			// Dump has ended: whole, or with an error that must roll the
			// load back.
			if err := <-dumpErr; err != nil {
				return r, fmt.Errorf("read: %w", err)
			}
			return r, io.EOF
		}
		counts[kindOf(r)]++
		return r, nil
	})
	cancel()
	for range records {
		// Let Dump end if Load stopped first.
	}
	return counts, err
}

// kindOf is the index of the field a record sets.
func kindOf(r store.Record) int {
	switch {
	case r.User != nil:
		return 0
	case r.Group != nil:
		return 1
	case r.Rule != nil:
		return 2
	case r.Session != nil:
		return 3
	case r.Doc != nil:
		return 4
	case r.Audit != nil:
		return 5
	}
	return 6
}
