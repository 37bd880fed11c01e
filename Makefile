# Pulse — the two commands are `make demo` and `make test`. See README.md.
include versions.env

.PHONY: demo test bench soak setup up down clean bi test-unit test-pgrx test-regress test-e2e test-dbt test-bi help

help:
	@echo "make demo      set up, start the embedded stack, run the pipeline on 30k generated orders (two months of every event family)"
	@echo "make test      set up and run every test suite (last line: N passed, N failed)"
	@echo "make bench     throughput, latency and memory benchmarks (prints ratios; asserts nothing on time)"
	@echo "make soak      the crash test with 200 SIGKILL cycles instead of 20"
	@echo "make up/down   start/stop PostgreSQL and the broker under .pulse/ (PULSE_PGPORT, PULSE_KAFKA_PORT)"
	@echo "make bi        Superset on 127.0.0.1:28088 (PULSE_BI_PORT): the dashboards in bi/superset/ over the bi views, read-only"
	@echo "make test-unit|test-pgrx|test-regress|test-e2e|test-dbt|test-bi   one suite"

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh

test-unit test-pgrx test-regress test-e2e test-dbt test-bi:
	@scripts/test.sh $(@:test-%=%)

bench:
	@scripts/bench.sh

soak: up
	@E2E_KILL_CYCLES=$${E2E_KILL_CYCLES:-200} bash tests/e2e/exactly_once.sh

setup:
	@scripts/setup.sh

up: setup
	@scripts/up.sh

bi:
	@scripts/bi.sh

down:
	@scripts/down.sh

clean: down
	rm -rf .pulse target dbt/target dbt/logs
