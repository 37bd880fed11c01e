# Pulse — the two commands are `make demo` and `make test`. See README.md.
include versions.env

.PHONY: demo test bench soak setup up down clean test-unit test-pgrx test-regress test-e2e test-dbt help

help:
	@echo "make demo      set up, start the embedded stack, run the pipeline on 100k generated orders"
	@echo "make test      set up and run every test suite (last line: N passed, N failed)"
	@echo "make bench     throughput, latency and memory benchmarks (prints ratios; asserts nothing on time)"
	@echo "make soak      the crash test with 200 SIGKILL cycles instead of 20"
	@echo "make up/down   start/stop PostgreSQL and the broker under .pulse/ (PULSE_PGPORT, PULSE_KAFKA_PORT)"
	@echo "make test-unit|test-pgrx|test-regress|test-e2e|test-dbt   one suite"

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh

test-unit test-pgrx test-regress test-e2e test-dbt:
	@scripts/test.sh $(@:test-%=%)

bench:
	@scripts/bench.sh

soak: up
	@E2E_KILL_CYCLES=$${E2E_KILL_CYCLES:-200} bash tests/e2e/exactly_once.sh

setup:
	@scripts/setup.sh

up: setup
	@scripts/up.sh

down:
	@scripts/down.sh

clean: down
	rm -rf .pulse target dbt/target dbt/logs
