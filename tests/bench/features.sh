#!/usr/bin/env bash
# Feature benchmarks (make bench). In one run, on this machine:
#  1. point-in-time training set: BENCH_PIT_LABELS labels (default 1M) over BENCH_PIT_EVENTS
#     orders (default 10M), the 12 card and customer features of sql/features.sql, built by
#     feature_training_set (one sort-merge pass per entity type) against the two queries a user
#     would write by hand on the same data with the same (entity, time) indexes: a correlated
#     subquery per feature, and one index-backed LATERAL per entity type;
#  2. ingest throughput with and without online feature maintenance: the same topics (orders,
#     payments, clickstream) ingested into a database without feature definitions and into one
#     with sql/features.sql (statement triggers refreshing pulse.online_features); and the same
#     rows COPYed with and without the triggers, the cost on the database alone.
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh"
. "$STATE/env"

LABELS=${BENCH_PIT_LABELS:-1000000}
# The hand-written queries cost the same per label whatever the label count (one index probe per
# label and feature), so by default they run on a random 100k of the labels and their time is
# scaled to the full set; BENCH_PIT_NAIVE_LABELS=$LABELS runs them on every label (about 40 min).
NAIVE_LABELS=${BENCH_PIT_NAIVE_LABELS:-100000}
EVENTS=${BENCH_PIT_EVENTS:-10000000}
ORDERS=${BENCH_FEATURE_ORDERS:-20000}
now() { date +%s.%N; }
# Both sides get the same memory for sorts and hashes.
export PGOPTIONS="-c work_mem=256MB -c client_min_messages=warning"

# --- 1. point-in-time training set ---
scenario bench_pit
q "create extension pulse" >/dev/null
q "select raw.ensure_day_partitions('raw.orders', current_date - 32, current_date + 1)" >/dev/null
# Cards and customers with skew (a few heavy ones), amounts log-normal-ish, 30 days of orders.
q "insert into raw.orders (order_id, customer_id, created_at, amount, currency, items, payment_method, card_fingerprint,
                           ip_country, shipping_country, billing_country, device, email_domain, event_version,
                           _topic, _partition, _offset)
   select 'o' || i, 'c' || (power(random(), 2) * $EVENTS / 40)::int,
          now() - random() * interval '30 days', round((exp(random() * 5))::numeric, 2), 'EUR', 1, 'card',
          'k' || (power(random(), 2) * $EVENTS / 50)::int,
          (array['DE','FR','NL','US'])[1 + (random() * 3)::int], 'DE', (array['DE','FR'])[1 + (random())::int],
          'mobile', 'example.com', 1, 'bench', 0, i
     from generate_series(1, $EVENTS) i" >/dev/null
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$ROOT/sql/features.sql" >/dev/null
q "analyze raw.orders" >/dev/null
q "create table labels as select order_id, card_fingerprint as card, customer_id as customer, created_at as as_of
     from raw.orders order by md5(order_id) limit $LABELS" >/dev/null
feats="select name from pulse.features where entity_type in ('card', 'customer') and source = 'raw.orders'::regclass"
q "create table naive_labels as select * from labels order by md5(order_id || 'naive') limit $NAIVE_LABELS" >/dev/null
q "analyze labels" >/dev/null
q "analyze naive_labels" >/dev/null

t0=$(now)
q "select feature_training_set('select * from labels', 'ts_pulse', features => array($feats))" >/dev/null
t1=$(now)

# The hand-written queries, from the same definitions (count/sum/distinct/mean/stddev/decayed/ewma).
sub() {  # sub ENTITY_COLUMN LABEL_COLUMN WINDOW EXPR [FILTER]
  echo "(select $4 from raw.orders o where o.$1 = l.$2 and o.created_at > l.as_of - interval '$3'
          and o.created_at <= l.as_of ${5:+and $5})"
}
decayed="coalesce(sum(amount * power(0.5, extract(epoch from l.as_of - o.created_at) / (7 * 86400))), 0)"
ewma="sum(amount * power(2, extract(epoch from o.created_at - l.as_of) / (3 * 86400))) / sum(power(2, extract(epoch from o.created_at - l.as_of) / (3 * 86400)))"
t2=$(now)
q "create table ts_naive as select l.*,
     $(sub card_fingerprint card '10 minutes' 'count(*)') as card_orders_10m,
     $(sub card_fingerprint card '24 hours' 'count(*)') as card_orders_24h,
     $(sub card_fingerprint card '24 hours' 'coalesce(sum(amount), 0)') as card_amount_24h,
     $(sub card_fingerprint card '24 hours' 'count(distinct customer_id)') as card_customers_24h,
     $(sub card_fingerprint card '24 hours' 'count(distinct ip_country)') as card_ip_countries_24h,
     $(sub customer_id customer '30 days' 'count(*)') as customer_orders_30d,
     $(sub customer_id customer '30 days' 'avg(amount)') as customer_amount_mean_30d,
     $(sub customer_id customer '30 days' 'stddev_samp(amount)') as customer_amount_stddev_30d,
     $(sub customer_id customer '30 days' "$decayed") as customer_spend_decayed_30d,
     $(sub customer_id customer '30 days' "$ewma") as customer_amount_ewma_30d,
     $(sub customer_id customer '30 days' 'count(*)' 'shipping_country <> billing_country') as customer_cross_border_30d
   from naive_labels l" >/dev/null
