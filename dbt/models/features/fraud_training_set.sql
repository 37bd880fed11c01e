-- Fraud training set: every order with the card and customer features as they were when the order
-- was placed (point in time, from the definitions in pulse.features), and the label known later:
-- fraud = a chargeback exists for the order.
-- Incremental: rebuilt are the orders that landed, the orders whose label changed (a chargeback
-- landed), and every order of a card or customer at or after the time of a newly landed event of
-- it, since that event may sit in their feature windows (a late event changes later orders'
-- features too). The card and customer features of sql/features.sql read raw.orders and
-- raw.payments; a feature on another source needs a --full-refresh after it is defined.
-- depends_on: {{ ref('stg_raw__payments') }}
{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['order_id'], 'unique': true}]
) }}
{% set label_sql %}
with orders as (
    select * from {{ ref('stg_raw__orders') }}
),

payments as (
    select * from {{ ref('stg_raw__payments') }}
),

{% if is_incremental() %}
landed_events as (
    select 'card' as entity, card_fingerprint as entity_id, ordered_at as at
    from orders
    where ingested_at > {{ ingest_watermark() }} and card_fingerprint is not null
    union all
    select 'customer', customer_id, ordered_at
    from orders
    where ingested_at > {{ ingest_watermark() }}
    union all
    select 'card', card_fingerprint, occurred_at
    from payments
    where ingested_at > {{ ingest_watermark() }} and card_fingerprint is not null
),

touched as (
    select entity, entity_id, min(at) as since
    from landed_events
    group by 1, 2
),

scope as (
    select o.order_id
    from orders as o
    inner join touched as t on t.entity = 'card' and t.entity_id = o.card_fingerprint and o.ordered_at >= t.since
    union
    select o.order_id
    from orders as o
    inner join touched as t on t.entity = 'customer' and t.entity_id = o.customer_id and o.ordered_at >= t.since
    union
    select order_id
    from payments
    where ingested_at > {{ ingest_watermark() }} and is_chargeback
),
{% endif %}

chargebacks as (
    select order_id, max(ingested_at) as ingested_at
    from payments
    where is_chargeback
    {% if is_incremental() %}
        -- only the rebuilt orders' (the left join below cannot carry this filter into the grouping)
        and order_id in (select order_id from scope)
    {% endif %}
    group by order_id
),

labels as (
    select
        orders.order_id,
        orders.card_fingerprint as card,
        orders.customer_id as customer,
        orders.ordered_at as as_of,
        orders.amount,
        chargebacks.order_id is not null as fraud,
        greatest(orders.ingested_at, chargebacks.ingested_at) as last_ingested_at
    from orders
    left join chargebacks on chargebacks.order_id = orders.order_id
    {% if is_incremental() %}
    where orders.order_id in (select order_id from scope)
    {% endif %}
)

select * from labels
{% endset %}

{{ pulse_training_set(label_sql) }}
