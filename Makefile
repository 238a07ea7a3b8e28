# The README's commands. `make test` is the one CI runs (.ci/run).
GO ?= go

.PHONY: run test bench build vet

# Run LotZero on its embedded defaults (no configuration needed): first the
# PostgreSQL server binaries it starts itself (installed when missing), then
# the server.
run:
	bash .ci/prepare postgres
	$(GO) run ./cmd/lotzero

# Everything the tests need, then vet, then every test under the race
# detector (with DynamoDB Local running), the end-to-end suite again on the
# DynamoDB firehose, then the proof gate on servers with their default settings:
# 500 real sessions racing for 50 units, and
# one wallet funded once racing for 500 lots on three nodes sharing one
# PostgreSQL (OCC decides), each with faults injected; any violation fails.
# Then the e2e suite and the same two races once more through the DSQL layer
# (internal/dsqlsim: 5 % of writing COMMITs aborted with 40001 OC000,
# connections closed after 20 s, DSQL's refusals and limits).
test:
	bash .ci/prepare
	$(GO) vet ./...
	bash .ci/with-dynamodb $(GO) test -race -count=1 -timeout 20m ./...
	LOTZERO_E2E_FIREHOSE=dynamodb bash .ci/with-dynamodb $(GO) test -race -count=1 -timeout 20m ./e2e
	LOTZERO_E2E_DSQL_SIM=1 bash .ci/with-dynamodb $(GO) test -race -count=1 -timeout 20m ./e2e
	$(GO) build -o bin/lotzero ./cmd/lotzero
	bin/lotzero proof --scenario oversell -n 500 -k 50 --faults
	bin/lotzero proof --scenario double-spend -n 500 --nodes 3 --faults
	bin/lotzero proof --scenario oversell -n 500 -k 50 --dsql-sim
	bin/lotzero proof --scenario double-spend -n 500 --nodes 3 --dsql-sim

# The ledger and cross-node benchmarks whose figures are in the README, the
# ledger's with durable settings (fsync on): the hot lot next to the
# database's bound for the hot row (the bare UPDATE), by 16 goroutines and
# by a crowd of 256, then the same with PostgreSQL 20 ms away per round trip
# (internal/dblatency).
bench:
	bash .ci/prepare
	LOTZERO_TEST_FSYNC=1 $(GO) test ./ledger -run '^$$' -bench 'ContendedClaims$$|RawHotRow$$|UncontendedBids' -benchtime 3000x -count 3
	LOTZERO_TEST_FSYNC=1 $(GO) test ./ledger -run '^$$' -bench 'Crowd' -benchtime 20000x -count 3
	LOTZERO_TEST_FSYNC=1 LOTZERO_BENCH_DB_LATENCY=20ms $(GO) test ./ledger -run '^$$' -bench RawHotRow -benchtime 3000x
	LOTZERO_TEST_FSYNC=1 $(GO) test ./ledger -run '^$$' -bench ContendedClaimsRemote -benchtime 5000x -count 2
	bash .ci/with-dynamodb $(GO) test ./e2e -run '^$$' -bench CrossNode -benchtime 1000x

build:
	$(GO) build -o bin/lotzero ./cmd/lotzero
