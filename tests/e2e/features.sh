#!/usr/bin/env bash
# Features end to end: events from the real broker land through pulse-ingest; the feature
# triggers keep pulse.online_features fresh; training sets are point-in-time correct.
#  - online/offline parity: for a sample of entities, at two moments of ingestion, feature_get
#    equals the training-set value at the entity's as_of;
#  - the training set equals straightforward SQL (correlated subqueries with built-in aggregates)
#    at random label times;
#  - leakage probe: events stamped after every label change no value in the training set (and the
#    same events do change it when the labels move past them, so the probe can fail).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"

scenario features
export PULSE_INGEST_FAMILIES=orders,payments,clickstream
q "create extension pulse" >/dev/null
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$ROOT/sql/features.sql" >/dev/null
check "the shop's features are registered" "$(q "select count(*) from pulse.features")" 16
check "one refresh trigger per source" \
  "$(q "select string_agg(tgrelid::regclass::text, ',' order by 1) from pg_trigger where tgname = 'pulse_online_features'")" \
  "raw.orders,raw.payments,raw.clickstream"

# Relative tolerance for float comparisons: both paths sum in double-double, so 1e-9 is generous.
close() { echo "(($1) is null and ($2) is null) or abs(($1) - ($2)) <= 1e-9 * greatest(1, abs($2))"; }

# parity ROUND: feature_get of 200 sampled entities per type equals the training set at their as_of.
parity() {
  local et
  for et in card customer product; do
    q "drop table if exists online_$et, offline_$et" >/dev/null 2>&1
    q "create table online_$et as
         select entity_id, as_of, feature_get('$et', entity_id) - '_as_of' as features
           from pulse.online_features where entity_type = '$et' order by md5(entity_id || '$1') limit 200" >/dev/null
    n=$(q "select least(200, count(*)) from pulse.online_features where entity_type = '$et'")
    q "select feature_training_set('select entity_id as $et, as_of from online_$et', 'offline_$et')" >/dev/null
    check "$1: $et: at least 100 entities sampled" "$(q "select count(*) >= 100 from online_$et")" t
    check "$1: $et: feature_get equals the training set at as_of" "$(q "
      select count(*) from online_$et n join offline_$et f on f.$et = n.entity_id and f.as_of = n.as_of
       cross join lateral jsonb_each(n.features) kv(name, online)
       where not ($(close "(online #>> '{}')::float8" "(to_jsonb(f) ->> name)::float8"))")" 0
    check "$1: $et: every sampled entity compared" "$(q "
      select count(*) from online_$et n join offline_$et f on f.$et = n.entity_id and f.as_of = n.as_of")" "$n"
  done
}

"$RELEASE_BIN/pulse-gen" --count 1500 --days 3 --seed 11 --quiet --families orders,payments,clickstream \
  --end "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >/dev/null
ingest_until_caught_up
check "online rows for every card" "$(q "select count(*) from pulse.online_features where entity_type = 'card'")" \
  "$(q "select count(distinct k) from (select card_fingerprint k from raw.orders union all select card_fingerprint from raw.payments) c")"
check "as_of is each card's latest order or payment" "$(q "
  select count(*) from pulse.online_features o
    join (select k, max(t) t from (select card_fingerprint k, created_at t from raw.orders
                                   union all select card_fingerprint, occurred_at from raw.payments) e
           where k is not null group by k) l on l.k = o.entity_id
   where o.entity_type = 'card' and o.as_of <> l.t")" 0
parity "after the first load"

# A second, interleaved load (another seed over the same days): late events for known entities.
"$RELEASE_BIN/pulse-gen" --count 1500 --days 3 --seed 12 --quiet --families orders,payments,clickstream >/dev/null
ingest_until_caught_up
parity "after a second, interleaved load"

# The training set equals straightforward SQL at random label times (not only at as_of).
q "create table labels as
     select o.order_id, o.card_fingerprint as card, o.customer_id as customer,
            o.created_at - (random() * interval '2 hours') as as_of,
            exists (select from raw.payments p where p.order_id = o.order_id and p.event_type = 'chargeback') as fraud
       from raw.orders o where o.card_fingerprint is not null order by md5(o.order_id) limit 1000"
q "select feature_training_set('select * from labels', 'training')" >/dev/null
check "one training row per label" "$(q "select count(*) from training")" 1000
check "label columns pass through" "$(q "select count(*) from training t join labels l using (order_id, card, customer, as_of, fraud)")" 1000
win="o.created_at > l.as_of - interval"
check "card features equal correlated subqueries" "$(q "
  select count(*) from training l where not (
    $(close "l.card_orders_10m" "(select count(*) from raw.orders o where o.card_fingerprint = l.card and $win '10 minutes' and o.created_at <= l.as_of)") and
    $(close "l.card_amount_24h" "(select coalesce(sum(amount), 0) from raw.orders o where o.card_fingerprint = l.card and $win '24 hours' and o.created_at <= l.as_of)") and
    $(close "l.card_customers_24h" "(select count(distinct customer_id) from raw.orders o where o.card_fingerprint = l.card and $win '24 hours' and o.created_at <= l.as_of)") and
    $(close "l.card_chargebacks_90d" "(select count(*) from raw.payments p where p.card_fingerprint = l.card and p.event_type = 'chargeback' and p.occurred_at > l.as_of - interval '90 days' and p.occurred_at <= l.as_of)"))")" 0
