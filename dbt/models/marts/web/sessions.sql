-- Sessions: a visitor's storefront events with no gap longer than pulse_session_gap (30 minutes).
-- The visitor is the customer when logged in, else the storefront's session cookie. A session
-- converted when the customer ordered between its first event and the end of the gap after its
-- last one (so an order belongs to one session at most).
-- Incremental: macros/sessions.sql picks the visitors with new activity and where to rebuild
-- their sessions from; the rest are left as they are.
-- The indexes let delete+insert find the rows it replaces by key.
{{ config(
    materialized='incremental',
    unique_key='session_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['session_id'], 'unique': true}, {'columns': ['visitor_id', 'session_start']}],
    pre_hook="{{ sessions_restart_hook() }}"
) }}

with clickstream as (
    select * from {{ ref('stg_raw__clickstream') }}
),

orders as (
    select * from {{ ref('stg_raw__orders') }}
),

fx as (
    select * from {{ ref('fx_rates') }}
),

events as (
    select
        c.*,
        coalesce(c.customer_id, 'anon:' || c.session_id) as visitor_id
    from clickstream as c
    {% if is_incremental() %}
    inner join pulse_session_restarts as r
        on r.visitor_id = coalesce(c.customer_id, 'anon:' || c.session_id) and c.occurred_at >= r.restart_at
    -- lets the planner skip the day partitions before the earliest restart
    where c.occurred_at >= (select min(restart_at) from pulse_session_restarts)
    {% endif %}
),

flagged as (
    select
        *,
        coalesce(
            occurred_at - lag(occurred_at) over visitor > interval '{{ var("pulse_session_gap") }}', true
        ) as starts_session
    from events
    window visitor as (partition by visitor_id order by occurred_at, event_id)
),

numbered as (
    select
        *,
        count(*) filter (where starts_session) over (
            partition by visitor_id order by occurred_at, event_id rows unbounded preceding
        ) as session_number
    from flagged
),

sessions as (
    select
        visitor_id,
        min(customer_id) as customer_id,
        min(occurred_at) as session_start,
        max(occurred_at) as session_end,
        count(*) as events,
        count(*) filter (where event_type = 'page_view') as page_views,
        count(*) filter (where event_type = 'product_view') as product_views,
        count(*) filter (where event_type = 'search') as searches,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'checkout_start') as checkout_starts,
        (array_agg(device order by occurred_at, event_id))[1] as device,
        max(ingested_at) as last_ingested_at
    from numbered
    group by visitor_id, session_number
),

with_orders as (
    select
        s.visitor_id,
        s.customer_id,
        s.session_start,
        s.session_end,
        s.events,
        s.page_views,
        s.product_views,
        s.searches,
        s.add_to_carts,
        s.checkout_starts,
        s.device,
        count(o.order_id) as orders,
        coalesce(sum({{ to_eur("o.amount", "fx.eur_per_unit") }}), 0) as revenue_eur,
        greatest(s.last_ingested_at, max(o.ingested_at)) as last_ingested_at
    from sessions as s
    left join orders as o
        on o.customer_id = s.customer_id
        and o.ordered_at >= s.session_start
        and o.ordered_at <= s.session_end + interval '{{ var("pulse_session_gap") }}'
    left join fx on fx.currency = o.currency
    group by
        s.visitor_id, s.customer_id, s.session_start, s.session_end, s.events, s.page_views,
        s.product_views, s.searches, s.add_to_carts, s.checkout_starts, s.device, s.last_ingested_at
),

final as (
    select
        md5(visitor_id || '|' || extract(epoch from session_start)::text) as session_id,
        visitor_id,
        customer_id,
        session_start,
        session_end,
        (session_start at time zone 'UTC')::date as session_date,
        extract(epoch from session_end - session_start)::float8 as duration_seconds,
        events,
        page_views,
        product_views,
        searches,
        add_to_carts,
        checkout_starts,
        orders > 0 as converted,
        orders,
        revenue_eur,
        device,
        last_ingested_at
    from with_orders
)

select * from final
