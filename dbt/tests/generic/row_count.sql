{#- The model's row count lies in [min_rows, max_rows] (leave a bound out for a one-sided check):
    catches a join that fans out or a filter that drops everything. -#}
{% test row_count(model, min_rows=none, max_rows=none) %}
{%- if min_rows is none and max_rows is none -%}
  {{ exceptions.raise_compiler_error("test row_count on " ~ model ~ ": give min_rows, max_rows or both") }}
{%- endif %}
select count(*) as row_count
from {{ model }}
having false
{%- if min_rows is not none %} or count(*) < {{ min_rows }}{% endif %}
{%- if max_rows is not none %} or count(*) > {{ max_rows }}{% endif %}
{% endtest %}
