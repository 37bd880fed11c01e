-- Every card, customer and product feature defined in pulse.features is a column of its feature
-- model, so a feature added to the registry cannot be silently left out of the tables.
with registry as (
    select name, entity_type from {{ source('pulse', 'features') }}
),

models (entity_type, table_schema, table_name) as (
    values
        ('card', '{{ ref('card_features').schema }}', '{{ ref('card_features').identifier }}'),
        ('customer', '{{ ref('customer_features').schema }}', '{{ ref('customer_features').identifier }}'),
        ('product', '{{ ref('product_features').schema }}', '{{ ref('product_features').identifier }}')
),

model_columns as (
    select models.entity_type, columns.column_name
    from models
    join information_schema.columns as columns
        on columns.table_schema = models.table_schema
        and columns.table_name = models.table_name
)

select registry.entity_type, registry.name as missing_column
from registry
join models on models.entity_type = registry.entity_type
left join model_columns
    on model_columns.entity_type = registry.entity_type
    and model_columns.column_name = registry.name
where model_columns.column_name is null
