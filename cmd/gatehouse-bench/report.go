package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/rbac/rbactest"
)

// reportOptions say what `report` measures, and how long.
type reportOptions struct {
	genOptions
	gatehouseBin string        // gatehouse binary for start-up and logins; empty skips them
	gobench      string        // output of go test -bench to summarize; empty skips it
	conns        int           // load generator connections
	duration     time.Duration // of each load run
	rounds       int           // of the HTTP comparison
	wrk          bool          // measure the HTTP comparison with wrk too
	postgres     bool          // measure the request path on PostgreSQL and Redis with wrk too
	startups     int           // start-up runs
	changes      int           // of each kind of policy change
	logins       int           // concurrent logins
	work         string        // folder for the database; empty: a temporary one
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehouse-bench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := reportOptions{}
	fs.StringVar(&o.model, "model", "model.conf", "Casbin model")
	fs.StringVar(&o.policy, "policy", "policy.csv", "seed policy")
	fs.IntVar(&o.users, "users", 100_000, "users in the generated database")
	fs.IntVar(&o.notes, "notes", 1, "notes per user")
	fs.StringVar(&o.gatehouseBin, "gatehouse", "", "gatehouse binary, for start-up and login figures")
	fs.StringVar(&o.gobench, "gobench", "", "file holding the output of go test -bench, to summarize")
	fs.IntVar(&o.conns, "conns", 16, "connections of the load generator")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "length of each load run")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of the HTTP comparison (medians are reported)")
	fs.BoolVar(&o.wrk, "wrk", true, "measure the HTTP comparison with wrk too (when it is installed)")
	fs.BoolVar(&o.postgres, "postgres", true, "measure the request path on PostgreSQL and Redis with wrk too (needs -gatehouse, wrk, PostgreSQL and redis-server)")
	fs.IntVar(&o.startups, "startups", 3, "start-up runs (the median is reported)")
	fs.IntVar(&o.changes, "changes", 5, "policy changes of each kind")
	fs.IntVar(&o.logins, "logins", 200, "concurrent logins")
	fs.StringVar(&o.work, "work", "", "folder for the generated database (default: a temporary one, removed after)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	t, err := report(ctx, o, stderr)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, t.String())
	return nil
}

