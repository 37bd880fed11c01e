-- Experiment results per variant against the control, computed in the database by the pulse
-- extension: ab_stats sufficient statistics per variant, ab_compare for the tests, ab_srm for the
-- sample-ratio check and ab_p_adjust_holm across the treatments of an experiment.
-- Units: first exposure per unit; units seen in more than one variant are left out.
-- Metrics per unit, from orders placed at or after the unit's first exposure (customers are
-- units; anonymous visitors never order): converted (0/1, two-proportion z-test) and revenue
-- (Welch's t-test).
with exposures as (
    select * from {{ ref('stg_raw__exposures') }}
),

orders as (
    select * from {{ ref('stg_raw__orders') }}
),

registry as (
    select * from {{ source('pulse', 'experiments') }}
),

units as (
    select
        experiment_key,
        unit_id,
        min(variant) as variant,
        min(exposed_at) as first_exposed_at
    from exposures
    group by experiment_key, unit_id
    having count(distinct variant) = 1
),

unit_metrics as (
    select
        u.experiment_key,
        u.variant,
        u.unit_id,
        (count(o.order_id) > 0)::int::float8 as converted,
        coalesce(sum(o.amount), 0)::float8 as revenue
    from units as u
    left join orders as o
        on o.customer_id = u.unit_id and o.ordered_at >= u.first_exposed_at
    group by u.experiment_key, u.variant, u.unit_id
),

per_variant as (
    select
        m.experiment_key,
        m.variant,
        count(*) as units,
        sum(m.converted)::bigint as conversions,
        sum(m.revenue) as revenue,
        ab_stats(m.converted) as conversion_stats,
        ab_stats(m.revenue) as revenue_stats,
        -- The control is the registry's first variant, or 'control' for unregistered experiments.
        m.variant = coalesce(max(r.variants[1]), 'control') as is_control,
        -- The split weight, for the SRM check: the registry's, or equal for unregistered experiments.
        max(r.weights[array_position(r.variants, m.variant)]) as weight
    from unit_metrics as m
    left join registry as r on r.key = m.experiment_key
    group by m.experiment_key, m.variant
),

with_control as (
    select
        v.*,
        c.conversion_stats as control_conversion,
        c.revenue_stats as control_revenue,
        c.units as control_units,
        case when count(*) over experiment >= 2 then ab_srm(
            array_agg(v.units) over experiment,
            array_agg(coalesce(v.weight, 1.0)) over experiment
        ) end as srm_p_value,
        row_number() over experiment as position
    from per_variant as v
    left join per_variant as c on c.experiment_key = v.experiment_key and c.is_control
    window experiment as (
        partition by v.experiment_key order by v.variant
        rows between unbounded preceding and unbounded following
    )
),

compared as (
    select
        *,
        case when not is_control and units >= 2 and control_units >= 2
            then ab_compare(control_conversion, conversion_stats, 0.05, 'ztest') end as conversion_test,
        case when not is_control and units >= 2 and control_units >= 2
            then ab_compare(control_revenue, revenue_stats, 0.05, 'welch') end as revenue_test
    from with_control
),

final as (
    select
        experiment_key,
        variant,
        is_control,
        units,
        conversions,
        conversions::float8 / units as conversion_rate,
        (conversion_test).lift as conversion_lift,
        (conversion_test).ci_low as conversion_lift_ci_low,
        (conversion_test).ci_high as conversion_lift_ci_high,
        (conversion_test).relative_lift as conversion_relative_lift,
        (conversion_test).p_value as conversion_p_value,
        (ab_p_adjust_holm(array_agg((conversion_test).p_value) over experiment))[position] as conversion_p_value_holm,
        (conversion_test).prob_beat_control as conversion_prob_beat_control,
        revenue / units as revenue_per_unit,
        (revenue_test).lift as revenue_lift,
        (revenue_test).ci_low as revenue_lift_ci_low,
        (revenue_test).ci_high as revenue_lift_ci_high,
        (revenue_test).p_value as revenue_p_value,
        (ab_p_adjust_holm(array_agg((revenue_test).p_value) over experiment))[position] as revenue_p_value_holm,
        srm_p_value,
        srm_p_value < 0.001 as srm_flag
    from compared
    window experiment as (
        partition by experiment_key order by variant
        rows between unbounded preceding and unbounded following
    )
)

select * from final
