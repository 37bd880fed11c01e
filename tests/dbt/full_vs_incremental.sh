#!/usr/bin/env bash
# An incremental dbt build after a second landing equals a full refresh, row for row, for every
# incremental model; and the incremental run left rows it had no reason to touch alone.
# Runs in the database suite_dbt built (PGDATABASE, after dbt build). Prints ok / not ok lines.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DBT=("$ROOT/.venv/bin/dbt")
MODELS=(analytics.gmv_per_minute analytics.gmv_hourly analytics.gmv_daily analytics.sessions analytics.orders
        analytics.product_daily analytics.experiment_units features.fraud_training_set)
# No margin: batch two is seconds after batch one, and a margin would reprocess all of batch one.
VARS='{pulse_ingest_margin: "0 seconds"}'
# It lands rows and runs --full-refresh: only ever in the dbt suite's own database.
[ "${PGDATABASE:-}" = pulse_dbt_test ] || { echo "not ok - refusing to run outside PGDATABASE=pulse_dbt_test"; exit 1; }
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -Atc "$1"; }
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }

q "drop schema if exists incremental_check cascade; create schema incremental_check"
for m in "${MODELS[@]}"; do
  q "create table incremental_check.${m#*.}_before as select xmin::text as row_version, * from $m"
done
(cd "$ROOT" && psql -X -q -v ON_ERROR_STOP=1 -f tests/dbt/seed_next_batch.sql >/dev/null) \
  || { not_ok "the second landing failed"; exit 1; }

if (cd "$ROOT/dbt" && "${DBT[@]}" build --profiles-dir . --vars "$VARS") >"${DBT_LOG:-/dev/null}" 2>&1; then
  ok "incremental dbt build after a second landing"
else
  not_ok "incremental dbt build after a second landing"; exit 1
fi
for m in "${MODELS[@]}"; do
  q "create table incremental_check.${m#*.}_incremental as select * from $m"
  # Rows the run rewrote have a new xmin; the rest stayed as they were.
  read -r kept total < <(q "select count(*) filter (where xmin::text in (select row_version from incremental_check.${m#*.}_before)),
                                    count(*)
                             from $m" | tr '|' ' ')
  if [ "${kept:-0}" -gt 0 ] && [ "$kept" -lt "$total" ]; then
    ok "$m: the incremental run rewrote $((total - kept)) of $total rows and kept $kept"
  else
    not_ok "$m: the incremental run kept ${kept:-?} of ${total:-?} rows (expected some, not all)"
  fi
done

if (cd "$ROOT/dbt" && "${DBT[@]}" build --profiles-dir . --full-refresh) >>"${DBT_LOG:-/dev/null}" 2>&1; then
  ok "dbt build --full-refresh"
else
  not_ok "dbt build --full-refresh"; exit 1
fi
for m in "${MODELS[@]}"; do
  diff=$(q "select count(*) from (
              (select * from $m except all select * from incremental_check.${m#*.}_incremental)
              union all
              (select * from incremental_check.${m#*.}_incremental except all select * from $m)) d")
  rows=$(q "select count(*) from $m")
  if [ "$diff" = 0 ] && [ "$rows" -gt 0 ]; then
    ok "$m: incremental equals full refresh ($rows rows)"
  else
    not_ok "$m: incremental and full refresh differ in $diff rows"
  fi
done
q "drop schema incremental_check cascade"
