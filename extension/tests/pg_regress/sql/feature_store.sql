-- Feature registry, online store and point-in-time training sets on a small events table.
begin;
set local timezone = 'UTC';
create table events (card text, customer text, ts timestamptz not null, amount float8);
select feature_define('card_n_1h', 'card', 'events', 'card', 'ts', 'count', '1 hour', description => 'events of the card in 1 hour');
select feature_define('card_sum_1h', 'card', 'events', 'card', 'ts', 'sum', '1 hour', value_sql => 'amount');
select feature_define('card_big_1d', 'card', 'events', 'card', 'ts', 'count', '1 day', filter_sql => 'amount > 100');
select feature_define('card_decay_1d', 'card', 'events', 'card', 'ts', 'decayed_sum', '1 day', value_sql => 'amount', half_life => '1 hour');
select feature_define('customer_mean_1d', 'customer', 'events', 'customer', 'ts', 'mean', '1 day', value_sql => 'amount');
select name, entity_type, aggregate, window_size, half_life from pulse.features order by name;
-- feature_define made the (entity, time) indexes and one refresh trigger
select count(*) as triggers from pg_trigger where tgrelid = 'events'::regclass and tgname = 'pulse_online_features';
select count(*) as indexes from pg_indexes where tablename = 'events';

-- each insert statement refreshes the entities it touched, as of their latest event
insert into events values
  ('k1', 'c1', '2026-01-01 10:00', 50), ('k1', 'c1', '2026-01-01 10:30', 200), ('k2', 'c1', '2026-01-01 10:45', 10);
insert into events values ('k1', 'c2', '2026-01-01 11:15', 5);
select entity_type, entity_id, as_of, features from pulse.online_features order by 1, 2;
-- a late event (older than as_of) is counted; as_of stays the latest event
insert into events values ('k1', 'c3', '2026-01-01 11:00', 1);
select feature_get('card', 'k1');
select feature_get('card', 'k1', array['card_n_1h']);
-- windows are (as_of - window, as_of]: an event exactly one window before as_of is out
insert into events values ('k3', 'c9', '2026-01-01 10:00', 1), ('k3', 'c9', '2026-01-01 11:00', 2);
select feature_get('card', 'k3', array['card_n_1h', 'card_sum_1h']);
-- an entity without events gets the empty values
select feature_get('card', 'nobody');

-- the training set: each label's features as of its own time, never later events
select feature_training_set_sql('select 1 as card, now() as as_of') like 'with _labels%' as builds;
select feature_training_set($$select * from (values ('k1', 'c1', '2026-01-01 10:30'::timestamptz, true),
                                                   ('k1', 'c2', '2026-01-01 10:29:59'::timestamptz, false),
                                                   ('k1', 'c1', '2026-01-01 11:20'::timestamptz, false),
                                                   (null, 'c1', '2026-01-01 11:20'::timestamptz, false),
                                                   ('k3', 'c9', '2026-01-01 11:00'::timestamptz, false)) l(card, customer, as_of, fraud)
                              -- a trailing comment in the label query is fine$$,
                            'ts1');
select card, customer, as_of, fraud, card_n_1h, card_sum_1h, card_big_1d, round(card_decay_1d::numeric, 6) as card_decay_1d,
       customer_mean_1d from ts1 order by as_of, card nulls last;
-- the same with a TTL of 10 minutes: stale entities get NULL, fresh ones keep their values
select feature_training_set($$select 'k2' as card, t as as_of from unnest(array['2026-01-01 10:50', '2026-01-01 11:00']::timestamptz[]) t$$,
                            'ts2', ttl => '10 minutes');
select * from ts2 order by as_of;

select feature_drop('card_big_1d');
select feature_get('card', 'k1') ? 'card_big_1d' as still_there;
rollback;
