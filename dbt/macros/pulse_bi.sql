{#- The read-only BI role. A cluster-wide role, so created once and left alone afterwards. -#}
{% macro pulse_bi_role() %}
do $$
begin
    if not exists (select from pg_roles where rolname = 'pulse_bi') then
        create role pulse_bi login;
    end if;
    -- Dashboards are for people: a runaway query or a connection storm must not starve the shop.
    alter role pulse_bi connection limit 20;
    alter role pulse_bi set statement_timeout = '60s';
end
$$
{% endmacro %}

{#- pulse_bi reads the bi views (granted per view by the grants config) and needs usage on their
    schema; nothing else is granted. The schema may not exist yet when a run selects no bi model. -#}
{% macro pulse_bi_schema_usage() %}
do $$
begin
    if exists (select from pg_namespace where nspname = 'bi') then
        grant usage on schema bi to pulse_bi;
    end if;
end
$$
{% endmacro %}
