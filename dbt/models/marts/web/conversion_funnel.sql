-- The storefront funnel per UTC day of session start: sessions, then those that also viewed a
-- product, added to cart, started checkout and ordered. Strict: a step counts the sessions that
-- reached it and every step before it, so each rate is at most 1.
with sessions as (
    select * from {{ ref('sessions') }}
),

reached as (
    select
        session_date,
        count(*) as step_1,
        count(*) filter (where product_views > 0) as step_2,
        count(*) filter (where product_views > 0 and add_to_carts > 0) as step_3,
        count(*) filter (where product_views > 0 and add_to_carts > 0 and checkout_starts > 0) as step_4,
        count(*) filter (
            where product_views > 0 and add_to_carts > 0 and checkout_starts > 0 and converted
        ) as step_5
    from sessions
    group by session_date
),

steps as (
    select r.session_date as day, s.step_number, s.step, s.sessions, r.step_1
    from reached as r
    cross join lateral (
        values
            (1, 'session', r.step_1),
            (2, 'product_view', r.step_2),
            (3, 'add_to_cart', r.step_3),
            (4, 'checkout_start', r.step_4),
            (5, 'order', r.step_5)
    ) as s (step_number, step, sessions)
),

final as (
    select
        day,
        step_number,
        step,
        sessions,
        sessions::float8 / nullif(step_1, 0) as rate_from_start,
        sessions::float8 / nullif(lag(sessions) over (partition by day order by step_number), 0)
            as rate_from_previous
    from steps
)

select * from final
