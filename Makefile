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
	$(GO) run ./cmd/gatehouse routes --check > /dev/null
	$(GO) run ./cmd/gatehouse policy test testdata/decisions.csv

vet: ## go vet
	$(GO) vet ./...

fmt: ## gofmt every file
	gofmt -w .
