{#- Incremental models find what changed by ingest time (_ingested_at), not event time, so a late
    event still reaches the minute, session or order it belongs to. The watermark is the newest
    ingest time the model has seen, less a margin: a batch whose transaction began earlier but
    committed after the last run has an older _ingested_at. Rows inside the margin are reprocessed,
    which is harmless because every incremental model recomputes whole keys. -#}
{% macro ingest_watermark(column='last_ingested_at') -%}
(select coalesce(max({{ column }}), '-infinity'::timestamptz) - interval '{{ var("pulse_ingest_margin") }}' from {{ this }})
{%- endmacro %}
