with source as (
    select * from {{ source('raw', 'clickstream') }}
),

renamed as (
    select
        event_id,
        event_type,
        session_id,
        customer_id,
        occurred_at,
        page,
        product_id,
        query as search_query,
        quantity,
        device,
        ip_country,
        _ingested_at as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
