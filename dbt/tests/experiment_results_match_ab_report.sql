-- The mart's revenue comparison equals ab_report's on the same units and metric, for every
-- registered experiment: two routes through the extension (SQL over ab_stats/ab_compare in the
-- mart, plpgsql in ab_report) must agree to 1e-9.
with registered as (
    select key from {{ source('pulse', 'experiments') }}
),

report as (
    select r.key as experiment_key, rep.*
    from registered as r
    cross join lateral ab_report(
        r.key,
        format($m$
            select u.unit_id, coalesce(sum(o.amount), 0)::float8 as value
              from (select unit_id, min(exposed_at) as first_exposed_at
                      from {{ ref('stg_raw__exposures') }} where experiment_key = %L group by unit_id) u
              left join {{ ref('stg_raw__orders') }} o on o.customer_id = u.unit_id and o.ordered_at >= u.first_exposed_at
             group by u.unit_id $m$, r.key),
        exposures_sql => format(
            'select unit_id, variant from {{ ref('stg_raw__exposures') }} where experiment_key = %L', r.key)
    ) as rep
)

select m.experiment_key, m.variant, m.units, r.units as report_units, m.revenue_p_value, r.p_value
from {{ ref('experiment_results') }} as m
join report as r on r.experiment_key = m.experiment_key and r.variant = m.variant
where m.units <> r.units
   -- relative to the means: a lift is a difference of two means, whose rounding (float8 sums of
   -- 260k units, added in another order) it inherits
   or abs(coalesce(m.revenue_lift, 0) - coalesce(r.lift, 0)) > 1e-9 * greatest(1, abs(r.lift), abs(r.mean))
   or abs(coalesce(m.revenue_p_value, 0) - coalesce(r.p_value, 0)) > 1e-9
   or abs(coalesce(m.revenue_p_value_holm, 0) - coalesce(r.p_value_holm, 0)) > 1e-9
   or m.srm_flag is distinct from r.srm_flag
union all
select 'no registered experiment reached the mart', null, null, null, null, null
where not exists (
    select 1 from {{ ref('experiment_results') }} as m join registered as r on r.key = m.experiment_key
)
