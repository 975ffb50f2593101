// Command gatehouse-console is gatehouse's terminal admin console: users,
// groups, policies, a live tail of auth failures and the audit log, over the
// admin API of a running server.
//
//	gatehouse-console [--server URL] [--email EMAIL]
//
// GATEHOUSE_SERVER sets the server too (the flag wins); GATEHOUSE_TOKEN, a
// session or personal API token, skips the sign-in form.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/tui"
)

// defaultServer is where `make run` puts the server.
const defaultServer = "http://127.0.0.1:8080"

func main() {
	err := run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "gatehouse-console:", err)
		os.Exit(2)
	}
}

// config is what the command line and the environment say.
type config struct {
	server string
	token  string
	email  string
}

// parseConfig reads the flags over the environment over the defaults.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := config{server: defaultServer, token: getenv("GATEHOUSE_TOKEN")}
	if s := getenv("GATEHOUSE_SERVER"); s != "" {
		cfg.server = s
	}
	fs := flag.NewFlagSet("gatehouse-console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.server, "server", cfg.server, "URL of the gatehouse server (env GATEHOUSE_SERVER)")
	fs.StringVar(&cfg.email, "email", "", "email to fill in the sign-in form with")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gatehouse-console [--server URL] [--email EMAIL]")
		fmt.Fprintln(stderr, "GATEHOUSE_TOKEN, a session or API token, skips the sign-in form.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	u, err := url.Parse(cfg.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("--server %q: want a URL such as %s", cfg.server, defaultServer)
	}
	return cfg, nil
}

// run parses the configuration and runs the console until it quits.
func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	client := api.NewClient(cfg.server, cfg.token)
	console := tui.New(client, tui.Options{Email: cfg.email})
	p := tea.NewProgram(console, tea.WithAltScreen(), tea.WithInput(stdin), tea.WithOutput(stdout))
	if _, err := p.Run(); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}
