#!/usr/bin/env bash
# dbt benchmark (make bench): a full `dbt build` against an incremental one after a new day of
# events, in one run, on the same database:
#  1. BENCH_DBT_ORDERS orders (default 480,000: about 10.5M events over every family) over the
#     59 days before yesterday, landed through the broker and the ingester; the shop's features and
#     experiments registered as the demo does;
#  2. `dbt build --full-refresh` (every model rebuilt, every test run);
#  3. a new day of events (1/60 of the orders, another seed) landed the same way;
#  4. `dbt build`: incremental models take only what landed (no ingest margin, see below), tables
#     and tests run as always;
#  5. `dbt build --full-refresh` again on the same data, the time the incremental run saves.
# Prints the times, the ratio incremental / full (target: <= 10 %) and each build's slowest nodes.
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh"
. "$STATE/env"

ORDERS=${BENCH_DBT_ORDERS:-480000}
DBT=("$ROOT/.venv/bin/dbt")
now() { date +%s.%N; }
# events: messages landed so far (every chunk's offsets); raw.clickstream drops days past its
# 30-day retention into raw.clickstream_1m, so fewer rows stay than landed.
events() { q "select coalesce(sum(next_offset), 0) from raw.ingest_offsets"; }
held() {
  q "select (select count(*) from raw.orders) + (select count(*) from raw.payments) + (select count(*) from raw.clickstream)
          + (select count(*) from raw.inventory) + (select count(*) from raw.exposures) + (select count(*) from raw.cdc_changes)"
}
# build NAME ARGS...: one dbt build, timed; its log and run_results kept under $WORK.
build() {
  local name="$1" a b; shift
  a=$(now)
  (cd "$ROOT/dbt" && "${DBT[@]}" build --profiles-dir . --target-path "$WORK/target" "$@") >"$WORK/$name.log" 2>&1 \
    || { tail -30 "$WORK/$name.log" >&2; echo "not ok - dbt build $name failed (log: $WORK/$name.log)"; exit 1; }
  b=$(now)
  cp "$WORK/target/run_results.json" "$WORK/$name.run_results.json"
  calc "$b - $a"
}
# slowest NAME: the five slowest nodes of a build.
slowest() {
  "$ROOT/.venv-ml/bin/python" - "$WORK/$1.run_results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
for n in sorted(r, key=lambda n: -n["execution_time"])[:5]:
    print(f"    {n['execution_time']:7.2f} s  {n['unique_id'].split('.', 1)[1]}")
PY
}

# The benchmark's own broker, started empty for each chunk of events: tansu keeps every message in
# one sqlite file, and at about 5M messages its fetches took over a minute each (the consumer
# timed out of its group and the landing stalled). A fresh file per chunk keeps it fast; the rows
# still go generator → broker → pulse-ingest → raw.* as in the demo.
BENCH_KAFKA_PORT=${BENCH_DBT_KAFKA_PORT:-29093}
CHUNKS=${BENCH_DBT_CHUNKS:-6}
fresh_broker() {
  (
    KAFKA_DIR="$WORK/kafka" KAFKA_LOG="$WORK/kafka/tansu.log" KAFKA_PIDFILE="$WORK/kafka/tansu.pid"
    PULSE_KAFKA_PORT=$BENCH_KAFKA_PORT
    [ -f "$KAFKA_PIDFILE" ] && stop_broker
    rm -rf "$KAFKA_DIR"; mkdir -p "$KAFKA_DIR"
    start_broker
  )
}
trap 'kill -KILL $(jobs -p) 2>/dev/null; (KAFKA_PIDFILE="$WORK/kafka/tansu.pid"; [ -f "$KAFKA_PIDFILE" ] && stop_broker) || true' EXIT
# land_chunk N ORDERS DAYS END SEED: produces one chunk through a fresh broker and lands it.
land_chunk() {
  fresh_broker >/dev/null
  export PULSE_KAFKA_BROKERS="127.0.0.1:$BENCH_KAFKA_PORT" PULSE_TOPIC_PREFIX="${PREFIX}c$1." PULSE_INGEST_GROUP="${GROUP}_c$1"
  # The ingester consumes while the generator produces (the broker is the slower side of both).
  "$RELEASE_BIN/pulse-ingest" run >>"$WORK/ingest.log" 2>&1 &
  local pid=$!
  "$RELEASE_BIN/pulse-gen" --count "$2" --days "$3" --end "$4" --seed "$5" --quiet >>"$WORK/gen.log" 2>&1
  "$RELEASE_BIN/pulse-ingest" lag --wait --timeout-secs 3600 >/dev/null
  kill -TERM "$pid"; wait "$pid"
}

