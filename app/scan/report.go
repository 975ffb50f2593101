package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the outcome of one check.
type Result string

// The results. Only Fail makes a scan fail; Warn is for what may be meant
// (plain HTTP to another host, a public route closed by a setting).
const (
	Pass Result = "pass"
	Fail Result = "FAIL"
	Warn Result = "warn"
	Skip Result = "skip"
)

// Check is one thing a scan verified, with what it saw.
type Check struct {
	Name     string `json:"check"`
	Result   Result `json:"result"`
	Evidence string `json:"evidence"`
}

// Report is the outcome of a scan.
type Report struct {
	Target    string
	Inventory string
	Requests  int
	Duration  time.Duration
	Checks    []Check
}

// Failures are the checks that failed.
func (r *Report) Failures() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Result == Fail {
			out = append(out, c)
		}
	}
	return out
}

func (r *Report) counts() map[Result]int {
	n := map[Result]int{}
	for _, c := range r.Checks {
		n[c.Result]++
	}
	return n
}

// Summary is one line: the checks by result, the requests and the time.
func (r *Report) Summary() string {
	n := r.counts()
	return fmt.Sprintf("%d checks: %d passed, %d failed, %d warnings, %d skipped; %d requests in %s",
		len(r.Checks), n[Pass], n[Fail], n[Warn], n[Skip], r.Requests, r.Duration.Round(10*time.Millisecond))
}

// WriteTable writes the report as a table a person reads: check, result,
// evidence, then the summary.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "gatehouse scan of %s (route inventory: %s)\n\n", r.Target, r.Inventory)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tEVIDENCE")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Result, oneLine(c.Evidence))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n" + r.Summary() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine keeps a table row on one line whatever a deployment answered.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", " ").Replace(s)
}

// reportJSON is the shape of --json.
type reportJSON struct {
	Target     string         `json:"target"`
	Inventory  string         `json:"inventory"`
	Requests   int            `json:"requests"`
	DurationMS int64          `json:"duration_ms"`
	Passed     bool           `json:"passed"`
	Counts     map[Result]int `json:"counts"`
	Checks     []Check        `json:"checks"`
}

// WriteJSON writes the report as one JSON object, for CI.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reportJSON{
		Target: r.Target, Inventory: r.Inventory, Requests: r.Requests,
		DurationMS: r.Duration.Milliseconds(), Passed: len(r.Failures()) == 0,
		Counts: r.counts(), Checks: r.Checks,
	})
}
