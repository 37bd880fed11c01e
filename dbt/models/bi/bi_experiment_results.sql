-- Experiment results per variant against the control: conversion (z-test) and revenue per unit
-- (Welch) with the lift's 95 % interval, Holm-adjusted p-values and the sample-ratio check.
{{ config(alias='experiment_results') }}

select
    experiment_key as experiment,
    variant,
    is_control,
    units,
    conversion_rate,
    conversion_lift,
    conversion_lift_ci_low,
    conversion_lift_ci_high,
    conversion_p_value_holm,
    revenue_per_unit,
    revenue_lift,
    revenue_lift_ci_low,
    revenue_lift_ci_high,
    revenue_p_value_holm,
    srm_p_value,
    srm_flag
from {{ ref('experiment_results') }}
