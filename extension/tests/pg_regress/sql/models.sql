-- Models: train in the database, register, deploy, route, score, explain, roll back.
-- 500 orders: fraud when the amount is high on a burner email domain (plus a little noise).
create table orders as
select 'o' || i as order_id, 'c' || (i % 50) as customer_id,
       timestamptz '2026-01-01' + i * interval '1 hour' as as_of,
       (i % 97) + (i % 7) * 0.5 as amount,
       case when i % 5 = 0 then 'burner.example' when i % 2 = 0 then 'gmail.com' else 'web.de' end as email_domain,
       nullif(i % 11, 0) as items,
       ((i % 97) > 60 and i % 5 = 0) or i % 43 = 0 as fraud
  from generate_series(1, 500) i;
-- time split (as_of), ids excluded
select train_model('fraud', 'select * from orders', 'fraud', params => '{"exclude": ["order_id", "customer_id"]}');
select name, version, algorithm, params, label, inputs, threshold, training_rows, test_rows,
       length(data_fingerprint) as fingerprint_length, created_by = current_user as by_me
  from pulse.models;
select jsonb_pretty(jsonb_build_object(
         'rows', metrics->'rows', 'positives', metrics->'positives', 'confusion', metrics->'confusion',
         'roc_auc', round((metrics->>'roc_auc')::numeric, 6), 'pr_auc', round((metrics->>'pr_auc')::numeric, 6),
         'log_loss', round((metrics->>'log_loss')::numeric, 6), 'f1', round((metrics->>'f1')::numeric, 6)))
  from pulse.models where name = 'fraud';
-- the export: enough to score outside (inputs with their preprocessing, coefficients)
select jsonb_object_keys(model_export('fraud', 1)) order by 1;
select jsonb_array_length(model_export('fraud', 1)->'linear'->'weights') as encoded_columns;
-- stratified split and the other algorithms
select train_model('fraud', 'select * from orders', 'fraud', 'decision_tree',
                   '{"exclude": ["order_id", "customer_id"], "split": "stratified", "max_depth": 4}', 0.3);
select train_model('fraud', 'select * from orders', 'fraud', 'random_forest',
                   '{"exclude": ["order_id", "customer_id"], "n_trees": 5, "seed": 7}');
select version, algorithm, params->>'split' as split, test_rows, metrics->>'positives' as hold_out_positives,
       jsonb_array_length(model_export('fraud', version)->'trees') as trees
  from pulse.models where name = 'fraud' order by version;
-- same data and seed, same model
select train_model('fraud', 'select * from orders', 'fraud', 'random_forest',
                   '{"exclude": ["order_id", "customer_id"], "n_trees": 5, "seed": 7}');
select count(distinct model) as distinct_models, count(distinct data_fingerprint) as fingerprints
  from pulse.models where version in (3, 4);
-- deploy: champion, then a canary and a shadow
select model_deploy('fraud', 1, 'champion');
select model_deploy('fraud', 3, 'canary', 0.5);
select model_deploy('fraud', 2, 'shadow');
select model, version, role, traffic from pulse.active_deployments order by version;
-- score: the unit key routes to champion or canary by ab_hash('pulse.canary:fraud', key) < traffic
select round(score('fraud', '{"amount": 90, "email_domain": "burner.example", "items": 2}'::jsonb)::numeric, 6) as champion_score;
select k as unit_key, ab_hash('pulse.canary:fraud', k) < 0.5 as to_canary,
       round(score('fraud', '{"amount": 90, "email_domain": "burner.example", "items": 2}'::jsonb, k)::numeric, 6) as score
  from unnest(array['c1', 'c2', 'c3', 'c4']) k;
-- NULL inputs are imputed with the training mean; unseen levels are all zeros
select round(score('fraud', '{"amount": null, "email_domain": "unseen.example", "items": null}'::jsonb)::numeric, 6) as imputed;
select score('fraud', null::jsonb) as null_features;
-- score_fraud takes an order's fields (here every input is a field of the order); literals
-- need a cast (jsonb and row forms of score and score_fraud exist)
select round(score_fraud('{"order_id": "o9", "customer_id": "c1", "amount": 95, "email_domain": "burner.example", "items": 1}'::jsonb)::numeric, 6);
select e - 'score' - 'contributions' as explain,
       round((e->>'score')::numeric, 6) as score,
       jsonb_path_query_array(e, '$.contributions[*].feature') as top_features
  from score_fraud_explain('{"order_id": "o9", "customer_id": "c1", "amount": 95, "email_domain": "burner.example", "items": 1}') e;
select round(score_fraud(o)::numeric, 6) as row_form from orders o where order_id = 'o95';
-- decisions are written at commit: served and shadow, paired by request
select route, version, unit_key, entity_key, features ? 'amount' as has_inputs
  from pulse.decisions where unit_key = 'c1' order by route, version, entity_key nulls first;
-- entity_key: score_fraud logs the order's order_id on the served row and on every shadow row
-- of the same call; score() knows no entity and logs NULL
select entity_key, route, count(*) as decisions
  from pulse.decisions where model = 'fraud' group by 1, 2 order by 1 nulls first, 2;
select count(*) as requests, count(*) filter (where keys = 1) as one_entity_key_per_request
  from (select count(distinct coalesce(entity_key, '')) as keys
          from pulse.decisions group by request_id, decided_at) r;
-- a numeric-only model takes float8[] in the order of its inputs
create table numbers as select amount, items, fraud from orders;
select train_model('numeric_only', 'select * from numbers', 'fraud', params => '{"split": "stratified"}');
select model_deploy('numeric_only', 1, 'champion') ->> 'champion' as champion;
select round(score('numeric_only', array[90, 2]::float8[])::numeric, 6) as by_array,
       round(score('numeric_only', '{"amount": 90, "items": 2}'::jsonb)::numeric, 6) as by_jsonb;
select count(*) as decisions, count(entity_key) as with_entity_key from pulse.decisions where model = 'numeric_only';
-- rollback walks back the champion history and never flip-flops
select model_deploy('fraud', 2, 'champion') ->> 'champion' as champion;
select model_deploy('fraud', 4, 'champion') ->> 'champion' as champion;
select model_rollback('fraud') ->> 'champion' as after_first_rollback;
select model_rollback('fraud') ->> 'champion' as after_second_rollback;
select model_undeploy('fraud', 3);
select version, role, action, rolled_back, retired_at is null as active
  from pulse.deployments where model = 'fraud' order by id;
-- evaluate a version on labelled rows
select e->>'rows' as rows, e->>'positives' as positives, round((e->>'roc_auc')::numeric, 6) as roc_auc
  from model_evaluate('fraud', 1, 'select * from orders where as_of >= ''2026-01-15''') e;
-- scoring is STABLE and PARALLEL SAFE; training and deploying are VOLATILE
select proname, provolatile, proparallel from pg_proc
 where proname in ('score', 'score_fraud', 'score_fraud_explain', 'train_model', 'model_deploy', 'model_rollback')
 order by 1, 2;
-- a rolled-back savepoint logs nothing; the rest of its transaction does
truncate pulse.decisions;
begin;
select score('fraud', '{"amount": 10, "email_domain": "gmail.com", "items": 1}'::jsonb, 'kept') is not null as scored;
savepoint s;
select score('fraud', '{"amount": 10, "email_domain": "gmail.com", "items": 1}'::jsonb, 'undone') is not null as scored;
rollback to savepoint s;
commit;
select unit_key, route, count(*) from pulse.decisions group by 1, 2 order by 1, 2;
