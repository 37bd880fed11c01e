{#- Every non-null value lies in [min_value, max_value]; leave a bound out for a one-sided range.
    Floating-point encodings (sin/cos) may pass a tolerance: the bounds widen by it. -#}
{% test between(model, column_name, min_value=none, max_value=none, tolerance=0) %}
{%- if min_value is none and max_value is none -%}
  {{ exceptions.raise_compiler_error("test between on " ~ column_name ~ ": give min_value, max_value or both") }}
{%- endif %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and (
    false
    {%- if min_value is not none %}
    or {{ column_name }} < {{ min_value }} - {{ tolerance }}
    {%- endif %}
    {%- if max_value is not none %}
    or {{ column_name }} > {{ max_value }} + {{ tolerance }}
    {%- endif %}
  )
{% endtest %}
