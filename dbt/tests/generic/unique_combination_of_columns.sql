{#- The combination of columns is unique (as dbt_utils.unique_combination_of_columns; written here because dbt deps cannot reach the hub offline). -#}
{% test unique_combination_of_columns(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