t3=$(now)
t4=$(now)
q "create table ts_lateral as select l.*, c.*, u.*
     from naive_labels l
     left join lateral (select count(*) filter (where o.created_at > l.as_of - interval '10 minutes') as card_orders_10m,
                               count(*) as card_orders_24h, coalesce(sum(amount), 0) as card_amount_24h,
                               count(distinct customer_id) as card_customers_24h, count(distinct ip_country) as card_ip_countries_24h
                          from raw.orders o where o.card_fingerprint = l.card
                           and o.created_at > l.as_of - interval '24 hours' and o.created_at <= l.as_of) c on true
     left join lateral (select count(*) as customer_orders_30d, avg(amount) as customer_amount_mean_30d,
                               stddev_samp(amount) as customer_amount_stddev_30d, $decayed as customer_spend_decayed_30d,
                               $ewma as customer_amount_ewma_30d,
                               count(*) filter (where shipping_country <> billing_country) as customer_cross_border_30d
                          from raw.orders o where o.customer_id = l.customer
                           and o.created_at > l.as_of - interval '30 days' and o.created_at <= l.as_of) u on true" >/dev/null
t5=$(now)
mismatch=$(q "select count(*) from ts_pulse p join ts_naive n using (order_id)
               where p.card_orders_24h <> n.card_orders_24h or p.customer_orders_30d <> n.customer_orders_30d
                  or p.card_customers_24h <> n.card_customers_24h
                  or abs(p.customer_amount_mean_30d - n.customer_amount_mean_30d) > 1e-6 * greatest(1, abs(n.customer_amount_mean_30d))")
scale=$(calc "$LABELS / $NAIVE_LABELS")
pit=$(calc "$t1 - $t0"); naive=$(calc "($t3 - $t2) * $scale"); lateral=$(calc "($t5 - $t4) * $scale")

printf '\n== feature benchmark (%s, %s cores) ==\n' "$(date -u +%F)" "$(nproc)"
printf 'training set  %d labels x %d orders, 11 card and customer features (rows differing from naive: %s)\n' \
  "$LABELS" "$EVENTS" "$mismatch"
printf '              feature_training_set (sort-merge windows):   %8.1f s\n' "$pit"
printf '              correlated subquery per feature (naive):     %8.1f s   (%d labels timed, x %s)\n' "$naive" "$NAIVE_LABELS" "$scale"
printf '              one index-backed LATERAL per entity type:    %8.1f s   (%d labels timed, x %s)\n' "$lateral" "$NAIVE_LABELS" "$scale"
printf '              ratio naive / pulse:                         %8.1f   (target >= 10)\n' "$(calc "$naive / $pit")"
printf '              ratio lateral / pulse:                       %8.1f\n' "$(calc "$lateral / $pit")"

# --- 2. ingest with and without online features ---
scenario bench_online_off
topics=$PREFIX
"$RELEASE_BIN/pulse-gen" --quiet --families orders,payments,clickstream --count "$ORDERS" --seed 5 --days 7
ingest_rate() {  # ingest_rate: runs pulse-ingest on $topics into $DB, prints events/s
  "$RELEASE_BIN/pulse-ingest" run --families orders,payments,clickstream --topic-prefix "$topics" \
    --batch-size 10000 --batch-ms 200 --maintenance-interval-secs 0 >"$WORK/ingest.log" 2>&1 &
  local pid=$! a b first n
  until [ "$(q "select count(*) > 0 from raw.ingest_offsets")" = t ]; do sleep 0.05; done
  a=$(now); first=$(q "select sum(next_offset) from raw.ingest_offsets")
  "$RELEASE_BIN/pulse-ingest" lag --families orders,payments,clickstream --topic-prefix "$topics" --wait \
    --timeout-secs 900 >/dev/null
  b=$(now)
  kill -TERM "$pid"; wait "$pid"
  n=$(q "select sum(next_offset) from raw.ingest_offsets")
  calc "($n - $first) / ($b - $a)"
}
off_rate=$(ingest_rate)
events=$(q "select (select count(*) from raw.orders) + (select count(*) from raw.payments) + (select count(*) from raw.clickstream)")
for t in orders payments clickstream; do q "create table copy_$t as select * from raw.$t" >/dev/null; done

scenario bench_online_on
q "create extension pulse" >/dev/null
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$ROOT/sql/features.sql" >/dev/null
on_rate=$(ingest_rate)
online=$(q "select count(*) from pulse.online_features")

# The database side alone: the same rows copied in with and without the refresh triggers.
copy_all() {  # copy_all DB: copies the saved rows of bench_online_off into DB's raw tables, prints seconds
  local a b t
  for t in orders payments clickstream; do
    PGDATABASE=pulse_bench_online_off q "copy copy_$t to '$PGSTATE/bench-$t.bin' (format binary)" >/dev/null
  done
  PGDATABASE=$1 q "truncate raw.orders, raw.payments, raw.clickstream" >/dev/null
  PGDATABASE=$1 q "truncate pulse.online_features" >/dev/null 2>&1 || true
  a=$(now)
  for t in orders payments clickstream; do
    PGDATABASE=$1 q "copy raw.$t from '$PGSTATE/bench-$t.bin' (format binary)" >/dev/null
  done
  b=$(now)
  rm -f "$PGSTATE"/bench-*.bin
  calc "$b - $a"
}
copy_off=$(copy_all pulse_bench_online_off)
copy_on=$(copy_all pulse_bench_online_on)

printf 'online        %d events (orders, payments, clickstream), %d online entities maintained\n' "$events" "$online"
printf '              pulse-ingest without online features:        %8.0f events/s\n' "$off_rate"
printf '              pulse-ingest with online features:           %8.0f events/s\n' "$on_rate"
printf '              throughput cost of online features:          %7.1f %%   (target <= 20 %%)\n' \
  "$(calc "100 * (1 - $on_rate / $off_rate)")"
printf '              COPY alone without / with refresh triggers:  %6.2f s / %6.2f s (database cost %.1f x)\n' \
  "$copy_off" "$copy_on" "$(calc "$copy_on / $copy_off")"
