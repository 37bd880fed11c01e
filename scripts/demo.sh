#!/usr/bin/env bash
# make demo: setup → up → topic → 100k generated orders → ingest → dbt build → summary.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DEMO_EVENTS="${PULSE_DEMO_EVENTS:-100000}"
DEMO_GROUP=pulse-demo
t_start=$SECONDS

"$ROOT/scripts/setup.sh"
"$ROOT/scripts/up.sh" >/dev/null
. "$STATE/env"

# A new seed per run keeps order ids unique when the demo is run again on the same stack.
seed="$(date +%s)"
log "demo: producing $DEMO_EVENTS order events (seed $seed, plus 20 malformed) to topic orders ..."
"$RELEASE_BIN/pulse-gen" --topic orders --partitions 4 --count "$DEMO_EVENTS" --invalid 20 --seed "$seed"

log "demo: ingesting (pulse-ingest, consumer group $DEMO_GROUP) ..."
PULSE_INGEST_GROUP=$DEMO_GROUP "$RELEASE_BIN/pulse-ingest" run --topic orders >"$STATE/ingest-demo.log" 2>&1 &
ingest_pid=$!
trap 'kill -TERM $ingest_pid 2>/dev/null || true' EXIT
t_ingest=$SECONDS
"$RELEASE_BIN/pulse-ingest" lag --group "$DEMO_GROUP" --topic orders --wait --timeout-secs 900 >/dev/null
kill -TERM "$ingest_pid"; wait "$ingest_pid"; trap - EXIT
log "demo: $((DEMO_EVENTS + 20)) messages landed in $((SECONDS - t_ingest))s (log: .pulse/ingest-demo.log)"

log "demo: dbt build ..."
(cd "$ROOT/dbt" && "$ROOT/.venv/bin/dbt" build --profiles-dir . --quiet) || die "dbt build failed"
(cd "$ROOT/dbt" && "$ROOT/.venv/bin/dbt" source freshness --profiles-dir . --quiet) || die "source freshness failed"

echo
echo "== Pulse demo ================================================================"
echo
echo "-- rows landed per day partition of raw.orders"
psql_pulse -P footer=off -c "
select tableoid::regclass as partition, count(*) as orders, date_trunc('second', min(created_at)) as first, date_trunc('second', max(created_at)) as last
  from raw.orders group by 1 order by 1"
echo "-- exactly once: offsets stored with the rows, and the dead letters (nothing lost)"
psql_pulse -P footer=off -c "
select (select count(*) from raw.orders) as orders_landed,
       (select count(*) - count(distinct order_id) from raw.orders) as duplicates,
       (select count(*) from raw.dead_letters) as dead_letters,
       (select sum(next_offset) from raw.ingest_offsets where consumer_group = '$DEMO_GROUP') as offsets_consumed"
psql_pulse -P footer=off -c "
select error_code, count(*) as messages, min(error_message) as example
  from raw.dead_letters group by 1 order by 1"
echo "-- dbt mart analytics.orders_daily (last 3 days, EUR)"
psql_pulse -P footer=off -c "
select order_date, orders, customers, revenue, avg_order_value, country_mismatch_orders
  from analytics.orders_daily where currency = 'EUR' order by order_date desc limit 3"
echo "-- the pulse extension: GrowthBook-compatible bucketing in SQL"
psql_pulse -P footer=off -c "select ab_hash('feature', '123', 2) as bucket"
psql_pulse -P footer=off -c "
select case when ab_hash('checkout-button', customer_id) < 0.5 then 'control' else 'treatment' end as variant,
       count(distinct customer_id) as customers, round(avg(amount), 2) as avg_order_value
  from raw.orders group by 1 order by 1"
echo "Connect:   . .pulse/env && psql"
echo "Stop:      make down      (data stays in .pulse/)"
echo "Demo took $((SECONDS - t_start))s."
