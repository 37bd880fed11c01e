-- The training set has exactly one row per order: no order lost, none repeated, none invented.
with orders as (
    select order_id, count(*) as n from {{ ref('stg_raw__orders') }} group by order_id
),

training as (
    select order_id, count(*) as n from {{ ref('fraud_training_set') }} group by order_id
)

select
    coalesce(orders.order_id, training.order_id) as order_id,
    orders.n as order_rows,
    training.n as training_rows
from orders
full join training on training.order_id = orders.order_id
where orders.n is distinct from 1 or training.n is distinct from 1
