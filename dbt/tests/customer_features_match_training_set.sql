-- Train/serve parity: the online values of a customer (customer_features, exact as of the
-- customer's latest order) equal the point-in-time values the training set computes for that order.
with online as (
    select * from {{ ref('customer_features') }}
    where as_of is not null
),

training as (
    select * from {{ ref('fraud_training_set') }}
),

compared as (
    select
        online.customer_id,
        online.as_of,
        training.order_id,
        online.customer_orders_30d as online_orders,
        training.customer_orders_30d as training_orders,
        online.customer_amount_mean_30d as online_mean,
        training.customer_amount_mean_30d as training_mean,
        online.customer_amount_stddev_30d as online_stddev,
        training.customer_amount_stddev_30d as training_stddev,
        online.customer_spend_decayed_30d as online_decayed,
        training.customer_spend_decayed_30d as training_decayed,
        online.customer_amount_ewma_30d as online_ewma,
        training.customer_amount_ewma_30d as training_ewma,
        online.customer_cross_border_30d as online_cross_border,
        training.customer_cross_border_30d as training_cross_border
    from online
    left join training
        on training.customer = online.customer_id
        and training.as_of = online.as_of
)

select *
from compared
where order_id is null
   or online_orders is distinct from training_orders
   or online_cross_border is distinct from training_cross_border
   or (online_mean is null) <> (training_mean is null)
   or abs(online_mean - training_mean) > 1e-6 * greatest(1, abs(online_mean))
   or (online_stddev is null) <> (training_stddev is null)
   or abs(online_stddev - training_stddev) > 1e-6 * greatest(1, abs(online_stddev))
   or abs(online_decayed - training_decayed) > 1e-6 * greatest(1, abs(online_decayed))
   or (online_ewma is null) <> (training_ewma is null)
   or abs(online_ewma - training_ewma) > 1e-6 * greatest(1, abs(online_ewma))
