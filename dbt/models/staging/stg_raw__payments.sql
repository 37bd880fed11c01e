with source as (
    select * from {{ source('raw', 'payments') }}
),

renamed as (
    select
        payment_id,
        event_type,
        order_id,
        occurred_at,
        amount,
        currency,
        card_fingerprint,
        decline_reason,
        chargeback_reason,
        event_type = 'chargeback' as is_chargeback,
        _ingested_at as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
