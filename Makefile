# devk — run `make help` for targets.
GO ?= go
KUBERNETES_VERSION ?= v1.37.2
BIN := bin/devk

.PHONY: build node-image test test-short test-faults test-versions test-cgroup2 conformance e2e bench bench-cold lint help

build: ## build bin/devk
	$(GO) build -o $(BIN) .

node-image: build ## build (or reuse) the node image for KUBERNETES_VERSION
	$(BIN) node-image --kubernetes-version $(KUBERNETES_VERSION)

test-short: ## unit tests only (fast, no Docker engine needed)
	$(GO) test -short ./...

test: build ## unit tests, then the end-to-end tests on the real Docker engine
	$(GO) vet ./...
	$(GO) test -short ./...
	@# Built (or found in the cache) up front, so its progress shows and no test waits on it.
	$(BIN) node-image --kubernetes-version $(KUBERNETES_VERSION)
	$(BIN) node-image --vm --kubernetes-version $(KUBERNETES_VERSION)
	DEVK_E2E=1 $(GO) test -count=1 -timeout 80m -v ./e2e/...

test-faults: build ## the fault suite alone, with its slow cases (DEVK_FAULTS_FULL=1)
	$(BIN) node-image --kubernetes-version $(KUBERNETES_VERSION)
	DEVK_E2E=1 DEVK_FAULTS_FULL=1 $(GO) test -count=1 -timeout 40m -v -run 'TestFaults' ./e2e/...

# The three newest minors (all run on this project's cgroup v1 hosts); override for others.
VERSIONS ?= v1.35.4,v1.36.3,v1.37.2
test-versions: build ## the lifecycle on each of VERSIONS (builds each node image from source the first time)
	DEVK_E2E=1 DEVK_E2E_VERSIONS=$(VERSIONS) $(GO) test -count=1 -timeout 120m -v -run 'TestKubernetesVersions' ./e2e/...

test-cgroup2: build ## the docker driver on a cgroup v2 host: devk inside a devk VM (slow under emulation)
	$(BIN) node-image --kubernetes-version $(KUBERNETES_VERSION)
	$(BIN) node-image --vm --kubernetes-version $(KUBERNETES_VERSION)
	DEVK_E2E=1 DEVK_E2E_CGROUP2=1 $(GO) test -count=1 -timeout 110m -v -run 'TestCgroupV2InVM' ./e2e/...

# Every [Conformance] test (parallel, then serial), or those matching FOCUS; JUnit XML and
# summary.txt go to _output/conformance/.
FOCUS ?=
conformance: build ## Kubernetes' conformance suite on a fresh cluster (FOCUS='regex' for a subset)
	$(BIN) node-image --kubernetes-version $(KUBERNETES_VERSION)
	DEVK_E2E=1 DEVK_CONFORMANCE=full DEVK_CONFORMANCE_FOCUS='$(FOCUS)' DEVK_E2E_VERSION=$(KUBERNETES_VERSION) \
		DEVK_CONFORMANCE_OUT=$(CURDIR)/_output/conformance $(GO) test -count=1 -timeout 240m -v -run 'TestConformance' ./e2e/...

bench: build ## time startup phases and measure node memory; prints a table
	DEVK_E2E=1 $(GO) test -count=1 -timeout 60m -run '^$$' -bench . -benchtime 1x ./e2e/...

bench-cold: ## a first cluster from empty caches (devk, Go build and module caches, node image): about 11 min
	DEVK_E2E=1 DEVK_BENCH_COLD=1 $(GO) test -count=1 -timeout 60m -run '^$$' -bench 'FirstCluster' -benchtime 1x ./e2e/...

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'
