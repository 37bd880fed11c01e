#!/usr/bin/env bash
# make demo: setup → up → every event family from pulse-gen → ingest → dbt build → summary.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DEMO_ORDERS="${PULSE_DEMO_ORDERS:-30000}"
DEMO_GROUP=pulse-demo
t_start=$SECONDS

"$ROOT/scripts/setup.sh"
"$ROOT/scripts/up.sh" >/dev/null
. "$STATE/env"

# The shop's features: registering them adds the refresh triggers, so the online store fills
# while the events land (feature_define is idempotent).
log "demo: registering the shop's features (sql/features.sql) ..."
PGOPTIONS="-c client_min_messages=warning" psql_pulse -q -v ON_ERROR_STOP=1 -f "$ROOT/sql/features.sql" >/dev/null
# Events landed by an earlier demo run on this stack: backfill their online values once.
psql_pulse -q -v ON_ERROR_STOP=1 -c "select feature_refresh(entity_type) from (select distinct entity_type from pulse.features) t" >/dev/null

# A new seed per run keeps order ids unique when the demo is run again on the same stack.
seed="$(date +%s)"
# The last 5 days carry a known drift (orders cost 1.5x, more mobile visitors) for drift_report to find.
end="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
shift_days=5
log "demo: producing two months of shop traffic around $DEMO_ORDERS orders, every event family (seed $seed, plus 21 malformed; the last $shift_days days drifted) ..."
"$RELEASE_BIN/pulse-gen" --partitions 4 --count "$DEMO_ORDERS" --days 60 --invalid 21 --seed "$seed" \
  --end "$end" --shift-days "$shift_days" \
  --dump "$STATE/demo-produced.jsonl"
produced=$(wc -l <"$STATE/demo-produced.jsonl")

log "demo: ingesting (pulse-ingest, consumer group $DEMO_GROUP, metrics on 127.0.0.1:${PULSE_METRICS_PORT:-29187}) ..."
PULSE_INGEST_GROUP=$DEMO_GROUP "$RELEASE_BIN/pulse-ingest" run --max-payload-bytes 4096 \
  --metrics-addr "127.0.0.1:${PULSE_METRICS_PORT:-29187}" >"$STATE/ingest-demo.log" 2>&1 &
ingest_pid=$!
trap 'kill -TERM $ingest_pid 2>/dev/null || true' EXIT
t_ingest=$SECONDS
consumed_before=$(psql_pulse -Atc "select coalesce(sum(next_offset), 0) from raw.ingest_offsets where consumer_group = '$DEMO_GROUP'")
dead_before=$(psql_pulse -Atc "select count(*) from raw.dead_letters")
PULSE_INGEST_GROUP=$DEMO_GROUP "$RELEASE_BIN/pulse-ingest" lag --wait --timeout-secs 900 >/dev/null
metrics=$(curl -sf "127.0.0.1:${PULSE_METRICS_PORT:-29187}/metrics" | grep -E '^pulse_ingest_(rows_landed|dead_letters)_total' || true)
kill -TERM "$ingest_pid"; wait "$ingest_pid"; trap - EXIT
log "demo: $produced messages landed in $((SECONDS - t_ingest))s (log: .pulse/ingest-demo.log)"

# The generator's two experiments, registered with GrowthBook's defaults (seed = key, equal
# weights): ab_assign(key, unit) then gives every unit the variant the storefront logged.
psql_pulse -q -c "
select ab_create_experiment('ranking-v2', array['control', 'treatment'], description => 'new product ranking')
 where not exists (select from pulse.experiments where key = 'ranking-v2');
select ab_create_experiment('checkout-button', array['control', 'green', 'sticky'], description => 'checkout button style')
 where not exists (select from pulse.experiments where key = 'checkout-button');" >/dev/null

log "demo: dbt build ..."
(cd "$ROOT/dbt" && "$ROOT/.venv/bin/dbt" build --profiles-dir . --quiet) || die "dbt build failed"
(cd "$ROOT/dbt" && "$ROOT/.venv/bin/dbt" source freshness --profiles-dir . --quiet) || die "source freshness failed"

