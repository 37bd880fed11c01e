-- Each (sin, cos) pair is a point on the unit circle, and hour_sin/hour_cos agree with hour_of_day:
-- the encoded angle lies within the order's hour (between h/24 and (h+1)/24 of a turn).
with encoded as (
    select
        order_id,
        hour_of_day,
        hour_sin,
        hour_cos,
        weekday_sin,
        weekday_cos,
        -- angle as a fraction of a turn in [0, 1)
        (atan2(hour_sin, hour_cos) / (2 * pi()) + 1)::numeric % 1 as hour_turn
    from {{ ref('order_time_features') }}
)

select *
from encoded
where abs(hour_sin ^ 2 + hour_cos ^ 2 - 1) > 1e-9
   or abs(weekday_sin ^ 2 + weekday_cos ^ 2 - 1) > 1e-9
   or hour_turn < hour_of_day / 24.0 - 1e-9
   or hour_turn > (hour_of_day + 1) / 24.0 + 1e-9
