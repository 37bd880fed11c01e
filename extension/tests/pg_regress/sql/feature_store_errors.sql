-- Feature store errors: every statement below fails. First the messages with their detail and
-- hint, then the same statements again showing only their SQLSTATE.
create table events (card text, ts timestamptz not null, day date, amount float8);
\set SHOW_CONTEXT never
select feature_define('Bad Name', 'card', 'events', 'card', 'ts', 'count', '1 hour');
select feature_define('f', 'card', 'events', 'card', 'ts', 'median', '1 hour', value_sql => 'amount');
select feature_define('f', 'card', 'events', 'card', 'ts', 'sum', '1 hour');
select feature_define('f', 'card', 'events', 'card', 'ts', 'count', '1 month');
select feature_define('f', 'card', 'events', 'card', 'ts', 'count', '-1 hour');
select feature_define('f', 'card', 'events', 'card', 'ts', 'decayed_sum', '1 day', value_sql => 'amount');
select feature_define('f', 'card', 'events', 'nope', 'ts', 'count', '1 hour');
select feature_define('f', 'card', 'events', 'card', 'day', 'count', '1 hour');
select feature_define('f', 'card', 'events', 'card', 'ts', 'sum', '1 hour', value_sql => 'no_such_column');
select feature_define('f', 'card', 'events', 'card', 'ts', 'count', '1 hour');
select feature_get('nobody', 'x');
select feature_get('card', 'x', array['nope']);
select feature_refresh('nobody');
select feature_drop('nope');
select feature_training_set_sql('select 1 as card');
select feature_training_set_sql('select 1 as card, 1 as as_of');
select feature_training_set_sql('select 1 as x, now() as as_of');
select feature_training_set_sql('select 1 as card, now() as as_of', features => array['nope']);
select feature_training_set_sql('select 1 as card, now() as as_of', entities => array['card:nope']);
select feature_training_set_sql('select 1 as card, now() as as_of', ttl => '1 month');
select feature_training_set_sql('select from nowhere');
\set VERBOSITY sqlstate
select feature_define('Bad Name', 'card', 'events', 'card', 'ts', 'count', '1 hour');
select feature_define('f', 'card', 'events', 'card', 'ts', 'median', '1 hour', value_sql => 'amount');
select feature_define('f', 'card', 'events', 'card', 'ts', 'sum', '1 hour');
select feature_define('f', 'card', 'events', 'card', 'ts', 'count', '1 month');
select feature_define('f', 'card', 'events', 'card', 'ts', 'count', '-1 hour');
select feature_define('f', 'card', 'events', 'card', 'ts', 'decayed_sum', '1 day', value_sql => 'amount');
select feature_define('f', 'card', 'events', 'nope', 'ts', 'count', '1 hour');
select feature_define('f', 'card', 'events', 'card', 'day', 'count', '1 hour');
select feature_define('f', 'card', 'events', 'card', 'ts', 'sum', '1 hour', value_sql => 'no_such_column');
select feature_define('f', 'card', 'events', 'card', 'ts', 'count', '1 hour');
select feature_get('nobody', 'x');
select feature_get('card', 'x', array['nope']);
select feature_refresh('nobody');
select feature_drop('nope');
select feature_training_set_sql('select 1 as card');
select feature_training_set_sql('select 1 as card, 1 as as_of');
select feature_training_set_sql('select 1 as x, now() as as_of');
select feature_training_set_sql('select 1 as card, now() as as_of', features => array['nope']);
select feature_training_set_sql('select 1 as card, now() as as_of', entities => array['card:nope']);
select feature_training_set_sql('select 1 as card, now() as as_of', ttl => '1 month');
select feature_training_set_sql('select from nowhere');
drop table events;
delete from pulse.features;
