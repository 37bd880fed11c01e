with source as (
    select * from {{ source('pulse', 'online_features') }}
),

renamed as (
    select
        entity_type,
        entity_id,
        features,
        as_of,
        updated_at
    from source
),

final as (
    select * from renamed
)

select * from final
