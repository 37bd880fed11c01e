with source as (
    select * from {{ source('raw', 'cdc_changes') }}
),

renamed as (
    select
        entity,
        key as entity_key,
        op,
        case op
            when 'c' then 'create'
            when 'r' then 'snapshot'
            when 'u' then 'update'
            when 'd' then 'delete'
            when 't' then 'truncate'
        end as operation,
        lsn,
        tx_id,
        source_ts as changed_at,
        before,
        after,
        _ingested_at as ingested_at
    from source
),

final as (
    select * from renamed
)

select * from final
