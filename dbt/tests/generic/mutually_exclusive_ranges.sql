{#- Within each partition, the closed ranges [lower, upper] do not overlap and each is well formed
    (lower <= upper). Returns the rows that overlap the next range or are ill formed. -#}
{% test mutually_exclusive_ranges(model, lower_bound_column, upper_bound_column, partition_by=none) %}
with ranges as (
    select
        {{ lower_bound_column }} as lower_bound,
        {{ upper_bound_column }} as upper_bound,
        lead({{ lower_bound_column }}) over (
            {% if partition_by %}partition by {{ partition_by }}{% endif %}
            order by {{ lower_bound_column }}, {{ upper_bound_column }}
        ) as next_lower_bound
    from {{ model }}
)
select *
from ranges
where lower_bound > upper_bound
   or upper_bound >= next_lower_bound
{% endtest %}