echo
echo "== Pulse demo ================================================================"
echo
echo "-- every event family, landed in its day-partitioned raw table"
psql_pulse -P footer=off -c "
select t.tbl as raw_table, t.rows, (select count(*) from pg_inherits where inhparent = t.tbl::regclass) as day_partitions
  from (values ('raw.clickstream', (select count(*) from raw.clickstream)), ('raw.orders', (select count(*) from raw.orders)),
               ('raw.payments', (select count(*) from raw.payments)), ('raw.inventory', (select count(*) from raw.inventory)),
               ('raw.exposures', (select count(*) from raw.exposures)), ('raw.cdc_changes', (select count(*) from raw.cdc_changes))) t(tbl, rows)"
echo "-- CDC mirrors (Debezium envelopes applied by LSN; deletes kept as tombstones)"
psql_pulse -P footer=off -c "
select 'raw.customers' as mirror, count(*) filter (where not _deleted) as live, count(*) filter (where _deleted) as deleted, max(_lsn) as last_lsn from raw.customers
union all
select 'raw.products', count(*) filter (where not _deleted), count(*) filter (where _deleted), max(_lsn) from raw.products"
echo "-- the fraud label: chargebacks arrive 1-60 days after the order"
psql_pulse -P footer=off -c "
select count(*) as chargebacks, round(100.0 * count(*) / (select count(*) from raw.orders), 2) as pct_of_orders,
       min(p.occurred_at - o.created_at) as min_delay, max(p.occurred_at - o.created_at) as max_delay
  from raw.payments p join raw.orders o using (order_id) where p.event_type = 'chargeback'"
echo "-- exactly once: offsets stored with the rows; every malformed message kept with its reason"
psql_pulse -P footer=off -c "
select $produced as produced_this_run,
       (select sum(next_offset) from raw.ingest_offsets where consumer_group = '$DEMO_GROUP') - $consumed_before as consumed_this_run,
       (select count(*) - count(distinct order_id) from raw.orders) as duplicate_orders,
       (select count(*) from raw.dead_letters) - $dead_before as dead_letters_this_run"
psql_pulse -P footer=off -c "
select error_code, count(*) as messages, left(min(error_message), 60) as example
  from raw.dead_letters group by 1 order by 1"
echo "-- prometheus /metrics while ingesting"
echo "$metrics"
echo
echo "-- dbt mart analytics.orders_daily (last 3 days, EUR)"
psql_pulse -P footer=off -c "
select order_date, orders, customers, revenue, avg_order_value, country_mismatch_orders
  from analytics.orders_daily where currency = 'EUR' order by order_date desc limit 3"
echo "-- online features: refreshed in the landing transaction of every batch (pulse.online_features)"
# Fresh means: no entity's online values are older than its latest landed event.
psql_pulse -P footer=off -c "
with latest as (
  select 'card' as entity_type, card_fingerprint as entity_id, max(t) as t
    from (select card_fingerprint, created_at as t from raw.orders union all select card_fingerprint, occurred_at from raw.payments) e
   where card_fingerprint is not null group by 2
  union all select 'customer', customer_id, max(created_at) from raw.orders group by 2
  union all select 'product', product_id, max(occurred_at) from raw.clickstream where product_id is not null group by 2)
select l.entity_type, count(o.entity_id) as entities, max(o.as_of) as newest_event,
       count(*) filter (where o.as_of is distinct from l.t) as behind_latest_event,
       round(extract(epoch from now() - max(o.updated_at))::numeric, 1) as last_refresh_s_ago
  from latest l left join pulse.online_features o using (entity_type, entity_id)
 group by 1 order by 1"
card=$(psql_pulse -Atc "select entity_id from pulse.online_features where entity_type = 'card' order by (features->>'card_orders_24h')::float8 desc, entity_id limit 1")
echo "-- feature_get('card', '$card'): the busiest card's online features"
psql_pulse -P footer=off -c "select jsonb_pretty(feature_get('card', '$card')) as features"
echo "-- a point-in-time training set: each order with its card and customer features as of its own time, labelled by a later chargeback"
PGOPTIONS="-c client_min_messages=warning" psql_pulse -q -c "drop table if exists demo_training_set"
t_ts=$SECONDS
rows=$(psql_pulse -Atc "select feature_training_set(
  \$\$select o.order_id, o.card_fingerprint as card, o.customer_id as customer, o.created_at as as_of,
           exists (select from raw.payments p where p.order_id = o.order_id and p.event_type = 'chargeback') as fraud
      from raw.orders o\$\$, 'demo_training_set')")
