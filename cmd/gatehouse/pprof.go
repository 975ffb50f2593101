//go:build pprof

package main

// Built only with -tags pprof (BENCHMARKS.md, "Profiling"): a separate
// listener on GATEHOUSE_PPROF_ADDR (default 127.0.0.1:6060) serving
// net/http/pprof, for profiling the server under load. Never in a
// normal build: the API's own listener has no such routes.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("GATEHOUSE_PPROF_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
