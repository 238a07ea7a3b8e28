# The README's commands. `make test` is the one CI runs (.ci/run).
GO ?= go

.PHONY: run test bench build vet

# Run LotZero on its embedded defaults (no configuration needed).
run:
	$(GO) run ./cmd/lotzero

# Everything the tests need, then vet, then every test under the race detector.
test:
	bash .ci/prepare
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# The ledger benchmarks whose figures are in the README.
bench:
	bash .ci/prepare
	$(GO) test ./ledger -run '^$$' -bench . -benchtime 3000x -count 3

build:
	CGO_ENABLED=0 $(GO) build -o bin/lotzero ./cmd/lotzero