echo "$rows labelled orders in $((SECONDS - t_ts))s (table demo_training_set)"
psql_pulse -P footer=off -c "
select fraud, count(*) as orders, round(avg(card_orders_24h)::numeric, 2) as card_orders_24h,
       round(avg(card_customers_24h)::numeric, 2) as card_customers_24h, round(avg(card_chargebacks_90d)::numeric, 3) as card_chargebacks_90d,
       round(avg(customer_orders_30d)::numeric, 2) as customer_orders_30d
  from demo_training_set group by 1 order by 1"
echo "-- models: the fraud model trained in the database on point-in-time features, deployed as champion (sql/fraud_model.sql)"
t_model=$SECONDS
PGOPTIONS="-c client_min_messages=warning" psql_pulse -q -v ON_ERROR_STOP=1 -f "$ROOT/sql/fraud_model.sql" >/dev/null
champion=$(psql_pulse -Atc "select model_deployments('fraud')->>'champion'")
# Challengers on the same rows: a random forest as a 20 % canary, a stronger-regularised
# logistic regression as a shadow (scored and logged, never served).
params='{"exclude": ["order_id", "card", "customer"]}'
canary=$(psql_pulse -Atc "select train_model('fraud', 'select * from fraud_training', 'fraud', 'random_forest', '$params'::jsonb || '{\"n_trees\": 30}')")
shadow=$(psql_pulse -Atc "select train_model('fraud', 'select * from fraud_training', 'fraud', 'logistic_regression', '$params'::jsonb || '{\"alpha\": 50}')")
psql_pulse -Atc "select model_deploy('fraud', $canary, 'canary', 0.2), model_deploy('fraud', $shadow, 'shadow')" >/dev/null
echo "3 versions trained and deployed in $((SECONDS - t_model))s"
psql_pulse -P footer=off -c "
select m.version, m.algorithm, coalesce(d.role, '-') as role, d.traffic, m.training_rows, m.test_rows,
       (m.metrics->>'positives')::int as test_frauds, round((m.metrics->>'roc_auc')::numeric, 3) as roc_auc,
       round((m.metrics->>'pr_auc')::numeric, 3) as pr_auc, round((m.metrics->>'log_loss')::numeric, 4) as log_loss
  from pulse.models m left join pulse.active_deployments d on d.model = m.name and d.version = m.version
 where m.name = 'fraud' and m.version in ($champion, $canary, $shadow) order by m.version"
echo "-- score_fraud(o) on the latest orders: inputs from the order and the online feature store"
psql_pulse -P footer=off -c "
select o.order_id, o.amount, o.email_domain, round(score_fraud(o)::numeric, 4) as fraud_probability
  from raw.orders o order by o.created_at desc limit 5"
risky=$(psql_pulse -Atc "select order_id from (select order_id, score_fraud(o) s from raw.orders o order by created_at desc limit 2000) x order by s desc limit 1")
echo "-- score_fraud_explain: the riskiest of the latest 2,000 orders ($risky)"
psql_pulse -P footer=off -c "select jsonb_pretty(score_fraud_explain(to_jsonb(o), 3)) as explain from raw.orders o where order_id = '$risky'"
# Every order gets a logged decision (the fraud dashboard joins them to orders): scored in the
# leader, since parallel workers' decisions are not logged, and without the per-transaction cap.
score_all="set max_parallel_workers_per_gather = 0; set pulse.decision_log_max_rows = 10000000;"
# Score the two weeks before the shift, then the shifted days, as two batches: the decision log's
# decided_at separates them for the prediction-drift monitor below.
cut="timestamptz '$end' - interval '$shift_days days'"
# This run's orders only: an earlier demo on the same stack left orders without the shift.
this_run="order_id like 'o-$seed-%'"
t_before=$(psql_pulse -Atc "select clock_timestamp()")
psql_pulse -Atc "$score_all select count(score_fraud(o)) from raw.orders o where $this_run and created_at >= $cut - interval '14 days' and created_at < $cut" >/dev/null
t_between=$(psql_pulse -Atc "select clock_timestamp()")
psql_pulse -Atc "$score_all select count(score_fraud(o)) from raw.orders o where $this_run and created_at >= $cut" >/dev/null
echo "-- pulse.model_comparison after scoring the last $((14 + shift_days)) days of orders: champion, canary and shadow (decision log)"
psql_pulse -P footer=off -c "
select route, version, sum(decisions) as decisions, round(avg(mean_score)::numeric, 4) as mean_score,
       round(avg(flagged_rate)::numeric, 4) as flagged_rate, round(avg(agreement)::numeric, 4) as agreement_with_served
  from pulse.model_comparison where model = 'fraud' and hour >= date_trunc('hour', now() - interval '5 minutes')
 group by 1, 2 order by 1, 2"
