#!/usr/bin/env bash
# dbt benchmark (make bench): a full `dbt build` against an incremental one after a new day of
# events, in one run, on the same database:
#  1. BENCH_DBT_ORDERS orders (default 450,000: about 10M raw events over every family) over the
#     59 days before yesterday, landed through the broker and the ingester; the shop's features and
#     experiments registered as the demo does;
#  2. `dbt build --full-refresh` (every model rebuilt, every test run);
#  3. a new day of events (1/60 of the orders, another seed) landed the same way;
#  4. `dbt build`: incremental models take only what landed, tables and tests run as always;
#  5. `dbt build --full-refresh` again on the same data, the time the incremental run saves.
# Prints the times, the ratio incremental / full (target: <= 10 %) and each build's slowest nodes.
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh"
. "$STATE/env"

ORDERS=${BENCH_DBT_ORDERS:-450000}
DBT=("$ROOT/.venv/bin/dbt")
now() { date +%s.%N; }
events() {
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

scenario bench_dbt
q "create extension pulse" >/dev/null
day0=$(date -u -d 'yesterday' +%Y-%m-%dT%H:%M:%SZ)
log "bench dbt: generating $ORDERS orders over 59 days (every family) ..."
"$RELEASE_BIN/pulse-gen" --count "$ORDERS" --days 59 --end "$day0" --seed 11 --quiet >"$WORK/gen.log" 2>&1
ingest_until_caught_up 3600
# As the demo: features registered (online values backfilled once), the experiments registered.
q "set client_min_messages = warning; $(cat "$ROOT/sql/features.sql")" >/dev/null
q "select feature_refresh(entity_type) from (select distinct entity_type from pulse.features) t" >/dev/null
q "select ab_create_experiment('ranking-v2', array['control', 'treatment']);
   select ab_create_experiment('checkout-button', array['control', 'green', 'sticky'])" >/dev/null
q "vacuum analyze" >/dev/null
before=$(events)
log "bench dbt: $before raw events landed; full build ..."
full_first=$(build full-first --full-refresh)

log "bench dbt: landing a new day ..."
"$RELEASE_BIN/pulse-gen" --count $((ORDERS / 60)) --days 1 --end "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --seed 12 \
  --quiet >>"$WORK/gen.log" 2>&1
ingest_until_caught_up 3600
q "analyze" >/dev/null
after=$(events)
log "bench dbt: $((after - before)) new events; incremental build ..."
incremental=$(build incremental)
log "bench dbt: full build on the same data ..."
full=$(build full --full-refresh)

echo "dbt build on $after raw events ($before, then a new day of $((after - before))):"
echo "  full build (--full-refresh), first      $(printf '%7.1f' "$full_first") s"
echo "  incremental build after the new day     $(printf '%7.1f' "$incremental") s"
echo "  full build (--full-refresh), same data  $(printf '%7.1f' "$full") s"
echo "  incremental / full                      $(calc "100 * $incremental / $full" | xargs printf '%.1f') %  (target <= 10 %)"
echo "  slowest nodes, full:"; slowest full
echo "  slowest nodes, incremental:"; slowest incremental
