-- Live customers only: CDC tombstones (_deleted) are the mirror's bookkeeping, not customers.
with source as (
    select * from {{ source('raw', 'customers') }}
),

renamed as (
    select
        customer_id,
        email,
        split_part(email, '@', 2) as email_domain,
        country,
        segment,
        created_at,
        _source_ts as changed_at,
        _updated_at as mirrored_at
    from source
    where not _deleted
),

final as (
    select * from renamed
)

select * from final
