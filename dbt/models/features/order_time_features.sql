{% set tz = "'" ~ (var('pulse_time_zone') | replace("'", "''")) ~ "'" -%}
-- Cyclical time encodings of each order in the shop's time zone (var pulse_time_zone), computed
-- by the extension's feature_* functions so training and serving encode time the same way.

with orders as (
    select * from {{ ref('stg_raw__orders') }}
),

renamed as (
    select
        order_id,
        ordered_at,
        extract(hour from ordered_at at time zone {{ tz }})::integer as hour_of_day,
        extract(isodow from ordered_at at time zone {{ tz }})::integer as day_of_week,
        feature_hour_sin(ordered_at, {{ tz }}) as hour_sin,
        feature_hour_cos(ordered_at, {{ tz }}) as hour_cos,
        feature_weekday_sin(ordered_at, {{ tz }}) as weekday_sin,
        feature_weekday_cos(ordered_at, {{ tz }}) as weekday_cos,
        extract(isodow from ordered_at at time zone {{ tz }}) in (6, 7) as is_weekend
    from orders
),

final as (
    select * from renamed
)

select * from final
