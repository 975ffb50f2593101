package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
)

// runRoutes prints the route inventory of the shipped routes against the
// model and seed policy files.
func runRoutes(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("gatehouse routes", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	check := fs.Bool("check", false, "exit non-zero if a route is granted by no rule or a rule grants no route")
	modelPath := fs.String("model", envOr(env, "GATEHOUSE_MODEL", "model.conf"), "Casbin model")
	policyPath := fs.String("policy", envOr(env, "GATEHOUSE_POLICY", "policy.csv"), "policy CSV")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	inv, err := builtinInventory(*modelPath, *policyPath)
	if err != nil {
		return err
	}
	fmt.Fprint(env.stdout, app.FormatInventory(inv))
	if len(inv.DeadRules) > 0 {
		fmt.Fprintln(env.stdout, "\nrules that grant no route:")
		for _, r := range inv.DeadRules {
			fmt.Fprintln(env.stdout, "  "+r)
		}
	}
	if *check && (len(inv.Unguarded) > 0 || len(inv.DeadRules) > 0) {
		return fmt.Errorf("%d routes granted by no rule, %d rules that grant no route", len(inv.Unguarded), len(inv.DeadRules))
	}
	return nil
}

// builtinInventory is the route inventory of this binary's routes against
// the model and policy files, without a database.
func builtinInventory(modelPath, policyPath string) (api.RouteInventory, error) {
	authz, err := loadMemoryPolicy(modelPath, policyPath)
	if err != nil {
		return api.RouteInventory{}, err
	}
	srv, err := app.NewServer(slog.New(slog.DiscardHandler), app.DefaultConfig(), nil, authz)
	if err != nil {
		return api.RouteInventory{}, err
	}
	return srv.Inventory(), nil
}

// runPolicy runs the policy tools.
func runPolicy(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 {
		return errors.New("policy needs a subcommand: test, export or import")
	}
	switch args[0] {
	case "test":
		return runPolicyTest(env, args[1:])
	case "export":
		return runPolicyExport(ctx, env, args[1:])
	case "import":
		return runPolicyImport(ctx, env, args[1:])
	}
	return fmt.Errorf("policy: unknown subcommand %q", args[0])
}

// runPolicyTest checks a decisions file against the model and policy
// files and prints each mismatch.
func runPolicyTest(env *environment, args []string) error {
	fs := flag.NewFlagSet("gatehouse policy test", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	modelPath := fs.String("model", envOr(env, "GATEHOUSE_MODEL", "model.conf"), "Casbin model")
	policyPath := fs.String("policy", envOr(env, "GATEHOUSE_POLICY", "policy.csv"), "policy CSV")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		return errors.New("policy test needs one decisions file")
	}
	model, err := rbac.LoadModel(*modelPath)
	if err != nil {
		return err
	}
	rules, err := readPolicyFile(*policyPath, model)
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	df, err := rbac.ParseDecisions(f, model)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	authz, err := rbac.NewMemory(model, append(rules, df.Rules...))
	if err != nil {
		return err
	}
	mismatches := df.Run(authz)
	for _, m := range mismatches {
		fmt.Fprintln(env.stdout, m.String())
	}
	if len(mismatches) > 0 {
		return fmt.Errorf("%d of %d decisions differ from %s", len(mismatches), len(df.Cases), fs.Arg(0))
	}
	fmt.Fprintf(env.stdout, "ok: %d decisions hold\n", len(df.Cases))
	return nil
}

func loadMemoryPolicy(modelPath, policyPath string) (*rbac.Authorizer, error) {
	model, err := rbac.LoadModel(modelPath)
	if err != nil {
		return nil, err
	}
	rules, err := readPolicyFile(policyPath, model)
	if err != nil {
		return nil, err
	}
	return rbac.NewMemory(model, rules)
}

func envOr(env *environment, key, def string) string {
	if v := env.getenv(key); v != "" {
		return v
	}
	return def
}
