-- Online product demand features (pulse.online_features, defined in pulse.features) next to the
-- product's catalog attributes. A product nobody looked at has 0 views, carts and sessions.
with products as (
    select * from {{ ref('stg_raw__products') }}
),

online as (
    select * from {{ ref('stg_pulse__online_features') }}
    where entity_type = 'product'
),

renamed as (
    select
        products.product_id,
        products.product_name,
        products.category,
        products.price,
        products.currency,
        products.is_active,
        coalesce((online.features ->> 'product_views_1h')::float8, 0) as product_views_1h,
        coalesce((online.features ->> 'product_carts_1h')::float8, 0) as product_carts_1h,
        coalesce((online.features ->> 'product_sessions_1h')::float8, 0) as product_sessions_1h,
        online.as_of,
        online.updated_at as features_updated_at
    from products
    left join online on online.entity_id = products.product_id
),

final as (
    select * from renamed
)

select * from final
