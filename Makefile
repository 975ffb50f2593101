# gatehouse: `make run` starts the server, `make test` runs every test.
GO ?= go

.PHONY: help run console build test vet fmt bench fuzz soak cluster scan rename

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

run: ## start the API on 127.0.0.1:8080 (database in data/)
	$(GO) run ./cmd/gatehouse serve

console: ## open the terminal console against the local server
	$(GO) run ./cmd/gatehouse-console

cluster: ## try several instances: PostgreSQL, Redis, two servers and nginx on loopback (Ctrl-C stops all)
	$(GO) build -o bin/ ./cmd/gatehouse ./cmd/gatehouse-cluster
	bin/gatehouse-cluster -gatehouse bin/gatehouse -instances $(or $(INSTANCES),2)

SCAN_URL ?= http://127.0.0.1:8080

scan: ## check the running server (make run, or SCAN_URL) from the outside
	$(GO) run ./cmd/gatehouse scan $(SCAN_URL)

build: ## build both binaries into bin/
	$(GO) build -o bin/ ./cmd/...

test: vet ## run every test (race detector on), the route check and the seed decisions
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz-brief
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./... # every benchmark once, as a smoke run (make bench measures)
	$(GO) run ./cmd/gatehouse routes --check > /dev/null
	$(GO) run ./cmd/gatehouse policy test testdata/decisions.csv

rename: ## make this copy your own module: make rename MODULE=example.com/myservice
	@test -n "$(MODULE)" || { echo "usage: make rename MODULE=example.com/myservice"; exit 2; }
	$(GO) run ./cmd/rename -module "$(MODULE)"

vet: ## go vet
	$(GO) vet ./...

fmt: ## gofmt every file
	gofmt -w .

# --- performance: `make bench` (BENCHMARKS.md says what each figure means) ---
# The decision benchmarks (gatehouse's engine against plain Casbin Enforce,
# at 1k, 10k and 100k users), then gatehouse-bench report: a generated
# database of BENCH_USERS users, start-up, policy changes, the HTTP
# comparison with a bare Echo (and, with wrk, on PostgreSQL and Redis
# against a one-query Echo; -postgres=false in BENCH_HTTP leaves it out),
# concurrent logins and an auth-failure flood.
# Raw outputs go to bin/bench/; the summary table is printed at the end.
BENCH_COUNT ?= 5
BENCH_TIME ?= 200ms
BENCH_USERS ?= 100000
BENCH_HTTP ?= -duration 3s -rounds 3

bench: ## measure and print the performance table (a few minutes)
	@mkdir -p bin/bench
	@command -v wrk >/dev/null || echo "make bench: wrk missing (apt-get install wrk): the wrk ratio of the request path is not measured"
	$(GO) build -o bin/ ./cmd/gatehouse ./cmd/gatehouse-bench
	$(GO) test -run='^$$' -bench='^Benchmark(Decide|DecideParallel|CasbinCached|Load)$$' -benchmem \
		-count=$(BENCH_COUNT) -benchtime=$(BENCH_TIME) ./rbac > bin/bench/decisions.txt
	bin/gatehouse-bench report -gatehouse bin/gatehouse -gobench bin/bench/decisions.txt \
		-users $(BENCH_USERS) $(BENCH_HTTP) | tee bin/bench/table.md

# --- Reliability: fuzzing and soak -------------------------------------------
# Every Fuzz target's seed corpus (testdata/fuzz/<Target>/ in its package)
# runs as a plain test in `go test`. fuzz-brief (part of make test) fuzzes
# the three targets that guard the most hostile input a fixed number of
# times each, a few seconds on an idle machine; `make fuzz` fuzzes every
# target in the module for FUZZTIME each; `make soak` runs the long versions
# of the crash harness, the concurrency test and the fuzzers. A crasher
# lands in testdata/fuzz/<Target>/: commit it with the fix.
# Brief runs are bounded by a count (-fuzztime=Nx), not a duration: up to
# Go 1.26, a duration can end a run that found nothing with a spurious
# "context deadline exceeded" failure (golang/go#75804), and on a busy
# machine a few seconds fuzz little beyond the corpus. A count does the
# same work however busy the machine is; the inputs of the corpus (seeds
# and those cached from earlier runs) count towards it.
# FUZZTIME takes either form (FUZZTIME=2000000x): prefer a count for a run
# whose failure must mean a crasher.
# Minimizing each new interesting input may take a minute by default, with
# no fuzzing meanwhile: FUZZMINIMIZETIME bounds it.
FUZZTIME ?= 1m
FUZZMINIMIZETIME ?= 5s
SOAKTIME ?= 2m
SOAK_KILLS ?= 200
SOAK_FUZZTIME ?= 5m
FUZZ_BRIEF_CSV ?= 20000x
FUZZ_BRIEF_CREDENTIAL ?= 2000x
FUZZ_BRIEF_DECODE ?= 10000x

.PHONY: fuzz-brief

fuzz-brief: ## fuzz the policy CSV parser, the credential parser and request bodies briefly (in make test)
	$(GO) test -run='^$$' -fuzz='^FuzzParseCSV$$' -fuzztime=$(FUZZ_BRIEF_CSV) -fuzzminimizetime=1s ./rbac
	$(GO) test -run='^$$' -fuzz='^FuzzCredential$$' -fuzztime=$(FUZZ_BRIEF_CREDENTIAL) -fuzzminimizetime=1s ./app
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZ_BRIEF_DECODE) -fuzzminimizetime=1s ./app

fuzz: ## run every fuzz target for FUZZTIME (default 1m) each
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list='^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg; \
		done; \
	done

soak: ## long runs: SOAK_KILLS crash rounds, SOAKTIME of concurrency, SOAK_FUZZTIME per fuzz target
	GATEHOUSE_SOAK=1 GATEHOUSE_SOAK_KILLS=$(SOAK_KILLS) GATEHOUSE_SOAK_TIME=$(SOAKTIME) $(GO) test -race -count=1 -timeout=3h \
		-run='^(TestCrashSafety|TestConcurrentChangesAndDecisions)$$' ./cmd/gatehouse ./app
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(SOAK_FUZZTIME)
