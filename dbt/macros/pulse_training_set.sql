{#-
  pulse_training_set(label_sql, entities=none, features=none, ttl=none, time_column='as_of')

  The point-in-time correct training-set query for label_sql, as built by the pulse extension's
  feature_training_set_sql(): every label row plus each feature as of the row's time column. The
  features are the definitions in pulse.features (sql/features.sql); this macro only asks the
  extension for the query, it never spells a feature out itself.

  - label_sql: a query with a timestamptz column named time_column and, for each entity type,
    a column named after it (card, customer, ...) holding the entity ids;
  - entities: list of 'entity_type' or 'entity_type:label_column' (default: every label column
    named after an entity type);
  - features: list of feature names (default: all features of the mapped entity types);
  - ttl: interval text, e.g. '7 days': a feature is null when its entity had no event that long.

  The query is built when the model runs (run_query needs a connection), from the registry as it
  is then; at parse time the macro renders nothing. Refs inside label_sql set the model's parents.
-#}
{% macro pulse_training_set(label_sql, entities=none, features=none, ttl=none, time_column='as_of') -%}
  {%- if not execute -%}
    {{- return('') -}}
  {%- endif -%}
  {%- set query -%}
    select feature_training_set_sql(
      {{ pulse_sql_literal(label_sql) }},
      entities => {{ pulse_text_array(entities) }},
      features => {{ pulse_text_array(features) }},
      time_column => {{ pulse_sql_literal(time_column) }},
      ttl => {{ 'null' if ttl is none else pulse_sql_literal(ttl) ~ '::interval' }}
    )
  {%- endset -%}
  {%- set result = run_query(query) -%}
  {%- set sql = result.columns[0].values()[0] -%}
  {%- if sql is none -%}
    {{ exceptions.raise_compiler_error("feature_training_set_sql returned no query for model " ~ model.name) }}
  {%- endif -%}
  {{- return(sql) -}}
{%- endmacro %}

{#- A string as a standard SQL literal: single quotes doubled. -#}
{% macro pulse_sql_literal(value) -%}
  '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- A list of strings as text[] (null for none). -#}
{% macro pulse_text_array(values) -%}
  {%- if values is none -%}
    null::text[]
  {%- elif values is string -%}
    {{ exceptions.raise_compiler_error("pulse_training_set: pass a list, not a string: " ~ values) }}
  {%- else -%}
    array[
    {%- for v in values -%}
      {{ pulse_sql_literal(v) }}{{ ', ' if not loop.last }}
    {%- endfor -%}
    ]::text[]
  {%- endif -%}
{%- endmacro %}
