-- The storefront funnel per day: session, product view, add to cart, checkout, order (strict).
{{ config(alias='conversion_funnel') }}

select
    day,
    step_number,
    step,
    sessions,
    rate_from_start,
    rate_from_previous
from {{ ref('conversion_funnel') }}
