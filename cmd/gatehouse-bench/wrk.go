package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// The same comparison measured with wrk, a C load generator that needs far
// less CPU than the Go one: on a machine of two CPUs the Go generator takes
// a good share of them from both servers, which pulls their ratio toward 1.
// wrk is the measure of the request path's cost; the Go generator's figures
// stay for latency.

// wrkConns is how many connections wrk keeps open (one thread).
const wrkConns = 32

// errNoWrk says wrk is not installed: the report says so in one line.
var errNoWrk = errors.New("wrk missing (apt-get install wrk): the wrk comparison was skipped")

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// runWrk loads url with wrk for d, sending token as a Bearer token when it
// is not empty, and returns its requests per second. Any answer other than
// a 2xx makes the run fail: the figure would not be of the same work.
func runWrk(ctx context.Context, url, token string, d time.Duration) (float64, error) {
	args := []string{"-t1", "-c" + strconv.Itoa(wrkConns), "-d" + strconv.Itoa(max(int(d.Seconds()), 1)) + "s"}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk %s: %w: %s", url, err, out)
	}
	if bytes.Contains(out, []byte("Non-2xx")) {
		return 0, fmt.Errorf("wrk %s: answers other than 2xx: %s", url, out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk %s: no Requests/sec in %s", url, out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// wrkComparison is requests per second of each side, round by round.
type wrkComparison struct {
	gatehouse, bare []float64
}

// compareWrk measures gatehouseURL (with token) and bareURL with wrk in
// alternating rounds of d each, so that both see the same noise.
func compareWrk(ctx context.Context, gatehouseURL, token, bareURL string, d time.Duration, rounds int) (*wrkComparison, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, errNoWrk
	}
	cmp := &wrkComparison{}
	for range rounds {
		g, err := runWrk(ctx, gatehouseURL, token, d)
		if err != nil {
			return nil, err
		}
		b, err := runWrk(ctx, bareURL, "", d)
		if err != nil {
			return nil, err
		}
		cmp.gatehouse, cmp.bare = append(cmp.gatehouse, g), append(cmp.bare, b)
	}
	return cmp, nil
}
