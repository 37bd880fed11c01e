-- Customer lifetime value: what each customer has spent (authorised orders not charged back, in
-- EUR) and a 365-day run-rate projection: revenue per day since the first order x 365, for
-- customers with at least 30 days of tenure. A run rate, not a fitted model: it suits ranking and
-- segment totals.
with orders as (
    select * from {{ ref('orders') }}
),

customers as (
    select * from {{ ref('stg_raw__customers') }}
),

as_of as (
    select max(ordered_at) as as_of from orders
),

per_customer as (
    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as orders,
        count(*) filter (where payment_status = 'authorized' and not charged_back) as paid_orders,
        coalesce(sum(amount_eur) filter (where payment_status = 'authorized' and not charged_back), 0)
            as revenue_eur,
        count(*) filter (where is_fraud) as fraud_chargebacks
    from orders
    group by customer_id
),

final as (
    select
        p.customer_id,
        c.segment,
        c.country,
        p.first_order_at,
        p.last_order_at,
        p.orders,
        p.paid_orders,
        p.revenue_eur,
        round(p.revenue_eur / nullif(p.paid_orders, 0), 2) as avg_order_value_eur,
        p.fraud_chargebacks,
        -- a run rate needs history: none before 30 days of tenure (3 days x 122 is noise)
        case when a.as_of - p.first_order_at >= interval '30 days' then round(
            p.revenue_eur / (extract(epoch from a.as_of - p.first_order_at) / 86400)::numeric * 365, 2
        ) end as projected_365d_value_eur
    from per_customer as p
    cross join as_of as a
    left join customers as c on c.customer_id = p.customer_id
)

select * from final
