{#- The model is not empty (a feature table that builds from nothing passes every other test). -#}
{% test has_rows(model) %}
select 1 as empty
where not exists (select 1 from {{ model }})
{% endtest %}
