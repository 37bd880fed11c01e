-- One row per order with its payment outcome, its fraud label and the fraud decision served for
-- it. The label is a fraudulent chargeback, which arrives 1-60 days after the order; the score is
-- the first one score_fraud served for the order (champion or canary, not shadows), flagged when
-- at or above that model version's threshold.
-- Incremental: orders that landed, got a payment event or were scored since the last run are
-- rebuilt whole.
-- depends_on: {{ ref('stg_raw__payments') }}
-- depends_on: {{ ref('stg_pulse__decisions') }}
-- The indexes let delete+insert find the rows it replaces by key.
{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['order_id'], 'unique': true}]
) }}

with orders as (
    select * from {{ ref('stg_raw__orders') }}
),

fx as (
    select * from {{ ref('fx_rates') }}
),

{% if is_incremental() %}
changed as (
    select order_id from orders where ingested_at > {{ ingest_watermark() }}
    union
    select order_id from {{ ref('stg_raw__payments') }} where ingested_at > {{ ingest_watermark() }}
    union
    select entity_key from {{ ref('stg_pulse__decisions') }}
    where model_name = 'fraud' and decided_at > {{ ingest_watermark('last_decided_at') }}
),
{% endif %}

-- Both are grouped by order_id, so the incremental filter reaches their scans.
payment_outcome as (
    select * from {{ ref('int_orders__payment_outcome') }}
    {% if is_incremental() %}
    where order_id in (select order_id from changed)
    {% endif %}
),

fraud_decision as (
    select * from {{ ref('int_orders__fraud_decision') }}
    {% if is_incremental() %}
    where order_id in (select order_id from changed)
    {% endif %}
),

scoped as (
    select o.*
    from orders as o
    {% if is_incremental() %}
    where o.order_id in (select order_id from changed)
    {% endif %}
),

final as (
    select
        o.order_id,
        o.customer_id,
        o.ordered_at,
        o.order_date,
        o.amount,
        o.currency,
        {{ to_eur("o.amount", "fx.eur_per_unit") }} as amount_eur,
        o.item_count,
        o.payment_method,
        o.device,
        o.shipping_country <> o.billing_country as country_mismatch,
        case
            when p.authorized then 'authorized'
            when p.declined then 'declined'
            else 'pending'
        end as payment_status,
        coalesce(p.charged_back, false) as charged_back,
        coalesce(p.fraud_chargeback, false) as is_fraud,
        p.charged_back_at,
        d.score as fraud_score,
        d.model_version as fraud_model_version,
        d.route as fraud_route,
        d.flagged as fraud_flagged,
        d.decided_at as scored_at,
        greatest(o.ingested_at, p.last_ingested_at) as last_ingested_at,
        d.last_decided_at
    from scoped as o
    left join payment_outcome as p on p.order_id = o.order_id
    left join fraud_decision as d on d.order_id = o.order_id
    left join fx on fx.currency = o.currency
)

select * from final
