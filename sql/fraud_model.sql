-- The shop's fraud model: a point-in-time training set from the features of sql/features.sql,
-- a logistic regression trained in the database, deployed as champion. Run after
-- sql/features.sql on a database with landed orders and payments; each run adds a version.
--
-- Population: orders whose payment was authorised (only those can be charged back).
-- Label: a chargeback for fraud arrived for the order (not other disputes such as
-- product_not_received). Inputs: the order's own fields (all present in
-- raw.orders, so score_fraud(o) finds them) and the card and customer features as of the order.
drop table if exists fraud_training;
select feature_training_set($$
  select o.order_id, o.card_fingerprint as card, o.customer_id as customer, o.created_at as as_of,
         o.amount, o.items, o.payment_method, o.device, o.email_domain,
         exists (select from raw.payments p where p.order_id = o.order_id and p.event_type = 'chargeback'
                                           and p.chargeback_reason = 'fraudulent') as fraud
    from raw.orders o
   where exists (select from raw.payments p where p.order_id = o.order_id and p.event_type = 'payment_authorized')
$$, 'fraud_training') as training_rows;

-- Split by time (as_of): the latest 20 % of orders are the hold-out.
select train_model('fraud', 'select * from fraud_training', 'fraud', 'logistic_regression',
                   '{"exclude": ["order_id", "card", "customer"]}') as version \gset
select model_deploy('fraud', :version, 'champion') as deployed;