# BENCH_DBT_REUSE=1: keep the history a previous run landed in pulse_bench_dbt (landing it takes
# about 20 minutes) and start from the full build; the new day is landed afresh either way.
if [ "${BENCH_DBT_REUSE:-0}" = 1 ] && [ -f "$STATE/bench_dbt/history-landed" ]; then
  DB=pulse_bench_dbt WORK="$STATE/bench_dbt"
  read -r PREFIX GROUP <"$WORK/history-landed"
  PREFIX="${PREFIX}reuse$(date +%s)." GROUP="${GROUP}_reuse$(date +%s)"
  export PGDATABASE=$DB PULSE_DATABASE_URL="postgresql://postgres@127.0.0.1:$PULSE_PGPORT/$DB"
  q "drop schema if exists analytics, features, bi, staging, dbt cascade" >/dev/null
  log "bench dbt: reusing the history landed in $DB ($(events) events)"
else
  scenario bench_dbt
  q "create extension pulse" >/dev/null
  # 59 days ending yesterday, in $CHUNKS chunks of consecutive days, oldest first.
  span=$((59 / CHUNKS))
  log "bench dbt: generating and landing $ORDERS orders over $((span * CHUNKS)) days (every family), in $CHUNKS chunks ..."
  for k in $(seq 0 $((CHUNKS - 1))); do
    end=$(date -u -d "$(( 1 + (CHUNKS - 1 - k) * span )) days ago" +%Y-%m-%dT%H:%M:%SZ)
    land_chunk "$k" $((ORDERS / CHUNKS)) "$span" "$end" $((11 + k))
    log "bench dbt: chunk $((k + 1))/$CHUNKS landed ($(events) events so far)"
  done
  # As the demo: features registered (online values backfilled once), the experiments registered.
  q "set client_min_messages = warning; $(cat "$ROOT/sql/features.sql")" >/dev/null
  q "select feature_refresh(entity_type) from (select distinct entity_type from pulse.features) t" >/dev/null
  q "select ab_create_experiment('ranking-v2', array['control', 'treatment']);
     select ab_create_experiment('checkout-button', array['control', 'green', 'sticky'])" >/dev/null
  echo "$PREFIX $GROUP" >"$WORK/history-landed"
fi
q "vacuum analyze" >/dev/null
before=$(events)
log "bench dbt: $before raw events landed; full build ..."
full_first=$(build full-first --full-refresh)

log "bench dbt: landing a new day ..."
# A seed of its own (order ids carry it), also when the history is reused for another run.
land_chunk "$CHUNKS" $((ORDERS / 60)) 1 "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(date +%s)"
q "analyze" >/dev/null
after=$(events)
log "bench dbt: $((after - before)) new events; incremental build ..."
# No ingest margin: the benchmark lands 54 days of history in about 20 minutes, so the 15 minutes
# before its newest row hold weeks of events and the margin would re-read most of the history. In
# a shop the margin re-reads the last 15 minutes of events, next to nothing.
incremental=$(build incremental --vars '{pulse_ingest_margin: "0 seconds"}')
log "bench dbt: full build on the same data ..."
full=$(build full --full-refresh)

echo "dbt build on $after landed events ($before, then a new day of $((after - before))); $(held) rows held in raw.*:"
echo "  full build (--full-refresh), first      $(printf '%7.1f' "$full_first") s"
echo "  incremental build after the new day     $(printf '%7.1f' "$incremental") s"
echo "  full build (--full-refresh), same data  $(printf '%7.1f' "$full") s"
echo "  incremental / full                      $(calc "100 * $incremental / $full" | xargs printf '%.1f') %  (target <= 10 %)"
echo "  slowest nodes, full:"; slowest full
echo "  slowest nodes, incremental:"; slowest incremental
