-- One row per experiment and unit: the unit's variant (null when it was seen in more than one),
-- its first exposure and, for customers, the orders placed at or after it (conversion and
-- revenue). experiment_results aggregates these.
-- Incremental: units with a newly landed exposure, and customers with a newly landed order, are
-- rebuilt whole (all their exposures and orders); the rest stand.
-- depends_on: {{ ref('stg_raw__exposures') }}
-- The indexes let delete+insert find the rows it replaces by key, and the rebuild find units.
{{ config(
    materialized='incremental',
    unique_key=['experiment_key', 'unit_id'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['experiment_key', 'unit_id'], 'unique': true}, {'columns': ['unit_id']}]
) }}

with exposures as (
    select * from {{ ref('stg_raw__exposures') }}
),

orders as (
    select * from {{ ref('stg_raw__orders') }}
),

{% if is_incremental() %}
changed_units as (
    select experiment_key, unit_id
    from exposures
    where ingested_at > {{ ingest_watermark() }}
    union
    select u.experiment_key, u.unit_id
    from {{ this }} as u
    inner join orders as o on o.customer_id = u.unit_id
    where o.ingested_at > {{ ingest_watermark() }}
),
{% endif %}

units as (
    select
        e.experiment_key,
        e.unit_id,
        case when count(distinct e.variant) = 1 then min(e.variant) end as variant,
        count(distinct e.variant) as variants_seen,
        min(e.exposed_at) as first_exposed_at,
        count(*) as exposures,
        max(e.ingested_at) as last_exposure_ingested_at
    from exposures as e
    {% if is_incremental() %}
    where (e.experiment_key, e.unit_id) in (select experiment_key, unit_id from changed_units)
    {% endif %}
    group by e.experiment_key, e.unit_id
),

final as (
    select
        u.experiment_key,
        u.unit_id,
        u.variant,
        u.variants_seen,
        u.first_exposed_at,
        u.exposures,
        count(o.order_id) > 0 as converted,
        count(o.order_id) as orders,
        coalesce(sum(o.amount), 0) as revenue,
        greatest(u.last_exposure_ingested_at, max(o.ingested_at)) as last_ingested_at
    from units as u
    left join orders as o
        on o.customer_id = u.unit_id and o.ordered_at >= u.first_exposed_at
    group by
        u.experiment_key, u.unit_id, u.variant, u.variants_seen, u.first_exposed_at, u.exposures,
        u.last_exposure_ingested_at
)

select * from final
