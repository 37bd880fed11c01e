{#- An amount in EUR at the fixed rates of seeds/fx_rates.csv, rounded to cents per order, so
    every GMV sum is exact cents and the grains agree to the cent. -#}
{% macro to_eur(amount, eur_per_unit) -%}
round({{ amount }} * {{ eur_per_unit }}, 2)
{%- endmacro %}
