-- Every storefront event is in exactly one session. raw.clickstream drops partitions after 30 days
-- (raw.retention_policies) and keeps their counts in raw.clickstream_1m, while the incremental
-- sessions keep their history, or not after a full refresh: so the sessions' events lie between
-- the events raw still holds and those plus the rolled-up ones. Double counting exceeds the upper
-- bound; a lost event falls under the lower.
with counted as (
    select coalesce(sum(events), 0) as events from {{ ref('sessions') }}
),

held as (
    select count(*) as events from {{ source('raw', 'clickstream') }}
),

rolled_up as (
    select coalesce(sum(events), 0) as events from {{ source('raw', 'clickstream_1m') }}
)

select counted.events as session_events, held.events as held_events, rolled_up.events as rolled_up_events
from counted
cross join held
cross join rolled_up
where counted.events < held.events
   or counted.events > held.events + rolled_up.events
