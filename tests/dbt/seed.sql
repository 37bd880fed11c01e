-- The dbt suite's data (scripts/test.sh suite_dbt), inserted in SQL into a database of its own
-- after `create extension pulse` and sql/features.sql: ~3.5 days of orders (97 customers, 211
-- cards, three devices), one payment event per order (every 23rd declined) and chargebacks a day
-- after every 37th card order older than a day and after card orders over 300 from a tablet;
-- 8 hours of storefront events over 40 products;
-- the customers and products mirrors with a tombstone each; stock changes; two experiments.
-- tests/dbt/seed_models.sql then trains, scores and monitors.
insert into raw.customers (customer_id, email, country, segment, created_at, _op, _lsn, _source_ts, _deleted)
select 'c-' || i, 'c-' || i || '@' || (array['example.com','mail.de','shop.fr'])[1 + i % 3],
       case when i % 10 = 0 then 'FR' else 'DE' end, (array['new','regular','vip','at_risk'])[1 + i % 4],
       now() - ((100 + i) || ' days')::interval, case when i < 97 then 'r' else 'd' end, 1000 + i,
       now() - interval '1 hour', i >= 97
  from generate_series(0, 98) i;
insert into raw.products (product_id, name, category, price, currency, active, _op, _lsn, _source_ts, _deleted)
select 'p-' || lpad(i::text, 5, '0'), 'Product ' || i, (array['electronics','home','fashion','toys'])[1 + i % 4],
       5 + (i * 7) % 90 + 0.99, 'EUR', i % 10 <> 0, case when i <= 40 then 'r' else 'd' end, 2000 + i,
       now() - interval '1 hour', i > 40
  from generate_series(1, 41) i;
insert into raw.orders (order_id, customer_id, created_at, amount, currency, items, payment_method, card_fingerprint,
                        ip_country, shipping_country, billing_country, device, event_version, _topic, _partition, _offset)
select 'o-' || i, 'c-' || (i % 97), now() - (i || ' minutes')::interval, (i % 500) + 0.99,
       (array['EUR','USD','GBP'])[1 + i % 3], 1 + i % 4, m,
       case when m = 'card' then 'fp-' || (i % 211) end, case when i % 13 = 0 then 'US' else 'DE' end,
       case when i % 10 = 0 then 'FR' else 'DE' end, 'DE', (array['mobile','desktop','mobile','tablet'])[1 + i % 4],
       1, 'orders', 0, i
  from generate_series(1, 5000) i,
       lateral (select (array['card','card','card','paypal','klarna'])[1 + i % 5] as m) pm;
insert into raw.payments (payment_id, event_type, order_id, occurred_at, amount, currency, card_fingerprint,
                          decline_reason, chargeback_reason, event_version, _topic, _partition, _offset)
select 'pay-' || o._offset, case when o._offset % 23 = 0 then 'payment_declined' else 'payment_authorized' end,
       o.order_id, o.created_at + interval '2 seconds', o.amount, o.currency, o.card_fingerprint,
       case when o._offset % 23 = 0 then 'insufficient_funds' end, null, 1, 'payments', 0, o._offset
  from raw.orders o
union all
select 'pay-cb-' || o._offset, 'chargeback', o.order_id, o.created_at + interval '1 day', o.amount, o.currency,
       o.card_fingerprint, null, 'fraudulent', 1, 'payments', 0, 100000 + o._offset
  from raw.orders o
-- Fraud the model can learn: tablet orders over 300 on a card, besides every 37th card order.
 where o.card_fingerprint is not null and o.created_at < now() - interval '1 day'
   and (o._offset % 37 = 0 or (o.device = 'tablet' and o.amount > 300));
insert into raw.clickstream (event_id, event_type, session_id, customer_id, occurred_at, page, product_id, query,
                             quantity, device, ip_country, event_version, _topic, _partition, _offset)
