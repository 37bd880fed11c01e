-- Experiment results per variant against the control, computed in the database by the pulse
-- extension: ab_stats sufficient statistics per variant, ab_compare for the tests, ab_srm for the
-- sample-ratio check and ab_p_adjust_holm across the treatments of an experiment.
-- Units: first exposure per unit; units seen in more than one variant are left out.
-- Metrics per unit, from orders placed at or after the unit's first exposure (customers are
-- units; anonymous visitors never order): converted (0/1, two-proportion z-test) and revenue
-- (Welch's t-test).
with registry as (
    select * from {{ source('pulse', 'experiments') }}
),

unit_metrics as (
    select
        experiment_key,
        variant,
        unit_id,
        converted::int::float8 as converted,
        revenue::float8 as revenue
    from {{ ref('experiment_units') }}
    where variants_seen = 1
),

-- The variants of each experiment: the registry's, with their weights (so a variant nobody was
-- exposed to still counts in the SRM check), or the ones seen, with equal weights, for
-- experiments not in the registry. Exposures of variants the registry does not list are left out.
arms as (
    select r.key as experiment_key, a.variant, a.weight
    from registry as r
    cross join lateral unnest(r.variants, r.weights) as a (variant, weight)
    union all
    select distinct m.experiment_key, m.variant, 1.0::float8 as weight
    from unit_metrics as m
    where not exists (select from registry as r where r.key = m.experiment_key)
),

per_variant as (
    select
        a.experiment_key,
        a.variant,
        a.weight,
        count(m.unit_id) as units,
        coalesce(sum(m.converted), 0)::bigint as conversions,
        coalesce(sum(m.revenue), 0) as revenue,
        ab_stats(m.converted) as conversion_stats,
        ab_stats(m.revenue) as revenue_stats,
        -- The control is the registry's first variant, or 'control' for unregistered experiments.
        a.variant = coalesce(
            (select r.variants[1] from registry as r where r.key = a.experiment_key), 'control'
        ) as is_control
    from arms as a
    left join unit_metrics as m on m.experiment_key = a.experiment_key and m.variant = a.variant
    group by a.experiment_key, a.variant, a.weight
),

with_control as (
    select
        v.*,
        c.conversion_stats as control_conversion,
        c.revenue_stats as control_revenue,
        c.units as control_units,
        -- Variants with weight 0 (ramped down) are outside the SRM check.
        case when count(*) filter (where v.weight > 0) over experiment >= 2
                  and sum(v.units) filter (where v.weight > 0) over experiment > 0
            then ab_srm(
                array_agg(v.units) filter (where v.weight > 0) over experiment,
                array_agg(v.weight) filter (where v.weight > 0) over experiment
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
        conversions::float8 / nullif(units, 0) as conversion_rate,
        (conversion_test).lift as conversion_lift,
        (conversion_test).ci_low as conversion_lift_ci_low,
        (conversion_test).ci_high as conversion_lift_ci_high,
        (conversion_test).relative_lift as conversion_relative_lift,
        (conversion_test).p_value as conversion_p_value,
        (ab_p_adjust_holm(array_agg((conversion_test).p_value) over experiment))[position] as conversion_p_value_holm,
        (conversion_test).prob_beat_control as conversion_prob_beat_control,
        revenue / nullif(units, 0) as revenue_per_unit,
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
