with source as (
    select * from {{ source('raw', 'orders') }}
),

renamed as (
    select
        order_id,
        customer_id,
        created_at as ordered_at,
        (created_at at time zone 'UTC')::date as order_date,
        amount,
        currency,
        items as item_count,
        payment_method,
        card_fingerprint,
        ip_country,
        shipping_country,
        billing_country,
        device,
        email_domain,
        _ingested_at as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
