{#- Incremental sessionisation (analytics.sessions): the visitors with newly landed events or
    orders, and for each the time its sessions are rebuilt from. That is the start of the stored
    session a new event continues (it ends within the inactivity gap before the event), else the
    first new event itself: either way a true session start, so the sessions before it stand.
    A pre-hook keeps the points in a temporary table for the model's transaction and deletes the
    sessions they replace first: a late event that bridges two sessions leaves one, and its
    second session's key would otherwise stay behind. Activity older than raw.clickstream's
    retention is left out: the events around it are gone, and rebuilding would lose the sessions
    the mart keeps. -#}
{% macro sessions_restart_hook() %}
{%- if is_incremental() -%}
create temporary table pulse_session_restarts on commit drop as
with new_activity as (
    select coalesce(customer_id, 'anon:' || session_id) as visitor_id, min(occurred_at) as first_new_at
    from {{ ref('stg_raw__clickstream') }}
    where ingested_at > {{ ingest_watermark() }}
        and occurred_at >= {{ raw_horizon('raw.clickstream') }}
    group by 1
    union all
    select customer_id, min(ordered_at)
    from {{ ref('stg_raw__orders') }}
    where ingested_at > {{ ingest_watermark() }}
        and ordered_at >= {{ raw_horizon('raw.clickstream') }}
    group by 1
),

visitors as (
    select visitor_id, min(first_new_at) as first_new_at
    from new_activity
    group by 1
)

select
    v.visitor_id,
    least(v.first_new_at, min(s.session_start)) as restart_at
from visitors as v
left join {{ this }} as s
    on s.visitor_id = v.visitor_id
    and s.session_start <= v.first_new_at
    and s.session_end >= v.first_new_at - interval '{{ var("pulse_session_gap") }}'
group by v.visitor_id, v.first_new_at;
analyze pulse_session_restarts;
delete from {{ this }} as s
using pulse_session_restarts as r
where s.visitor_id = r.visitor_id and s.session_start >= r.restart_at
{%- else -%}
select 1
{%- endif -%}
{% endmacro %}
