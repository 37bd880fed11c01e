-- The shop's feature set: each definition is used by the online store (feature_get) and by
-- training sets (feature_training_set), so serving and training compute the same values.
-- Run after `create extension pulse` on a database with the raw.* tables (pulse-ingest migrate).
-- feature_define creates the (entity, time) index and the refresh trigger on each source.

-- card: velocity and payment history of a card fingerprint (fraud).
select feature_define('card_orders_10m', 'card', 'raw.orders', 'card_fingerprint', 'created_at', 'count', '10 minutes',
  description => 'orders paid with this card in the last 10 minutes');
select feature_define('card_orders_24h', 'card', 'raw.orders', 'card_fingerprint', 'created_at', 'count', '24 hours',
  description => 'orders paid with this card in the last 24 hours');
select feature_define('card_amount_24h', 'card', 'raw.orders', 'card_fingerprint', 'created_at', 'sum', '24 hours',
  value_sql => 'amount', description => 'order amount paid with this card in the last 24 hours');
select feature_define('card_customers_24h', 'card', 'raw.orders', 'card_fingerprint', 'created_at', 'distinct', '24 hours',
  value_sql => 'customer_id', description => 'distinct customers using this card in the last 24 hours');
select feature_define('card_ip_countries_24h', 'card', 'raw.orders', 'card_fingerprint', 'created_at', 'distinct', '24 hours',
  value_sql => 'ip_country', description => 'distinct IP countries of orders with this card in the last 24 hours');
select feature_define('card_declines_24h', 'card', 'raw.payments', 'card_fingerprint', 'occurred_at', 'count', '24 hours',
  filter_sql => $$event_type = 'payment_declined'$$, description => 'declined payments of this card in the last 24 hours');
select feature_define('card_chargebacks_90d', 'card', 'raw.payments', 'card_fingerprint', 'occurred_at', 'count', '90 days',
  filter_sql => $$event_type = 'chargeback'$$,
  description => 'chargebacks on this card that arrived in the last 90 days (as of the time asked, never later)');

-- customer: spending pattern over 30 days.
select feature_define('customer_orders_30d', 'customer', 'raw.orders', 'customer_id', 'created_at', 'count', '30 days',
  description => 'orders of this customer in the last 30 days');
select feature_define('customer_amount_mean_30d', 'customer', 'raw.orders', 'customer_id', 'created_at', 'mean', '30 days',
  value_sql => 'amount', description => 'mean order amount of this customer over 30 days');
select feature_define('customer_amount_stddev_30d', 'customer', 'raw.orders', 'customer_id', 'created_at', 'stddev', '30 days',
  value_sql => 'amount', description => 'sample standard deviation of this customer''s order amounts over 30 days');
select feature_define('customer_spend_decayed_30d', 'customer', 'raw.orders', 'customer_id', 'created_at', 'decayed_sum', '30 days',
  value_sql => 'amount', half_life => '7 days', description => 'order amount over 30 days, halved every 7 days of age');
select feature_define('customer_amount_ewma_30d', 'customer', 'raw.orders', 'customer_id', 'created_at', 'ewma', '30 days',
  value_sql => 'amount', half_life => '3 days', description => 'time-weighted mean order amount (half-life 3 days) over 30 days');
select feature_define('customer_cross_border_30d', 'customer', 'raw.orders', 'customer_id', 'created_at', 'count', '30 days',
  filter_sql => 'shipping_country <> billing_country', description => 'orders shipped abroad from the billing country in 30 days');

-- product: demand signals from the storefront (ranking).
select feature_define('product_views_1h', 'product', 'raw.clickstream', 'product_id', 'occurred_at', 'count', '1 hour',
  filter_sql => $$event_type = 'product_view'$$, description => 'product page views in the last hour');
select feature_define('product_carts_1h', 'product', 'raw.clickstream', 'product_id', 'occurred_at', 'count', '1 hour',
  filter_sql => $$event_type = 'add_to_cart'$$, description => 'add-to-cart events in the last hour');
select feature_define('product_sessions_1h', 'product', 'raw.clickstream', 'product_id', 'occurred_at', 'distinct', '1 hour',
  value_sql => 'session_id', description => 'distinct sessions that viewed or carted the product in the last hour');
