-- Online customer features (pulse.online_features, defined in pulse.features) next to the
-- customer's CDC attributes. Counts and sums of a customer without orders are 0, means and
-- standard deviations null, as feature_get() returns them.
with customers as (
    select * from {{ ref('stg_raw__customers') }}
),

online as (
    select * from {{ ref('stg_pulse__online_features') }}
    where entity_type = 'customer'
),

renamed as (
    select
        customers.customer_id,
        customers.segment,
        customers.country,
        customers.email_domain,
        customers.created_at as customer_created_at,
        coalesce((online.features ->> 'customer_orders_30d')::float8, 0) as customer_orders_30d,
        (online.features ->> 'customer_amount_mean_30d')::float8 as customer_amount_mean_30d,
        (online.features ->> 'customer_amount_stddev_30d')::float8 as customer_amount_stddev_30d,
        coalesce((online.features ->> 'customer_spend_decayed_30d')::float8, 0) as customer_spend_decayed_30d,
        (online.features ->> 'customer_amount_ewma_30d')::float8 as customer_amount_ewma_30d,
        coalesce((online.features ->> 'customer_cross_border_30d')::float8, 0) as customer_cross_border_30d,
        online.as_of,
        online.updated_at as features_updated_at
    from customers
    left join online on online.entity_id = customers.customer_id
),

final as (
    select * from renamed
)

select * from final
