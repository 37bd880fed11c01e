-- A second landing for tests/dbt/full_vs_incremental.sh, in its own transaction (so a later
-- _ingested_at): 200 new orders over the last 20 minutes with their payments and scores, a late
-- order placed two days ago, a chargeback for an old order, a late score for an old order, a late
-- exposure to a second variant, storefront events that continue the sessions of batch one and
-- open new ones, and an hour of stock sales.
insert into raw.orders (order_id, customer_id, created_at, amount, currency, items, payment_method, card_fingerprint,
                        ip_country, shipping_country, billing_country, device, event_version, _topic, _partition, _offset)
select 'o-next-' || i, 'c-' || (i % 97), now() - ((i * 6) || ' seconds')::interval, (i % 300) + 0.49,
       (array['EUR','USD','GBP'])[1 + i % 3], 1 + i % 3, 'card', 'fp-' || (i % 211), 'DE', 'DE', 'DE',
       (array['mobile','desktop'])[1 + i % 2], 1, 'orders', 0, 200000 + i
  from generate_series(1, 200) i
union all
select 'o-late-1', 'c-5', now() - interval '2 days', 42.00, 'EUR', 1, 'paypal', null, 'DE', 'DE', 'DE', 'mobile', 1,
       'orders', 1, 200999;
insert into raw.payments (payment_id, event_type, order_id, occurred_at, amount, currency, card_fingerprint,
                          decline_reason, chargeback_reason, event_version, _topic, _partition, _offset)
select 'pay-next-' || o._offset, 'payment_authorized', o.order_id, o.created_at + interval '2 seconds', o.amount,
       o.currency, o.card_fingerprint, null, null, 1, 'payments', 0, o._offset
  from raw.orders o
 where o._offset >= 200000
union all
select 'pay-cb-late', 'chargeback', o.order_id, now(), o.amount, o.currency, o.card_fingerprint, null, 'fraudulent',
       1, 'payments', 0, 300000
  from raw.orders o
 where o.order_id = 'o-4000';
insert into raw.clickstream (event_id, event_type, session_id, customer_id, occurred_at, page, product_id, query,
                             quantity, device, ip_country, event_version, _topic, _partition, _offset)
select 'e-next-' || i, t, 's-next-' || (i / 5), case when i % 3 <> 0 then 'c-' || (i % 97) end,
       now() - ((i * 4) || ' seconds')::interval, '/' || t,
       case when t in ('product_view', 'add_to_cart') then 'p-' || lpad((1 + i % 40)::text, 5, '0') end,
       null, case when t = 'add_to_cart' then 1 end, 'mobile', 'DE', 1, 'clickstream', 0, 200000 + i
  from generate_series(1, 300) i,
       lateral (select (array['page_view','product_view','add_to_cart','checkout_start'])[1 + i % 4] as t) et;
insert into raw.inventory (event_id, product_id, occurred_at, delta, reason, stock_after, event_version,
                           _topic, _partition, _offset)
select 'inv-next-' || p, i.product_id, now() - interval '5 minutes', -1, 'sale', i.stock_after - 1, 1,
       'inventory', 0, 200000 + p
  from generate_series(1, 40) p
  cross join lateral (select product_id, stock_after from raw.inventory
                       where product_id = 'p-' || lpad(p::text, 5, '0') order by occurred_at desc limit 1) i;
set pulse.decision_log_max_rows = 1000000;
-- Decisions made in parallel workers are not logged (pulse.decisions): score in the leader.
set max_parallel_workers_per_gather = 0;
-- The new orders, and o-17 of batch one scored late: only the decision log tells the orders mart.
select count(score_fraud(o)) as scored from raw.orders o where o._offset >= 200000 or o.order_id = 'o-17';
-- A late exposure of c-1 to a second variant: experiment_units must now leave c-1 out.
insert into raw.exposures (event_id, experiment_key, variant, unit_id, occurred_at, source, event_version,
                           _topic, _partition, _offset)
select 'x-late-c-1', 'checkout-button',
       case when ab_assign('checkout-button', 'c-1') = 'control' then 'green' else 'control' end,
       'c-1', now() - interval '1 hour', 'checkout', 1, 'exposures', 2, 900000;