// report measures everything and returns the summary table. Progress goes
// to progress.
func report(ctx context.Context, o reportOptions, progress io.Writer) (*table, error) {
	t := &table{}
	t.note("Machine: " + machine() + "; load average at the start of the report: " + loadAverage() + ".")
	defer func() { t.note("Load average at the end of the report: " + loadAverage() + ".") }()
	if o.gobench != "" {
		f, err := os.Open(o.gobench)
		if err != nil {
			return nil, err
		}
		results, err := parseGoBench(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		addGoBench(t, results)
	}
	work := o.work
	if work == "" {
		dir, err := os.MkdirTemp("", "gatehouse-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	// The request path measured with wrk: `gatehouse serve` in its own
	// process on a fresh database, before the large one is generated, so
	// that this process (which serves the baselines) holds nothing big.
	fmt.Fprintln(progress, "HTTP comparisons with wrk...")
	addWrk(ctx, t, o, work, progress)
	o.db = filepath.Join(work, fmt.Sprintf("bench-%d.db", o.users))
	_ = os.Remove(o.db)
	defer os.Remove(o.db)
	fmt.Fprintf(progress, "generating %d users...\n", o.users)
	g, err := generate(ctx, o.genOptions)
	if err != nil {
		return nil, err
	}
	size := fmt.Sprintf("%s users, %d rules", count(g.size.Users), g.rules)
	t.add("generate the database ("+size+")", seconds(g.took), "", "")
	if o.gatehouseBin != "" {
		env := benchEnv(o.model, o.policy, "GATEHOUSE_DB="+g.path)
		fmt.Fprintln(progress, "start-up...")
		times, rss, err := measureStartup(ctx, o.gatehouseBin, env, o.startups)
		if err != nil {
			return nil, err
		}
		m := medianDuration(times)
		t.add(fmt.Sprintf("start-up to first answer (%s; median of %d)", size, len(times)), seconds(m), "", target(m < 3*time.Second, "< 3 s"))
		t.add("resident memory once started", megabytes(rss), "", "")
		fmt.Fprintf(progress, "%d concurrent logins...\n", o.logins)
		lb, err := measureLogins(ctx, o.gatehouseBin, env, g, o.logins)
		if err != nil {
			return nil, err
		}
		t.add(fmt.Sprintf("%d concurrent logins: peak resident memory (before: %s)", lb.n, megabytes(lb.idleRSS)),
			megabytes(lb.peakRSS), "", target(lb.peakRSS < 300<<20, "< 300 MB"))
		t.add(fmt.Sprintf("%d concurrent logins: peak anonymous memory (heap, without the mapped database file)", lb.n),
			megabytes(lb.peakAnon), "", "")
		t.add(fmt.Sprintf("%d concurrent logins: time for all (%d failed)", lb.n, lb.failed), seconds(lb.wall), "", "")
		t.add(fmt.Sprintf("note reads meanwhile, every 10 ms: p50 / p99 (%d answered, %d failed)", lb.probe.ok, lb.probe.failed),
			fmt.Sprintf("%s / %s", ms(lb.probe.percentile(0.5)), ms(lb.probe.percentile(0.99))), "", target(lb.probe.ok > 0 && lb.probe.failed == 0, "answered"))
	}
	srv, err := startInProcess(ctx, g.path, o.model, io.Discard)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	fmt.Fprintln(progress, "policy changes...")
	cv, err := measureChanges(ctx, srv, g, o.changes)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name string
		ds   []time.Duration
	}{
		{"rule added", cv.ruleAdded}, {"rule removed", cv.ruleRemoved},
		{"role link added", cv.linkAdded}, {"role link removed", cv.linkRemoved},
	} {
		m := slices.Max(c.ds)
		t.add(fmt.Sprintf("%s, then the next request sees it (slowest of %d)", c.name, len(c.ds)), ms(m), "", target(m < 50*time.Millisecond, "< 50 ms"))
	}
	t.note("Policy changes were made through " + cv.via + ", at the full size; the time runs from sending the change to the answer of the next request, which must already reflect it (no retry).")

	fmt.Fprintln(progress, "HTTP comparison...")
	cmp, err := compareHTTP(ctx, srv, g, o.conns, o.duration, o.rounds)
	if err != nil {
		return nil, err
	}
	ghRPS, bareRPS := medianOf(cmp.gatehouse, loadResult.rps), medianOf(cmp.bare, loadResult.rps)
	t.add("GET /api/notes/:id as its owner, requests/s (baseline: bare Echo from memory)", fmt.Sprintf("%.0f", ghRPS), fmt.Sprintf("%.0f", bareRPS),
		fmt.Sprintf("%.0f%%; %s", 100*ghRPS/bareRPS, target(ghRPS >= 0.6*bareRPS, ">= 60%")))
	for _, p := range []float64{0.5, 0.99} {
		gh := medianOf(cmp.gatehouse, func(r loadResult) float64 { return float64(r.percentile(p)) })
		bare := medianOf(cmp.bare, func(r loadResult) float64 { return float64(r.percentile(p)) })
		t.add(fmt.Sprintf("GET /api/notes/:id, p%.0f latency", 100*p), ms(time.Duration(gh)), ms(time.Duration(bare)), fmt.Sprintf("%.2fx", gh/bare))
	}
	failed := 0
	for _, r := range append(cmp.gatehouse, cmp.bare...) {
		failed += r.failed
	}
	t.note(fmt.Sprintf("HTTP: Bearer personal API token (gatehouse_pat_...), %d keep-alive connections from one Go load generator in this process, %d rounds of %s per side, alternating; medians of the rounds; %d failed requests. "+
		"The rate limits were raised for every load run (GATEHOUSE_RATE_LIMIT and GATEHOUSE_LOGIN_RATE_LIMIT = 100000000-M): the default 600-M per address would refuse the load generator's one address; the limiter still counts every request.",
		o.conns, o.rounds, o.duration, failed))

	fmt.Fprintln(progress, "auth-failure flood...")
	fl, err := measureFlood(ctx, srv, g, o.conns, o.duration)
	if err != nil {
		return nil, err
	}
	attackRPS := fl.attack.rps()
	t.add("auth-failure flood: failed requests/s sent (401, each one logged)", fmt.Sprintf("%.0f", attackRPS), "", target(attackRPS >= 5000, ">= 5000 or the most this machine sends"))
	floodSecs := (o.duration + o.duration/5).Seconds() // the warm-up is flooded too
	t.add(fmt.Sprintf("auth-failure flood: store write transactions/s (%d in %.1f s; %d once the queue was flushed)", fl.writes, floodSecs, fl.flushedWrites),
		fmt.Sprintf("%.1f", float64(fl.writes)/floodSecs), fmt.Sprintf("%.0f", attackRPS), "bounded: batched")
	p99 := fl.legit.percentile(0.99)
	t.add(fmt.Sprintf("auth-failure flood: legitimate reads meanwhile, p99 (%d sent, %d failed)", fl.legit.ok+fl.legit.failed, fl.legit.failed),
		ms(p99), "", target(p99 < 50*time.Millisecond && fl.legit.failed == 0, "< 50 ms"))
	t.note("Auth-failure flood: unknown personal tokens from 250 client addresses (X-Forwarded-For, loopback trusted as a proxy), baseline column = failures that would be one write each without batching.")
	return t, nil
}

// machine names this machine: CPUs, CPU model and Go version.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				model = strings.TrimSpace(value)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s %s/%s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// loadAverage is the 1, 5 and 15 minute load averages (Linux), to judge
// how much else the machine was doing.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func medianOf(rs []loadResult, f func(loadResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return median(v)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// goBench is one benchmark's results, one per -count run.
type goBench struct {
	nsPerOp, allocsPerOp []float64
}

// parseGoBench reads go test -bench output: "BenchmarkX/y-2  N  123 ns/op
// 64 B/op  1 allocs/op", with the GOMAXPROCS suffix dropped from names.
func parseGoBench(r io.Reader) (map[string]*goBench, error) {
	out := map[string]*goBench{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		b := out[name]
		if b == nil {
			b = &goBench{}
			out[name] = b
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				b.nsPerOp = append(b.nsPerOp, v)
			case "allocs/op":
				b.allocsPerOp = append(b.allocsPerOp, v)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no benchmark results in the go test output")
	}
	return out, sc.Err()
}

// addGoBench puts the decision benchmarks in the table: medians of the
// runs, gatehouse's engine against plain Casbin Enforce.
func addGoBench(t *table, results map[string]*goBench) {
	ns := func(name string) (float64, bool) {
		b, ok := results[name]
		if !ok || len(b.nsPerOp) == 0 {
			return 0, false
		}
		return median(b.nsPerOp), true
	}
	allocs := func(name string) string {
		b, ok := results[name]
		if !ok || len(b.allocsPerOp) == 0 {
			return "?"
		}
		return fmt.Sprintf("%.0f", median(b.allocsPerOp))
	}
	largest := ""
	runs := 0
	for _, size := range []string{"1k", "10k", "100k"} {
		for _, c := range []string{"allow", "deny"} {
			prefix := "Decide/users=" + size + "/"
			gh, ok1 := ns(prefix + "gatehouse/" + c)
			cb, ok2 := ns(prefix + "casbin/" + c)
			if !ok1 || !ok2 {
				continue
			}
			largest = size
			runs = len(results[prefix+"gatehouse/"+c].nsPerOp)
			ratio := fmt.Sprintf("%.0fx faster", cb/gh)
			if size == "100k" {
				ratio += "; " + target(gh <= 5000, "<= 5 µs") + "; " + target(cb/gh >= 100, "aim >= 100x")
			}
			t.add(fmt.Sprintf("one decision, %s users, %s (time; allocs) vs plain Casbin Enforce", size, c),
				fmt.Sprintf("%s; %s", nanos(gh), allocs(prefix+"gatehouse/"+c)),
				fmt.Sprintf("%s; %s", nanos(cb), allocs(prefix+"casbin/"+c)),
				ratio)
		}
	}
	if largest == "" {
		return
	}
	for _, c := range []string{"allow", "deny"} {
		small, ok1 := ns("Decide/users=1k/gatehouse/" + c)
		large, ok2 := ns("Decide/users=" + largest + "/gatehouse/" + c)
		if ok1 && ok2 && largest != "1k" {
			t.add(fmt.Sprintf("flat in users: one decision (%s), %s users vs 1k users", c, largest), nanos(large), nanos(small), fmt.Sprintf("%.2fx", large/small))
		}
	}
	prefix := "Decide/users=" + largest + "/"
	if gh, ok := ns(prefix + "gatehouse/allow"); ok {
		if scan, ok := ns(prefix + "gatehouse-noindex/allow"); ok {
			t.add("design: route index vs scanning every rule ("+largest+", allow)", nanos(gh), nanos(scan), fmt.Sprintf("%.0fx faster", scan/gh))
		}
		if par, ok := ns("DecideParallel/users=" + largest + "/gatehouse/allow"); ok {
			t.add("one decision, every CPU deciding at once ("+largest+")", nanos(par), nanos(gh)+" alone", "")
		}
		if cached, ok := ns("CasbinCached/users=" + largest + "/casbin-cached/allow"); ok {
			t.add("reference: Casbin CachedEnforcer hit (unbounded, never cleared by role changes)", nanos(gh), nanos(cached), fmt.Sprintf("%.2fx", cached/gh))
		}
	}
	if load, ok := ns("Load/users=" + largest + "/gatehouse"); ok {
		t.add("load the policy into the engine ("+largest+" users)", ms(time.Duration(load)), "", "")
	}
	t.note(fmt.Sprintf("decisions: medians of %d go test -bench runs; the sizes are %s.", runs, describeSize()))
}

func describeSize() string {
	s := rbactest.SizeFor(100_000)
	return fmt.Sprintf("at 100k users, %s groups, %s links, %d p rules (rbactest.SizeFor)", count(s.Groups), count(2*s.Users), s.Rules)
}

// table is the summary `make bench` prints, in Markdown.
type table struct {
	rows  [][4]string
	notes []string
}

func (t *table) add(figure, gatehouse, baseline, ratio string) {
	t.rows = append(t.rows, [4]string{figure, gatehouse, baseline, ratio})
}

func (t *table) note(s string) { t.notes = append(t.notes, s) }

func (t *table) String() string {
	var b strings.Builder
	rows := append([][4]string{{"figure", "gatehouse", "baseline", "ratio / target"}, {"---", "---", "---", "---"}}, t.rows...)
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
	if len(t.notes) > 0 {
		b.WriteString("\n")
		for _, n := range t.notes {
			b.WriteString("- " + n + "\n")
		}
	}
	return b.String()
}

// target is the last column of a row with a target: the target, and
// whether it was met.
func target(ok bool, want string) string {
	if ok {
		return "target " + want + ": met"
	}
	return "target " + want + ": NOT MET"
}

func nanos(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.2f ms", ns/1e6)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func megabytes(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

func count(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