echo "-- experiments: the storefront's logged variants are GrowthBook's, as ab_assign(experiment, unit) gives them"
psql_pulse -P footer=off -c "
select experiment_key, count(*) as exposures, count(distinct unit_id) as units,
       round(100.0 * avg((variant = ab_assign(experiment_key, unit_id))::int), 2) as pct_same_as_ab_assign
  from raw.exposures group by 1 order by 1"
# Checkout reach: the unit started a checkout at or after its first exposure (the cart shows the
# button). Anonymous visitors only browse, so for them the button is all that decides it.
reach="select x.unit_id, (count(c.event_id) > 0)::int::float8 as value
  from (select unit_id, min(occurred_at) as t0 from raw.exposures where experiment_key = 'checkout-button' group by 1) x
  join raw.clickstream c on coalesce(c.customer_id, 'v-' || substr(c.session_id, 3)) = x.unit_id
   and c.event_type = 'checkout_start' and c.occurred_at >= x.t0
 group by 1"
echo "-- ab_report('checkout-button', ...): anonymous visitors reaching checkout, two-proportion z-tests, Holm, SRM check"
psql_pulse -P footer=off -c "
select variant, units, round(mean::numeric, 4) as reached_checkout, round(lift::numeric, 4) as lift,
       round(ci_low::numeric, 4) as ci_low, round(ci_high::numeric, 4) as ci_high,
       round(p_value::numeric, 6) as p_value, round(p_value_holm::numeric, 6) as p_holm,
       round(prob_beat_control::numeric, 4) as p_beat_control, round(srm_p_value::numeric, 3) as srm_p, srm_flag
  from ab_report('checkout-button', \$m\$$reach\$m\$, method => 'ztest',
                 exposures_sql => \$x\$select unit_id, variant from raw.exposures
                                   where experiment_key = 'checkout-button' and unit_id like 'v-%'\$x\$)"
echo "-- ranking-v2 revenue per customer: Welch, CUPED (customer segment as covariate) and the always-valid sequential interval"
psql_pulse -P footer=off -c "
with units as (
  select unit_id, min(variant) as variant, min(occurred_at) as t0
    from raw.exposures where experiment_key = 'ranking-v2' and unit_id like 'c-%'
   group by 1 having count(distinct variant) = 1),
per_unit as (
  select u.variant, coalesce(sum(o.amount), 0)::float8 as revenue,
         (case c.segment when 'vip' then 3 when 'regular' then 2 when 'at_risk' then 1 else 0 end)::float8 as segment_rank
    from units u join raw.customers c on c.customer_id = u.unit_id
    left join raw.orders o on o.customer_id = u.unit_id and o.created_at >= u.t0
   group by u.unit_id, u.variant, c.segment)
select m as method, round((r).lift::numeric, 2) as lift, round((r).ci_low::numeric, 2) as ci_low,
       round((r).ci_high::numeric, 2) as ci_high, round((r).p_value::numeric, 4) as p_value
  from (select ab_stats(revenue, segment_rank) filter (where variant = 'control') as c,
               ab_stats(revenue, segment_rank) filter (where variant = 'treatment') as t from per_unit) s,
       unnest(array['welch', 'cuped', 'sequential']) m,
       lateral (select ab_compare(c, t, 0.05, m) as r) x"
