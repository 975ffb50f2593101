// Command gatehouse runs the gatehouse API server and its offline tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of gatehouse.
type command struct {
	usage string
	run   func(ctx context.Context, env *environment, args []string) error
}

// environment is what a command may touch of the outside world, handed in
// so that tests can run commands in-process.
type environment struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

var commands = map[string]command{
	"serve":  {"run the API server", runServe},
	"routes": {"print every route with the rules that guard it (--check: fail on unguarded routes or dead rules)", runRoutes},
	"scan":   {"scan URL: check a running deployment from the outside (routes, headers, CORS, errors, sign-in)", runScan},
	"policy": {"policy test|export|import: check decisions, or move the policy of the database as CSV", runPolicy},
	// Offline tools on the database file (refused while a server holds it).
	"user":   {"user create|passwd: make an account or set a password on the database file", runUser},
	"backup": {"backup FILE: a consistent copy of the database file", runBackup},
	"copy":   {"copy FROM TO: every record from one store into an empty one (each a bbolt file or a postgres:// URL)", runCopy},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful shutdown; restoring the default
	// handling then lets a second one end the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "gatehouse: "+err.Error())
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors and 1 for everything else.
func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// run is the whole program, testable: it takes what main would read from
// the process and returns what main would exit with.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &environment{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		printUsage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return cmd.run(ctx, env, args[1:])
}

func printUsage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: gatehouse COMMAND [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, commands[n].usage)
	}
	b.WriteString("\nRun gatehouse COMMAND -h for its flags.\n")
	fmt.Fprint(w, b.String())
}
