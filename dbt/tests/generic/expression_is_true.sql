{#- A boolean SQL expression over the model's columns holds on every row (a NULL result fails:
    say what NULL means in the expression). The failing rows are returned. -#}
{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{% endtest %}
