# mesosnet — developer entry points. `make` (or `make help`) lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       ?= $(CURDIR)/bin
TOOLS_BIN ?= $(CURDIR)/bin/tools
PKGS      ?= ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
BENCHCOUNT ?= 1
TESTFLAGS ?=

BINARIES := $(notdir $(wildcard cmd/*))

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build every binary of cmd/ into ./bin.
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES))

.PHONY: test
test: ## Unit and integration tests (unprivileged, race detector on). This is what CI runs.
	$(GO) test -race -count=1 $(TESTFLAGS) $(PKGS)

.PHONY: test-netns
test-netns: ## Real-kernel tests in throwaway network namespaces (needs root).
	$(GO) test -tags netns -count=1 $(TESTFLAGS) $(PKGS)

.PHONY: e2e
e2e: ## End-to-end tests on Docker nodes (needs Docker).
	$(GO) test -tags e2e -count=1 -timeout 30m $(TESTFLAGS) ./e2e/...

.PHONY: bench
bench: ## Go benchmarks (BENCHTIME, BENCHCOUNT); results feed the README tables.
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) $(PKGS)

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each.
	FUZZTIME=$(FUZZTIME) GO=$(GO) hack/fuzz.sh

.PHONY: tools
tools: ## Install the pinned developer tools (hack/tools/go.mod) into bin/tools.
	@mkdir -p $(TOOLS_BIN)
	cd hack/tools && GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck golang.org/x/perf/cmd/benchstat

.PHONY: lint
lint: tools ## staticcheck over the module.
	$(TOOLS_BIN)/staticcheck -checks all,-ST1000,-ST1003 $(PKGS)

.PHONY: verify
verify: ## gofmt, go vet, go mod tidy -diff, lint.
	hack/verify.sh
	$(MAKE) lint

.PHONY: demo
demo: build ## Run the demo: a simulated Mesos master and mesosnet watching it.
	hack/demo.sh

.PHONY: clean
clean: ## Remove build outputs.
	rm -rf $(BIN)