select 'e-' || i, t, 's-' || (i / 5), case when i % 3 <> 0 then 'c-' || (i % 97) end,
       now() - ((i * 10) || ' seconds')::interval, '/' || t,
       case when t in ('product_view', 'add_to_cart') then 'p-' || lpad((1 + i % 40)::text, 5, '0') end,
       case when t = 'search' then 'lamp' end, case when t = 'add_to_cart' then 1 + i % 3 end,
       (array['mobile','desktop','tablet'])[1 + i % 3], 'DE', 1, 'clickstream', 0, i
  from generate_series(1, 3000) i,
       lateral (select (array['page_view','product_view','product_view','search','add_to_cart','checkout_start'])[1 + i % 6] as t) et;
-- Two experiments: checkout-button registered (3 variants, assigned by ab_assign), ranking-v2
-- not (its control is 'control'); customers and anonymous visitors exposed 3 days ago, some twice.
select ab_create_experiment('checkout-button', array['control','green','sticky']);
-- A broken rollout: only the control's exposures were logged, so the SRM check must fire.
select ab_create_experiment('one-arm-logged', array['control','treatment']);
insert into raw.exposures (event_id, experiment_key, variant, unit_id, occurred_at, source, event_version,
                           _topic, _partition, _offset)
select 'y-' || i, 'one-arm-logged', 'control', 'c-' || i, now() - interval '2 days', 'web', 1, 'exposures', 1, i
  from generate_series(0, 96) i;
insert into raw.exposures (event_id, experiment_key, variant, unit_id, occurred_at, source, event_version,
                           _topic, _partition, _offset)
select 'x-' || k || '-' || u || '-' || r, k, v, u, now() - interval '3 days' + (r || ' hours')::interval, 'checkout', 1,
       'exposures', 0, row_number() over ()
  from (select 'c-' || i as u from generate_series(0, 96) i union all select 'v-' || i from generate_series(1, 200) i) units,
       lateral (values ('checkout-button', ab_assign('checkout-button', u)),
                       ('ranking-v2', ab_assign(u, array['control','treatment'], seed => 'ranking-v2'))) e(k, v),
       generate_series(1, case when u like '%7' then 2 else 1 end) r;

-- Stock: each product starts with 50-545 units (an adjustment 4 days ago), then sells 1-3 units an
-- hour for the last 3 days; every 10th product gets a restock. Products 1-4 fall under 100 units.
insert into raw.inventory (event_id, product_id, occurred_at, delta, reason, stock_after, event_version,
                           _topic, _partition, _offset)
select 'inv-' || p || '-0', 'p-' || lpad(p::text, 5, '0'), now() - interval '4 days', s0, 'adjustment', s0, 1,
       'inventory', 0, p * 1000
  from generate_series(1, 40) p, lateral (select case when p <= 4 then 50 + p * 20 else 150 + p * 10 end as s0) st;
insert into raw.inventory (event_id, product_id, occurred_at, delta, reason, stock_after, event_version,
                           _topic, _partition, _offset)
select 'inv-' || p || '-' || h, 'p-' || lpad(p::text, 5, '0'), now() - ((72 - h) || ' hours')::interval,
       -(1 + (p + h) % 3), 'sale',
       s0 - sum(1 + (p + h) % 3) over (partition by p order by h), 1, 'inventory', 0, p * 1000 + h
  from generate_series(1, 40) p, generate_series(1, 24) h,
       lateral (select case when p <= 4 then 50 + p * 20 else 150 + p * 10 end as s0) st;

-- The CDC history behind the mirrors: the snapshot read of every customer and product.
insert into raw.cdc_changes (entity, key, op, lsn, source_ts, before, after, _topic, _partition, _offset)
select 'customers', customer_id, 'r', _lsn, _source_ts, null::jsonb, jsonb_build_object('customer_id', customer_id, 'segment', segment),
       'cdc.customers', 0, _lsn
  from raw.customers
union all
select 'products', product_id, 'r', _lsn, _source_ts, null, jsonb_build_object('product_id', product_id, 'price', price),
       'cdc.products', 0, _lsn
  from raw.products;
