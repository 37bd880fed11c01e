-- The dbt suite's fraud model and drift monitor (after tests/dbt/seed.sql): the shop's fraud model
-- trained on the seeded orders and deployed as champion, every order scored once through
-- score_fraud (the decision log names each order), and a drift monitor whose current window is
-- the last day's amounts raised by half, so it raises an alert.
\set QUIET on
\i sql/fraud_model.sql
-- Every decision logged: the default cap per transaction is for serving, not for a backfill.
set pulse.decision_log_max_rows = 1000000;
-- Decisions made in parallel workers are not logged (pulse.decisions): score in the leader.
set max_parallel_workers_per_gather = 0;
-- o-17 stays unscored until the second landing (tests/dbt/seed_next_batch.sql scores it late).
select count(score_fraud(o)) as scored from raw.orders o where o.order_id <> 'o-17';
select drift_monitor_create('order-amounts',
    reference_sql => 'select amount::float8 as amount, device from raw.orders where created_at < now() - interval ''1 day''',
    current_sql => 'select amount::float8 * 1.5 as amount, device from raw.orders where created_at >= now() - interval ''1 day''');
select drift_monitor_run('order-amounts');
