-- Examples from the README, runnable against the demo stack:  . .pulse/env && psql -f sql/examples.sql

-- Bucket a user for an experiment (GrowthBook hash v2, 10,000 buckets).
select ab_hash('checkout-button', 'c-0000042') as bucket;

-- Split customers 50/50 and compare average order value.
select case when ab_hash('checkout-button', customer_id) < 0.5 then 'control' else 'treatment' end as variant,
       count(distinct customer_id) as customers, round(avg(amount), 2) as avg_order_value
  from raw.orders group by 1 order by 1;

-- What the ingester refused, and why.
select error_code, count(*) as messages from raw.dead_letters group by 1 order by 1;

-- How far each partition has landed.
select consumer_group, topic, partition, next_offset, updated_at
  from raw.ingest_offsets order by 1, 2, 3;

-- Velocity of the busiest card over a sliding 10-minute window (window aggregates, O(1) per row).
select order_id, created_at,
       count(*) over w as orders_10m,
       round(feature_sum(amount::float8) over w) as amount_10m,
       feature_approx_distinct(customer_id) over w as customers_10m
  from raw.orders
 where card_fingerprint = (select card_fingerprint from raw.orders where card_fingerprint is not null
                            group by 1 order by count(*) desc limit 1)
window w as (partition by card_fingerprint order by created_at range interval '10 minutes' preceding)
order by created_at limit 3;

-- A customer's online features (sql/features.sql defines them; they refresh as events land).
select feature_get('customer', 'c-0000042');

-- A point-in-time training set: each order's features as of its own time, labelled by a later chargeback.
drop table if exists fraud_training;
select feature_training_set($$
  select order_id, card_fingerprint as card, customer_id as customer, created_at as as_of,
         exists (select from raw.payments p where p.order_id = o.order_id and p.event_type = 'chargeback') as fraud
    from raw.orders o$$, 'fraud_training');
select fraud, count(*) as orders, round(avg(card_orders_24h)::numeric, 2) as card_orders_24h,
       round(avg(card_chargebacks_90d)::numeric, 3) as card_chargebacks_90d
  from fraud_training group by 1 order by 1;
