with source as (
    select * from {{ source('pulse', 'decisions') }}
),

renamed as (
    select
        decided_at,
        model as model_name,
        version as model_version,
        route,
        route <> 'shadow' as is_served,
        unit_key,
        entity_key,
        request_id,
        score,
        error
    from source
),

final as (
    select * from renamed
)

select * from final
