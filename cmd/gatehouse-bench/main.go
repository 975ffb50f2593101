// Command gatehouse-bench builds databases of a given size and measures the
// gatehouse server against baselines on this machine:
//
//	gatehouse-bench gen -db FILE -users 100000
//	    a database of users with notes, groups, role links and rules, for
//	    benchmarks and manual trials (prints the users' password once);
//	gatehouse-bench http -db FILE -password PW
//	    GET /api/notes/:id served by the real server against a bare Echo
//	    handler answering the same JSON from memory;
//	gatehouse-bench report -gatehouse BIN -gobench FILE
//	    everything `make bench` prints: a fresh database, start-up time,
//	    change visibility, the HTTP comparison (on bbolt, and on
//	    PostgreSQL and Redis against a one-query Echo), concurrent logins,
//	    an auth-failure flood, and the decision benchmarks of FILE, as one
//	    table.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

var errUsage = errors.New("usage: gatehouse-bench gen|http|report [flags] (-h for flags)")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-bench: "+err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "gen":
		return runGen(ctx, args[1:], stdout, stderr)
	case "http":
		return runHTTP(ctx, args[1:], stdout, stderr)
	case "report":
		return runReport(ctx, args[1:], stdout, stderr)
	}
	return errUsage
}
