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

-- Drift: profile each day once, roll the days up, compare the windows.
drop table if exists order_profiles;
create table order_profiles as
select created_at::date as day, drift_profile(amount) as amount, drift_profile(device) as device
  from raw.orders group by 1;
select round(ks.statistic::numeric, 4) as ks, ks.p_value, round(drift_wasserstein(r.amount, c.amount, true)::numeric, 4) as w_normed,
       round(drift_psi(r.amount, c.amount)::numeric, 4) as psi_amount, round(drift_js(r.device, c.device)::numeric, 4) as js_device
  from (select drift_profile_merge(amount) as amount, drift_profile_merge(device) as device
          from order_profiles where day between current_date - 19 and current_date - 6) r,
       (select drift_profile_merge(amount) as amount, drift_profile_merge(device) as device
          from order_profiles where day >= current_date - 4) c,
       lateral drift_ks(r.amount, c.amount) ks;
-- Or let drift_report profile two queries and pick each column's test.
select column_name, kind, test, round(statistic::numeric, 4) as statistic, p_value, threshold, drifted
  from drift_report($$select amount, items, payment_method, device from raw.orders
                      where created_at >= now() - interval '19 days' and created_at < now() - interval '5 days'$$,
                    $$select amount, items, payment_method, device from raw.orders
                      where created_at >= now() - interval '5 days'$$);
-- A monitor: the reference profiled once; each run profiles the last day, stores results and alerts.
select drift_monitor_drop(name) from pulse.monitors where name = 'orders-last-day';
select drift_monitor_create('orders-last-day',
  $$select amount, items, payment_method, device from raw.orders
     where created_at >= now() - interval '19 days' and created_at < now() - interval '5 days'$$,
  $$select amount, items, payment_method, device from raw.orders where created_at >= now() - interval '1 day'$$,
  schedule => '0 * * * *');
select column_name, test, round(statistic::numeric, 4) as statistic, drifted from drift_monitor_run('orders-last-day');
select monitor, column_name, test, runs, alerts, round(max_statistic::numeric, 4) as max_statistic
  from pulse.drift_alert_history where monitor = 'orders-last-day' order by column_name;
