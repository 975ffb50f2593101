package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/scan"
)

// runScan checks a running deployment from the outside (app/scan) and
// prints the report. It never opens a database.
func runScan(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("gatehouse scan URL", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	token := fs.String("token", env.getenv("GATEHOUSE_TOKEN"), "admin token: check the deployment's own route inventory and policy (GATEHOUSE_TOKEN); without it, the routes of this binary with -model and -policy")
	asJSON := fs.Bool("json", false, "print the report as JSON, for CI")
	email := fs.String("email", "", "an account to check sign-in, cookies, CSRF and the login limit with (spends its login budget)")
	password := fs.String("password", env.getenv("GATEHOUSE_SCAN_PASSWORD"), "its password (GATEHOUSE_SCAN_PASSWORD keeps it out of ps)")
	yes := fs.Bool("yes", false, "do not ask before spending the login budget (for CI)")
	origin := fs.String("origin", scan.DefaultOrigin, "a foreign origin that CORS must not allow")
	frontEnd := fs.Bool("frontend", false, "a front end is served at / of the same origin: paths outside /api may answer its page")
	caFile := fs.String("ca", "", "PEM file of certificates to trust besides the system's (a staging deployment's own CA)")
	interval := fs.Duration("interval", scan.DefaultInterval, "least time between two requests (0: no pause)")
	modelPath := fs.String("model", envOr(env, "GATEHOUSE_MODEL", "model.conf"), "Casbin model, for the built-in inventory")
	policyPath := fs.String("policy", envOr(env, "GATEHOUSE_POLICY", "policy.csv"), "seed policy, for the built-in inventory")
	// Flags may come before or after the URL.
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(positional) != 1 {
		return errors.New("scan needs one URL: gatehouse scan https://api.example.com")
	}
	if (*email == "") != (*password == "") {
		return errors.New("scan: --email and --password go together")
	}
	o := scan.Options{
		BaseURL: positional[0], Token: *token, Email: *email, Password: *password,
		Origin: *origin, Interval: *interval, FrontEnd: *frontEnd,
	}
	if *interval <= 0 {
		o.Interval = -1 // no pause
	}
	if *caFile != "" {
		tr, err := transportTrusting(*caFile)
		if err != nil {
			return err
		}
		o.Transport = tr
	}
	if *token == "" {
		inv, err := builtinInventory(*modelPath, *policyPath)
		if err != nil {
			return fmt.Errorf("scan: the built-in route inventory needs the model and policy files (-model, -policy), or give an admin token: %w", err)
		}
		o.Inventory = &inv
		o.InventorySource = "built-in routes with " + *policyPath
	}
	if o.Email != "" && !*yes && !confirmSignIn(env, o.Email) {
		o.Email, o.Password = "", ""
		o.SignInSkipped = "not confirmed (--yes skips the question)"
	}
	ctx, cancel := context.WithTimeout(ctx, scanTimeout)
	defer cancel()
	rep, err := scan.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		err = rep.WriteJSON(env.stdout)
	} else {
		err = rep.WriteTable(env.stdout)
	}
	if err != nil {
		return err
	}
	if n := len(rep.Failures()); n > 0 {
		return fmt.Errorf("scan: %d of %d checks failed", n, len(rep.Checks))
	}
	return nil
}

// transportTrusting is the default transport trusting the certificates of
// caFile as well as the system's.
func transportTrusting(caFile string) (*http.Transport, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("scan: --ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("scan: --ca: %s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// confirmSignIn asks before the sign-in checks spend the login budget.
func confirmSignIn(env *environment, email string) bool {
	fmt.Fprintf(env.stderr, "The sign-in checks end with wrong passwords until the login limit answers 429:\n"+
		"afterwards neither %s nor this address can sign in until the limit resets (a minute by default).\n"+
		"Go on? [y/N] ", email)
	line, _ := bufio.NewReader(env.stdin).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

// scanTimeout bounds a whole scan, waits for rate-limit resets included.
const scanTimeout = 5 * time.Minute