echo "-- dbt mart analytics.experiment_results (conversion z-test, revenue Welch, Holm, SRM)"
psql_pulse -P footer=off -c "
select experiment_key, variant, units, round(conversion_rate::numeric, 4) as conversion,
       round(conversion_lift::numeric, 4) as conv_lift, round(conversion_p_value_holm::numeric, 5) as conv_p_holm,
       round(revenue_per_unit::numeric, 2) as revenue_per_unit, round(revenue_p_value::numeric, 4) as revenue_p,
       srm_flag
  from analytics.experiment_results order by 1, 2"
cols="amount, items, currency, payment_method, device, ip_country, shipping_country, billing_country, email_domain"
echo "-- drift_report: the 14 days before the generator's shift vs the $shift_days days after (amounts x1.5, more mobile)"
psql_pulse -P footer=off -c "
select column_name, kind, test, round(statistic::numeric, 4) as statistic, threshold, drifted
  from drift_report(\$r\$select $cols from raw.orders where $this_run and created_at >= $cut - interval '14 days' and created_at < $cut\$r\$,
                    \$c\$select $cols from raw.orders where $this_run and created_at >= $cut\$c\$)"
echo "-- the same data through a monitor on the fraud model's decision log: prediction drift of the champion's scores"
psql_pulse -q -c "select drift_monitor_drop(name) from pulse.monitors where name = 'fraud-scores'" >/dev/null
psql_pulse -Atc "select drift_monitor_create('fraud-scores',
  \$r\$select score from pulse.decisions where model = 'fraud' and route = 'champion'
        and decided_at >= '$t_before' and decided_at < '$t_between'\$r\$,
  \$c\$select score from pulse.decisions where model = 'fraud' and route = 'champion' and decided_at >= '$t_between'\$c\$,
  schedule => '0 * * * *')" >/dev/null
psql_pulse -P footer=off -c "
select column_name, test, round(statistic::numeric, 4) as statistic, p_value, threshold, drifted
  from drift_monitor_run('fraud-scores')"
psql_pulse -P footer=off -c "
select monitor, column_name, test, round(statistic::numeric, 4) as statistic, raised_at::timestamp(0) as raised_at
  from pulse.drift_alerts order by alert_id desc limit 3"
psql_pulse -P footer=off -c "select jobname, schedule, command from cron.job where jobname like 'pulse-drift:%'" 2>/dev/null || true
# The marts were built before the model scored and the monitor ran: an incremental build takes in
# the decisions and alerts (only what changed since the first build is recomputed).
t_dbt=$SECONDS
(cd "$ROOT/dbt" && "$ROOT/.venv/bin/dbt" build --profiles-dir . --quiet) || die "dbt build failed"
echo "-- dbt build again, incremental, after scoring: $((SECONDS - t_dbt))s. The bi schema, as the dashboards read it (role pulse_bi):"
psql_pulse -P footer=off -c "
select day, orders, gmv_eur, avg_order_value_eur as aov_eur, sessions, round(conversion_rate::numeric, 3) as conversion
  from bi.sales_daily order by day desc limit 3"
psql_pulse -P footer=off -c "
select sum(orders) as orders, sum(scored_orders) as scored, sum(flagged_orders) as flagged,
       sum(chargebacks) as fraud_chargebacks, sum(flagged_chargebacks) as flagged_chargebacks
  from bi.fraud_daily"
psql_pulse -P footer=off -c "
select product_id, product_name, stock_on_hand, round(avg_daily_units_7d::numeric, 1) as units_per_day, runout_date
  from bi.inventory_levels where stock_out_alert order by runout_date nulls last, product_id limit 5"
echo "($(psql_pulse -Atc "select count(*) from bi.inventory_levels where stock_out_alert") products under 100 units)"
echo
echo "Dashboards: make bi      (Superset on http://127.0.0.1:${PULSE_BI_PORT:-28088}/ as pulse_bi; prints the login)"
echo "Connect:   . .pulse/env && psql"
echo "Stop:      make down      (data stays in .pulse/)"
echo "Demo took $((SECONDS - t_start))s."
