-- Drift profiles, comparisons, drift_report and monitors. Values checked against scipy 1.17 are
-- noted next to their statements; tests/e2e/drift_stats.sh checks many more against scipy directly.
begin;
-- Deterministic data: a 32-bit hash of i in [0, 1) stands in for random().
create function pg_temp.u(i int, seed int default 0) returns float8 language sql immutable
  as $$ select (hashint4(i + seed * 1000003)::int8 + 2147483648) / 4294967296.0 $$;

-- an exact profile (few distinct values): one bucket per value; NULL, NaN and infinities apart
select drift_profile(x) from (values (1.5::float8), (1.5), (-2), (null), ('NaN'), ('Infinity'), ('-Infinity'), (0)) t(x);
select drift_summary(drift_profile(x)) from (values (1.5::float8), (1.5), (-2), (null), ('NaN'), (0)) t(x);
-- integers and numerics are profiled as float8
select drift_summary(drift_profile(i)) ->> 'mean' as mean_of_int from generate_series(1, 4) i;
-- the text form round-trips
select drift_profile(x)::text::drift_profile::text = drift_profile(x)::text as round_trip
  from (select pg_temp.u(i) x from generate_series(1, 20000) i) s;
-- a categorical profile, most frequent first
select drift_profile(c) from (values ('b'), ('a'), ('b'), (null), ('')) t(c);
-- zero rows: an empty profile of the aggregate's kind
select drift_profile(x) from (select 1.0::float8 x where false) s;
select drift_profile(c) from (select 'a'::text c where false) s;

-- KS on exact profiles equals scipy.stats.ks_2samp on the raw data:
-- ks_2samp(range(1, 11), range(6, 16)) = (0.5, 0.16782134274394334)
create temporary table ab as
select 'a' side, i::float8 x from generate_series(1, 10) i union all select 'b', i from generate_series(6, 15) i;
select round(statistic::numeric, 12) statistic, round(p_value::numeric, 12) p_value
  from drift_ks((select drift_profile(x) from ab where side = 'a'), (select drift_profile(x) from ab where side = 'b'));
select round(statistic::numeric, 12) statistic, round(p_value::numeric, 12) p_value
  from drift_ks_exact((select array_agg(x) from ab where side = 'a'), (select array_agg(x) from ab where side = 'b'));
-- wasserstein_distance(range(1, 11), range(6, 16)) = 5; normalised by np.std(range(1, 11)): 1.7407765595569784
select drift_wasserstein(a, b) w, round(drift_wasserstein(a, b, true)::numeric, 12) w_normalized
  from (select drift_profile(x) filter (where side = 'a') a, drift_profile(x) filter (where side = 'b') b from ab) p;

-- bins at reference quantiles, on bucket boundaries; PSI, JS and chi-square over them
create temporary table profiles as
select drift_profile(pg_temp.u(i)) filter (where i <= 50000) ref,
       drift_profile(pg_temp.u(i) ^ 1.2) filter (where i > 50000) cur
  from generate_series(1, 100000) i;
select bin, lower, upper, ref_count, cur_count from profiles, drift_bins(ref, cur, 5);
select round(drift_psi(ref, cur, 5)::numeric, 6) psi, round(drift_js(ref, cur, 5)::numeric, 6) js,
       round((drift_chi2(ref, cur, 5)).statistic::numeric, 4) chi2
  from profiles;
select (drift_summary(ref) ->> 'buckets')::int <= 4096 as bounded, drift_summary(ref) ->> 'exact' as exact from profiles;

-- categorical comparisons; the z-test for a binary column
create temporary table cats as
select drift_profile(c) filter (where side = 'r') ref, drift_profile(c) filter (where side = 'c') cur
  from (select 'r' side, (array['card', 'card', 'paypal', 'klarna'])[1 + i % 4] c from generate_series(1, 400) i
        union all
        select 'c', (array['card', 'paypal', 'paypal', 'apple_pay'])[1 + i % 4] from generate_series(1, 200) i) s;
