# gatehouse: `make run` starts the server, `make test` runs every test.
GO ?= go

.PHONY: help run console build test vet fmt bench fuzz soak

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

run: ## start the API on 127.0.0.1:8080 (database in data/)
	$(GO) run ./cmd/gatehouse serve

console: ## open the terminal console against the local server
	$(GO) run ./cmd/gatehouse-console

build: ## build both binaries into bin/
	$(GO) build -o bin/ ./cmd/...

test: vet ## run every test (race detector on), the route check and the seed decisions
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) test -race -count=1 ./...
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=5s ./app
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./... # every benchmark once, as a smoke run (make bench measures)
	$(GO) run ./cmd/gatehouse routes --check > /dev/null
	$(GO) run ./cmd/gatehouse policy test testdata/decisions.csv

vet: ## go vet
	$(GO) vet ./...

fmt: ## gofmt every file
	gofmt -w .

# --- performance: `make bench` (BENCHMARKS.md says what each figure means) ---
# The decision benchmarks (gatehouse's engine against plain Casbin Enforce,
# at 1k, 10k and 100k users), then gatehouse-bench report: a generated
# database of BENCH_USERS users, start-up, policy changes, the HTTP
# comparison with a bare Echo, concurrent logins and an auth-failure flood.
# Raw outputs go to bin/bench/; the summary table is printed at the end.
BENCH_COUNT ?= 5
BENCH_TIME ?= 200ms
BENCH_USERS ?= 100000
BENCH_HTTP ?= -duration 3s -rounds 3

bench: ## measure and print the performance table (a few minutes)
	@mkdir -p bin/bench
	$(GO) build -o bin/ ./cmd/gatehouse ./cmd/gatehouse-bench
	$(GO) test -run='^$$' -bench='^Benchmark(Decide|DecideParallel|CasbinCached|Load)$$' -benchmem \
		-count=$(BENCH_COUNT) -benchtime=$(BENCH_TIME) ./rbac > bin/bench/decisions.txt
	bin/gatehouse-bench report -gatehouse bin/gatehouse -gobench bin/bench/decisions.txt \
		-users $(BENCH_USERS) $(BENCH_HTTP) | tee bin/bench/table.md
