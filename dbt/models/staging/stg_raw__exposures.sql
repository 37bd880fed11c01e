with source as (
    select * from {{ source('raw', 'exposures') }}
),

renamed as (
    select
        event_id,
        experiment_key,
        variant,
        unit_id,
        occurred_at as exposed_at,
        source as exposure_source,
        _ingested_at as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