select c.* from cats, drift_categories(ref, cur) c;
-- chi2_contingency([[0, 200, 100, 100], [50, 50, 0, 100]], correction=False) = (195, 5.075229070587696e-42)
select round((drift_chi2(ref, cur)).statistic::numeric, 9) chi2,
       abs((drift_chi2(ref, cur)).p_value / 5.075229070587696e-42 - 1) < 1e-9 as p_value_as_scipy,
       round(drift_js(ref, cur)::numeric, 6) js, round(drift_psi(ref, cur)::numeric, 6) psi
  from cats;
select round(statistic::numeric, 9) z, round(p_value::numeric, 9) p
  from drift_ztest((select drift_profile(b::text) from generate_series(1, 100) i, lateral (select i % 4 = 0 b) s),
                   (select drift_profile(b::text) from generate_series(1, 100) i, lateral (select i % 2 = 0 b) s));

-- the test drift_test picks, like Evidently's data-drift preset
select 'small numeric' case_, t.* from drift_test(
  (select drift_profile(pg_temp.u(i)) from generate_series(1, 500) i),
  (select drift_profile(pg_temp.u(i, 1) + 0.2) from generate_series(1, 500) i)) t
union all
select 'large numeric', t.* from profiles, drift_test(ref, cur) t
union all
select 'few values', t.* from drift_test(
  (select drift_profile((i % 3)::float8) from generate_series(1, 5000) i),
  (select drift_profile((i % 3)::float8) from generate_series(1, 5000) i)) t
union all
select 'small categorical', t.* from cats, drift_test(ref, cur) t
union all
select 'psi forced', t.* from profiles, drift_test(ref, cur, 'psi') t
union all
select 'threshold', t.* from profiles, drift_test(ref, cur, threshold => 0.5) t
union all
select 'by test name', t.* from profiles, drift_test(ref, cur, thresholds => '{"wasserstein": 0.01}') t;

-- drift_report: one scan per query, every supported column (the timestamp is skipped)
create table orders_ref as
select i id, pg_temp.u(i) * 100 amount, (i % 5)::int items, (array['mobile', 'desktop', 'tablet'])[1 + i % 3] device,
       i % 7 = 0 gift, timestamptz '2026-01-01' + i * interval '1 minute' placed_at
  from generate_series(1, 20000) i;
create table orders_cur as
select i id, pg_temp.u(i, 2) * 130 amount, (i % 5)::int items,
       (array['mobile', 'mobile', 'desktop', 'tablet'])[1 + i % 4] device, i % 7 = 0 gift,
       timestamptz '2026-02-01' + i * interval '1 minute' placed_at
  from generate_series(1, 20000) i;
select column_name, kind, test, round(statistic::numeric, 6) statistic, threshold, drifted
  from drift_report('select amount, items, device, gift, placed_at from orders_ref', 'select amount, items, device, gift, placed_at from orders_cur');
select column_name, test, round(statistic::numeric, 6) statistic, threshold, drifted
  from drift_report('select * from orders_ref', 'select * from orders_cur', array['device', 'amount'],
                    tests => '{"*": "psi", "device": "chi2"}', thresholds => '{"amount": 0.5}');
select column_name, kind from drift_profile_query('select amount, device, gift, placed_at, id::numeric from orders_ref');

-- roll-ups: merging per-slice profiles equals profiling everything at once
select drift_profile_merge(p)::text::jsonb - 'mean' - 'm2' = (select drift_profile(amount)::text::jsonb - 'mean' - 'm2' from orders_ref)
       as merged_equals_whole
  from (select drift_profile(amount)::text::drift_profile p from orders_ref group by id % 10) s;
select drift_profile_merge(p)::text = (select drift_profile(device)::text from orders_ref) merged_equals_whole
  from (select drift_profile(device) p from orders_ref group by id % 10) s;

