{#- The newest value of a timestamp column is no older than the interval (e.g. '1 day'): a mart
    that silently stopped receiving rows fails. An empty model fails too. -#}
{% test recency(model, column_name, interval) %}
select max({{ column_name }}) as newest
from {{ model }}
having max({{ column_name }}) is null
    or max({{ column_name }}) < now() - interval '{{ interval }}'
{% endtest %}