check "customer features equal correlated subqueries" "$(q "
  select count(*) from training l where not (
    $(close "l.customer_orders_30d" "(select count(*) from raw.orders o where o.customer_id = l.customer and $win '30 days' and o.created_at <= l.as_of)") and
    $(close "l.customer_amount_mean_30d" "(select avg(amount)::float8 from raw.orders o where o.customer_id = l.customer and $win '30 days' and o.created_at <= l.as_of)") and
    $(close "l.customer_amount_stddev_30d" "(select stddev_samp(amount)::float8 from raw.orders o where o.customer_id = l.customer and $win '30 days' and o.created_at <= l.as_of)") and
    $(close "l.customer_spend_decayed_30d" "(select coalesce(sum(amount * power(0.5, extract(epoch from l.as_of - o.created_at) / (7 * 86400))), 0)::float8 from raw.orders o where o.customer_id = l.customer and $win '30 days' and o.created_at <= l.as_of)") and
    $(close "l.customer_amount_ewma_30d" "(select (sum(amount * power(2, extract(epoch from o.created_at - l.as_of) / (3 * 86400))) / sum(power(2, extract(epoch from o.created_at - l.as_of) / (3 * 86400))))::float8 from raw.orders o where o.customer_id = l.customer and $win '30 days' and o.created_at <= l.as_of)"))")" 0
check "some labels see velocity (the comparison is not all zeros)" "$(q "select count(*) > 10 from training where card_orders_24h > 1 and customer_orders_30d > 1")" t

# same_values A B: rows of training sets A and B (joined on order_id) whose values differ.
same_values() { q "
  select count(*) from $1 a join $2 b using (order_id)
   cross join lateral jsonb_each(to_jsonb(a)) kv(k, va)
   where not (va = to_jsonb(b) -> k or (jsonb_typeof(va) = 'number' and
              $(close "(va #>> '{}')::float8" "(to_jsonb(b) ->> k)::float8")))"; }

# Leakage probe: events stamped after each entity's last label (1 µs, 1 s, 1 h and 20 days later;
# orders, declines and chargebacks) must not change any value.
q "select raw.ensure_day_partitions(t, current_date - 1, current_date + 30) from unnest(array['raw.orders', 'raw.payments']::regclass[]) t" >/dev/null
q "create table probe_cards as select card, max(as_of) as t from labels group by card"
q "create table probe_customers as select customer, max(as_of) as t from labels group by customer"
q "insert into raw.orders (order_id, customer_id, created_at, amount, currency, items, payment_method, card_fingerprint,
                           ip_country, shipping_country, billing_country, event_version, _topic, _partition, _offset)
   select 'probe-' || who || '-' || row_number() over (), customer, t + d::interval, 999.99, 'EUR', 1, 'card', card,
          'XX', 'XX', 'YY', 1, 'probe', 0, 0
     from (select 'card' who, 'probe-customer' customer, card, t from probe_cards
           union all select 'customer', customer, null, t from probe_customers) p,
          unnest(array['1 microsecond', '1 second', '1 hour', '20 days']) d"
q "insert into raw.payments (payment_id, event_type, order_id, occurred_at, amount, currency, card_fingerprint,
                             decline_reason, chargeback_reason, event_version, _topic, _partition, _offset)
   select 'probe-' || row_number() over (), e, 'probe', t + d::interval, 1, 'EUR', card,
          case when e = 'payment_declined' then 'probe' end, case when e = 'chargeback' then 'probe' end, 1, 'probe', 0, 0
     from probe_cards, unnest(array['1 microsecond', '1 hour']) d, unnest(array['payment_declined', 'chargeback']) e"
q "select feature_training_set('select * from labels', 'training_after_probe')" >/dev/null
check "leakage probe: no feature changed by later events" "$(same_values training training_after_probe)" 0
q "select feature_training_set('select order_id, card, customer, as_of + interval ''2 hours'' as as_of, fraud from labels',
                               'training_later')" >/dev/null
check "leakage probe can fail: the same events change each card's last label 2 hours later" "$(q "
  select count(*) filter (where card_declines_24h >= 2 and card_chargebacks_90d >= 2 and card_orders_24h >= 3) = count(*)
         and count(*) >= (select count(*) from probe_cards)
    from training_later l join probe_cards p on p.card = l.card and l.as_of = p.t + interval '2 hours'")" t
check "the probe events refreshed the online store (same transaction)" "$(q "
  select count(*) from probe_cards p join pulse.online_features o on o.entity_type = 'card' and o.entity_id = p.card
   where o.as_of <> p.t + interval '20 days'")" 0

# TTL: a label whose card had no event within the TTL gets NULL features.
q "select feature_training_set('select card, as_of + interval ''400 days'' as as_of from labels limit 5', 'training_ttl',
                               ttl => '1 day')" >/dev/null
check "ttl: stale entities get NULL features" "$(q "select count(*) from training_ttl where card_orders_24h is null")" 5

[ "$fails" -eq 0 ]
