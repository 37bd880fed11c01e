with source as (
    select * from {{ source('pulse', 'models') }}
),

renamed as (
    select
        name as model_name,
        version as model_version,
        algorithm,
        threshold,
        (metrics ->> 'roc_auc')::float8 as holdout_roc_auc,
        training_rows,
        created_at as trained_at
    from source
),

final as (
    select * from renamed
)

select * from final
