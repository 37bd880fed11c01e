-- Views, add-to-carts and units sold per product.
{{ config(alias='product_performance') }}

select
    product_id,
    product_name,
    category,
    views,
    add_to_carts,
    units_sold,
    view_to_cart_rate
from {{ ref('product_performance') }}
