{#- Incremental models find what changed by ingest time (_ingested_at), not event time, so a late
    event still reaches the minute, session or order it belongs to. The watermark is the newest
    ingest time the model has seen, less a margin: a batch whose transaction began earlier but
    committed after the last run has an older _ingested_at. Rows inside the margin are reprocessed,
    which is harmless because every incremental model recomputes whole keys. -#}
{% macro ingest_watermark(column='last_ingested_at') -%}
(select coalesce(max({{ column }}), '-infinity'::timestamptz) - interval '{{ var("pulse_ingest_margin") }}' from {{ this }})
{%- endmacro %}

{#- The start of the oldest UTC day a raw table surely still holds under raw.retention_policies
    (raw.run_maintenance() drops a day once it is keep_days old). Incremental models ignore newly
    landed events older than this: raw no longer has the days around them to rebuild from, and the
    next maintenance drops them anyway. -#}
{% macro raw_horizon(table) -%}
coalesce(
    (select (date_trunc('day', now() at time zone 'UTC') - make_interval(days => keep_days - 1)) at time zone 'UTC'
     from raw.retention_policies where table_name = '{{ table }}'::regclass),
    '-infinity'::timestamptz
)
{%- endmacro %}
