-- Drift errors: every statement below fails (but the setup). First the messages with their detail
-- and hint, then the same statements again showing only their SQLSTATE.
create temporary table p as
select drift_profile(i::float8) num, drift_profile(i::text) cat, drift_profile(null::float8) nulls,
       drift_profile((i % 3)::text) three, drift_profile(1.0::float8) one
  from generate_series(1, 10) i;
create temporary table e as select drift_profile(x) empty from (select 1.0::float8 x where false) s;
select drift_monitor_create('exists', 'select 1.0::float8 x', 'select 2.0::float8 x');
\set SHOW_CONTEXT never
select drift_ks(empty, num) from p, e;
select drift_ks(nulls, num) from p;
select drift_ks(num, cat) from p;
select drift_ks(cat, cat) from p;
select drift_psi(num, cat) from p;
select drift_wasserstein(one, num, true) from p;
select drift_bins(num, num, 0) from p;
select drift_bins(cat, cat) from p;
select drift_categories(num, num) from p;
select drift_ztest(three, three) from p;
select drift_ztest(num, num) from p;
select drift_test(num, num, 't-test') from p;
select drift_test(num, num, 'ks', 1.5) from p;
select drift_test(num, num, thresholds => '[0.1]') from p;
select drift_test(num, null) from p;
select drift_ks_exact(array[1, 'NaN']::float8[], array[1.0]);
select drift_ks_exact(array[null]::float8[], array[1.0]);
select '{"kind":"x"}'::drift_profile;
select '{"kind":"numeric","n":2,"nulls":0,"nans":0,"pos_inf":0,"neg_inf":0,"mean":1,"m2":0,"min":1,"max":1,"level":0,"buckets":[[1,1]]}'::drift_profile;
select drift_profile_merge(x) from (select num x from p union all select cat from p) s;
select * from drift_report('select 1.0::float8 x', 'select 2.0::float8 x', array['y']);
select * from drift_report('select now() t', 'select now() t', array['t']);
select * from drift_report('select now() t', 'select now() t');
select * from drift_report('select 1.0::float8 x', 'select 2.0::float8 y');
select * from drift_report('select 1.0::float8 x', 'select ''a''::text x');
select * from drift_report('select 1.0::float8 x where false', 'select 2.0::float8 x');
select * from drift_report('select 1.0::float8 x', 'select 2.0::float8 x', array[null]);
select * from drift_report('selec 1', 'select 1');
select drift_monitor_create('exists', 'select 1.0::float8 x', 'select 2.0::float8 x');
select drift_test(num, num, 'ztest') from p;
select drift_monitor_create(repeat('m', 52), 'select 1.0::float8 x', 'select 2.0::float8 x');
select drift_monitor_run('nope');
select drift_monitor_drop('nope');
\set VERBOSITY sqlstate
select drift_ks(empty, num) from p, e;
select drift_ks(nulls, num) from p;
select drift_ks(num, cat) from p;
select drift_ks(cat, cat) from p;
select drift_psi(num, cat) from p;
select drift_wasserstein(one, num, true) from p;
select drift_bins(num, num, 0) from p;
select drift_bins(cat, cat) from p;
select drift_categories(num, num) from p;
select drift_ztest(three, three) from p;
select drift_ztest(num, num) from p;
select drift_test(num, num, 't-test') from p;
select drift_test(num, num, 'ks', 1.5) from p;
select drift_test(num, num, thresholds => '[0.1]') from p;
select drift_test(num, null) from p;
select drift_ks_exact(array[1, 'NaN']::float8[], array[1.0]);
select drift_ks_exact(array[null]::float8[], array[1.0]);
select '{"kind":"x"}'::drift_profile;
select '{"kind":"numeric","n":2,"nulls":0,"nans":0,"pos_inf":0,"neg_inf":0,"mean":1,"m2":0,"min":1,"max":1,"level":0,"buckets":[[1,1]]}'::drift_profile;
select drift_profile_merge(x) from (select num x from p union all select cat from p) s;
select * from drift_report('select 1.0::float8 x', 'select 2.0::float8 x', array['y']);
select * from drift_report('select now() t', 'select now() t', array['t']);
select * from drift_report('select now() t', 'select now() t');
select * from drift_report('select 1.0::float8 x', 'select 2.0::float8 y');
select * from drift_report('select 1.0::float8 x', 'select ''a''::text x');
select * from drift_report('select 1.0::float8 x where false', 'select 2.0::float8 x');
select * from drift_report('select 1.0::float8 x', 'select 2.0::float8 x', array[null]);
select * from drift_report('selec 1', 'select 1');
select drift_monitor_create('exists', 'select 1.0::float8 x', 'select 2.0::float8 x');
select drift_test(num, num, 'ztest') from p;
select drift_monitor_create(repeat('m', 52), 'select 1.0::float8 x', 'select 2.0::float8 x');
select drift_monitor_run('nope');
select drift_monitor_drop('nope');