-- monitors: the reference profiled once, each run profiles the current window and raises alerts
select drift_monitor_create('orders', 'select amount, items, device from orders_ref',
                            'select amount, items, device from orders_cur');
select column_name, kind from pulse.drift_profiles where monitor = 'orders' order by ordinal;
select column_name, test, round(statistic::numeric, 6) statistic, drifted from drift_monitor_run('orders');
select monitor, column_name, test from pulse.drift_alerts order by alert_id;
select monitor, column_name, test, runs, alerts from pulse.drift_alert_history order by column_name;
select run_id is not null as has_run, role, count(*) from pulse.drift_profiles group by 1, 2 order by 2;
select drift_monitor_refresh_reference('orders');
-- prediction drift: a monitor over the model decision log's scores
insert into pulse.decisions (decided_at, model, version, route, unit_key, request_id, score)
select timestamptz '2026-03-01' + i * interval '1 minute', 'fraud', 1, 'champion', 'o' || i, i,
       case when i <= 3000 then pg_temp.u(i) ^ 3 else pg_temp.u(i) ^ 2 end
  from generate_series(1, 6000) i;
select drift_monitor_create('fraud-scores',
  $$select score from pulse.decisions where model = 'fraud' and route = 'champion' and request_id <= 3000$$,
  $$select score from pulse.decisions where model = 'fraud' and route = 'champion' and request_id > 3000$$);
select column_name, test, round(statistic::numeric, 6) statistic, drifted from drift_monitor_run('fraud-scores');
select drift_monitor_drop('orders');
select count(*) from pulse.drift_runs where monitor = 'orders';

-- values whose squares overflow float8: mean and m2 are stored as null and read back
select p::text::drift_profile::text = p::text as round_trip, drift_summary(p) ->> 'stddev' as stddev,
       (drift_ks(p, p)).statistic
  from (select drift_profile(x) p from (values (1e200::float8), (-1e200), (3)) t(x)) s;
-- a constant reference: the default test divides by at least 0.001 (Evidently's floor)
select kind, test, statistic, drifted from drift_test(
  (select drift_profile(0::float8) from generate_series(1, 2000)),
  (select drift_profile((i % 10)::float8) from generate_series(1, 2000) i));
-- a trailing comment in the query, and a domain profiled as its base type
select column_name, kind from drift_profile_query($$select 1::information_schema.cardinal_number n, 'a'::text c -- note$$);
-- a parallel plan: Partial and Finalize Aggregate; the parallel profile equals the serial one
create table big as select i, pg_temp.u(i) * 1000 x, (i % 97)::text c from generate_series(1, 200000) i;
alter table big set (parallel_workers = 2);
analyze big;
set local parallel_setup_cost = 0; set local parallel_tuple_cost = 0; set local min_parallel_table_scan_size = 0;
set local max_parallel_workers_per_gather = 2;
explain (costs off) select drift_profile(x), drift_profile(c) from big;
create temporary table par as select drift_profile(x) px, drift_profile(c) pc from big;
set local max_parallel_workers_per_gather = 0;
select (s.px::text::jsonb - 'mean' - 'm2') = (p.px::text::jsonb - 'mean' - 'm2') as buckets_equal,
       abs((s.px::text::jsonb ->> 'mean')::float8 / (p.px::text::jsonb ->> 'mean')::float8 - 1) < 1e-12 as mean_equal,
       abs((s.px::text::jsonb ->> 'm2')::float8 / (p.px::text::jsonb ->> 'm2')::float8 - 1) < 1e-12 as m2_equal,
       s.pc::text = p.pc::text as categorical_equal
  from par p, (select drift_profile(x) px, drift_profile(c) pc from big) s;

-- contract: volatility and comments
select p.proname, p.provolatile, p.proparallel, obj_description(p.oid, 'pg_proc') is not null as has_comment
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where p.proname like 'drift\_%' and n.nspname = 'public'
 order by 1, 2;
rollback;
