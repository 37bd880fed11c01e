with source as (
    select * from {{ source('raw', 'inventory') }}
),

renamed as (
    select
        event_id,
        product_id,
        occurred_at,
        delta as stock_delta,
        reason,
        stock_after,
        _ingested_at as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
