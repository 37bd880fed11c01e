-- Live products only: CDC tombstones (_deleted) are the mirror's bookkeeping, not catalog entries.
with source as (
    select * from {{ source('raw', 'products') }}
),

renamed as (
    select
        product_id,
        name as product_name,
        category,
        price,
        currency,
        active as is_active,
        _source_ts as changed_at,
        _updated_at as mirrored_at
    from source
    where not _deleted
),

final as (
    select * from renamed
)

select * from final
