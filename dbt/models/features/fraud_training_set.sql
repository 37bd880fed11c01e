-- Fraud training set: every order with the card and customer features as they were when the order
-- was placed (point in time, from the definitions in pulse.features), and the label known later:
-- fraud = a chargeback exists for the order.
{% set label_sql %}
with orders as (
    select * from {{ ref('stg_raw__orders') }}
),

chargebacks as (
    select distinct order_id
    from {{ ref('stg_raw__payments') }}
    where is_chargeback
),

labels as (
    select
        orders.order_id,
        orders.card_fingerprint as card,
        orders.customer_id as customer,
        orders.ordered_at as as_of,
        orders.amount,
        chargebacks.order_id is not null as fraud
    from orders
    left join chargebacks on chargebacks.order_id = orders.order_id
)

select * from labels
{% endset %}

{{ pulse_training_set(label_sql) }}
