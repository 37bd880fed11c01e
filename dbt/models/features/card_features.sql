-- Online card features (pulse.online_features, defined in pulse.features) plus the card's device
-- mix over its whole order history. A card is any fingerprint the store or the orders know.
with orders as (
    select * from {{ ref('stg_raw__orders') }}
    where card_fingerprint is not null
),

online as (
    select * from {{ ref('stg_pulse__online_features') }}
    where entity_type = 'card'
),

device_mix as (
    select
        card_fingerprint,
        count(*) as orders_total,
        count(distinct device) as devices_distinct,
        avg(case when device = 'mobile' then 1.0 else 0.0 end) filter (where device is not null) as mobile_order_share,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from orders
    group by card_fingerprint
),

renamed as (
    select
        coalesce(online.entity_id, device_mix.card_fingerprint) as card_fingerprint,
        coalesce((online.features ->> 'card_orders_10m')::float8, 0) as card_orders_10m,
        coalesce((online.features ->> 'card_orders_24h')::float8, 0) as card_orders_24h,
        coalesce((online.features ->> 'card_amount_24h')::float8, 0) as card_amount_24h,
        coalesce((online.features ->> 'card_customers_24h')::float8, 0) as card_customers_24h,
        coalesce((online.features ->> 'card_ip_countries_24h')::float8, 0) as card_ip_countries_24h,
        coalesce((online.features ->> 'card_declines_24h')::float8, 0) as card_declines_24h,
        coalesce((online.features ->> 'card_chargebacks_90d')::float8, 0) as card_chargebacks_90d,
        coalesce(device_mix.orders_total, 0) as orders_total,
        coalesce(device_mix.devices_distinct, 0) as devices_distinct,
        device_mix.mobile_order_share::float8 as mobile_order_share,
        device_mix.first_ordered_at,
        device_mix.last_ordered_at,
        online.as_of,
        online.updated_at as features_updated_at
    from online
    full join device_mix on device_mix.card_fingerprint = online.entity_id
),

final as (
    select * from renamed
)

select * from final
