-- Every storefront event is in exactly one session, within what the incremental sessions promise.
-- raw.clickstream drops partitions after 30 days (raw.retention_policies) and keeps their counts in
-- raw.clickstream_1m; the sessions keep their history, and leave out newly landed events older than
-- the retention horizon (macros/sessions.sql). So the sessions' events are at least the held events
-- since the horizon, and at most the held events plus the rolled-up ones: double counting exceeds
-- the upper bound, a lost recent event falls under the lower.
with counted as (
    select coalesce(sum(events), 0) as events from {{ ref('sessions') }}
),

held as (
    select
        count(*) as events,
        count(*) filter (where occurred_at >= {{ raw_horizon('raw.clickstream') }}) as recent_events
    from {{ source('raw', 'clickstream') }}
),

rolled_up as (
    select coalesce(sum(events), 0) as events from {{ source('raw', 'clickstream_1m') }}
)

select counted.events as session_events, held.recent_events, held.events as held_events,
       rolled_up.events as rolled_up_events
from counted
cross join held
cross join rolled_up
where counted.events < held.recent_events
   or counted.events > held.events + rolled_up.events
