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
