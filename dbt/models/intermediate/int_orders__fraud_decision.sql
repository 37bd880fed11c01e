-- Per order, the first fraud score served for it (champion or canary; shadows are never served),
-- flagged when at or above the threshold of the version that served it, and the newest decision
-- of any route (the orders mart's incremental watermark). One GROUP BY, so a filter on order_id
-- reaches the decision log's scan.
with decisions as (
    select * from {{ ref('stg_pulse__decisions') }}
),

models as (
    select * from {{ ref('stg_pulse__models') }}
),

judged as (
    select
        d.entity_key,
        d.decided_at,
        d.request_id,
        d.is_served,
        d.score,
        d.model_version,
        d.route,
        d.score >= m.threshold as flagged
    from decisions as d
    inner join models as m on m.model_name = d.model_name and m.model_version = d.model_version
    where d.model_name = 'fraud' and d.entity_key is not null
),

final as (
    select
        entity_key as order_id,
        (array_agg(score order by decided_at, request_id) filter (where is_served))[1] as score,
        (array_agg(model_version order by decided_at, request_id) filter (where is_served))[1]
            as model_version,
        (array_agg(route order by decided_at, request_id) filter (where is_served))[1] as route,
        (array_agg(flagged order by decided_at, request_id) filter (where is_served))[1] as flagged,
        min(decided_at) filter (where is_served) as decided_at,
        max(decided_at) as last_decided_at
    from judged
    group by entity_key
)

select * from final
