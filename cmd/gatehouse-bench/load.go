package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// loadResult is what one load run measured.
type loadResult struct {
	ok, failed int
	elapsed    time.Duration
	latencies  []time.Duration // of every answered request, sorted
}

// rps is the rate of successful answers.
func (r loadResult) rps() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// percentile is the latency below which a fraction p of requests fell.
func (r loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(p * float64(len(r.latencies)-1))
	return r.latencies[i]
}

// newClient is the HTTP client of every load run: keep-alive connections,
// one per worker, no compression.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// closedLoop sends requests from workers goroutines, each waiting for its
// answer before sending the next, for d after a warm-up of d/5 that is not
// counted. newReq gives each worker its request, reused for every send;
// want is the status counted as success.
func closedLoop(ctx context.Context, client *http.Client, workers int, d time.Duration, want int, newReq func(worker int) *http.Request) loadResult {
	warm := time.Now().Add(d / 5)
	end := warm.Add(d)
	var mu sync.Mutex
	var total loadResult
	var wg sync.WaitGroup
	for w := range workers {
		req := newReq(w).WithContext(ctx)
		wg.Go(func() {
			var res loadResult
			for {
				t := time.Now()
				if t.After(end) || ctx.Err() != nil {
					break
				}
				status := send(client, req)
				if t.Before(warm) {
					continue
				}
				if status == want {
					res.ok++
					res.latencies = append(res.latencies, time.Since(t))
				} else {
					res.failed++
				}
			}
			mu.Lock()
			total.ok += res.ok
			total.failed += res.failed
			total.latencies = append(total.latencies, res.latencies...)
			mu.Unlock()
		})
	}
	wg.Wait()
	total.elapsed = d
	slices.Sort(total.latencies)
	return total
}

// paced sends one request every interval until ctx ends, from one
// goroutine per request so that a slow answer does not delay the next (an
// open loop: the latency a user sees while something else loads the
// server).
func paced(ctx context.Context, client *http.Client, interval time.Duration, want int, newReq func() *http.Request) loadResult {
	var mu sync.Mutex
	var res loadResult
	var wg sync.WaitGroup
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
		}
		wg.Go(func() {
			t := time.Now()
			status := send(client, newReq().WithContext(context.WithoutCancel(ctx)))
			lat := time.Since(t)
			mu.Lock()
			defer mu.Unlock()
			if status == want {
				res.ok++
				res.latencies = append(res.latencies, lat)
			} else {
				res.failed++
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

// send makes one request and reads its answer whole; 0 means no answer.
func send(client *http.Client, req *http.Request) int {
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
