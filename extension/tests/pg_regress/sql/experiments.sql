-- experiments: GrowthBook-compatible assignment, the registry and exposures, and statistics
begin;
-- assignment: 2 variants, equal weights, seed and hash version 2 by default
select unit_id, ab_assign(unit_id, array['control', 'treatment'], seed => 'checkout') as variant
  from (values ('user-1'), ('user-2'), ('user-3'), ('用户-42')) t(unit_id)
 order by unit_id;
-- the variant is the one whose range holds ab_hash(seed, unit_id)
select bool_and(ab_assign('u' || i, array['a', 'b', 'c'], array[0.5, 0.3, 0.2], 'exp') =
                case when ab_hash('exp', 'u' || i) < 0.5 then 'a' when ab_hash('exp', 'u' || i) < 0.8 then 'b' else 'c' end)
       as follows_ranges
  from generate_series(1, 10000) i;
-- GrowthBook's getBucketRanges, with coverage and uneven weights
select * from ab_bucket_ranges(3, 0.5, array[0.2, 0.3, 0.5]) order by variant;
select ab_equal_weights(4) as equal_weights;
-- shares follow the weights; coverage 0.4 leaves 60 % out (NULL)
select coalesce(v, 'not in experiment') as variant, round(count(*) / 100000.0, 2) as share
  from (select ab_assign('u' || i, array['a', 'b'], array[0.25, 0.75], 'shares', 0.4) as v
          from generate_series(1, 100000) i) s
 group by 1 order by 1;
-- weights that are NULL, of the wrong length or not summing to 1 +- 0.01 fall back to equal weights
select ab_assign('u' || i, array['a', 'b'], array[0.9, 0.05], 'w') = ab_assign('u' || i, array['a', 'b'], null, 'w')
       and ab_assign('u' || i, array['a', 'b'], array[0.9], 'w') = ab_assign('u' || i, array['a', 'b'], null, 'w') as falls_back
  from generate_series(1, 5) i order by i;
-- not in the experiment: empty unit id, fewer than 2 variants, NULL arguments
select ab_assign('', array['a', 'b']) is null as empty_unit, ab_assign('u', array['a']) is null as one_variant,
       ab_assign(null, array['a', 'b']) is null as null_unit, ab_assign('u', array['a', 'b'], seed => null) is null as null_seed;
-- hash version 1 is GrowthBook's legacy hash
select ab_assign('1', array['a', 'b'], seed => 'my-test', hash_version => 1) as v1,
       ab_assign('1', array['a', 'b'], seed => 'my-test', hash_version => 2) as v2;
-- namespaces: disjoint ranges never share a unit
select count(*) filter (where ab_in_namespace('u' || i, 'checkout', 0, 0.5) and ab_in_namespace('u' || i, 'checkout', 0.5, 1)) as both,
       round(avg(ab_in_namespace('u' || i, 'checkout', 0, 0.5)::int), 2) as first_half
  from generate_series(1, 20000) i;
select ab_in_namespace('1', 'namespace1', 0, 0.4) as gb_case_1, ab_in_namespace('1', 'namespace1', 0.4, 1) as gb_case_2;

-- the registry
select key, variants, weights, coverage, seed, hash_version, status
  from ab_create_experiment('checkout-button', array['control', 'green', 'sticky'], array[0.5, 0.25, 0.25]);
select key, seed, namespace, namespace_start, namespace_end, holdout
  from ab_create_experiment('ranking-v2', array['control', 'treatment'], seed => 'rk', namespace => 'ranking',
                            namespace_start => 0, namespace_end => 0.5, holdout => 0.1);
-- ab_assign(experiment, unit_id) equals the IMMUTABLE form with the registered settings
select bool_and(ab_assign('checkout-button', 'u' || i) = ab_assign('u' || i, array['control', 'green', 'sticky'], array[0.5, 0.25, 0.25], 'checkout-button'))
       as same_as_immutable
  from generate_series(1, 1000) i;
-- one statement over two experiments: each row gets its own experiment's settings (the
-- IMMUTABLE form caches its arrays per call site and must notice when they change)
select k, count(v) as assigned,
       count(*) filter (where v is distinct from case k
         when 'checkout-button' then ab_assign(u, array['control', 'green', 'sticky'], array[0.5, 0.25, 0.25], 'checkout-button')
         else ab_assign(u, array['control', 'treatment'], seed => 'rk') end) as mismatches
  from (select k, 'u' || i as u, ab_assign(k, 'u' || i) as v
          from unnest(array['checkout-button', 'ranking-v2', 'checkout-button']) k, generate_series(1, 500) i) s
 where v is not null or k = 'checkout-button'
 group by k order by k;
-- namespace and holdout keep units out
select count(*) filter (where v is not null and not ab_in_namespace(u, 'ranking', 0, 0.5)) as outside_namespace,
       count(*) filter (where v is not null and ab_hash('pulse.holdout:rk', u, 2) < 0.1) as in_holdout,
       round(avg((v is not null)::int), 2) as share_in
  from (select 'u' || i as u, ab_assign('ranking-v2', 'u' || i) as v from generate_series(1, 20000) i) s;
-- status: a draft or stopped experiment assigns nobody
select (ab_set_experiment_status('ranking-v2', 'stopped')).status;
select count(ab_assign('ranking-v2', 'u' || i)) as assigned_while_stopped from generate_series(1, 1000) i;
select (ab_set_experiment_status('ranking-v2', 'running')).status,
       ab_assign('ranking-v2', 'u2') is not distinct from ab_assign('u2', array['control', 'treatment'], seed => 'rk')
       or not ab_in_namespace('u2', 'ranking', 0, 0.5) as running_again;
-- exposures: the first one is recorded once; later calls return it
select ab_expose('checkout-button', 'user-1') as first, ab_expose('checkout-button', 'user-1') as again;
select experiment, unit_id, variant from pulse.exposures order by 1, 2;
select ab_expose('checkout-button', '') is null as not_in_experiment, count(*) as exposures from pulse.exposures;

-- statistics: sufficient statistics as a type with text I/O
select ab_stats(x) from (values (1.0), (2.0), (3.0), (4.0), (5.5)) t(x);
select ab_stats(y, x) from (values (1.0, 0.5), (2.0, 1.5), (4.0, 2.0)) t(y, x);
select '{"n":3,"sum":6,"sxx":2,"binary":false}'::ab_stats::text as round_trip;
select * from ab_stats_summary('{"n":3,"sum":6,"sxx":2,"binary":false}');
-- NULL values are skipped; no rows gives NULL
select ab_stats(x) from (values (1.0), (null), (0.0)) t(x);
select ab_stats(x) is null as empty from (select 1.0::float8 where false) t(x);
-- rolled up per day, the same as over all rows
create table obs as
select i, (i % 3)::text as day, (i % 2)::text as arm, sin(i) * 10 + (i % 2) as y, cos(i) + i / 100.0 as x
  from generate_series(1, 3000) i;
select abs((a).mean - (b).mean) < 1e-12 and abs((a).variance / (b).variance - 1) < 1e-12 and (a).n = (b).n as rollup_equal
  from (select ab_stats_summary(ab_stats_merge(s)) a from (select ab_stats(y) s from obs group by day) d) x,
       (select ab_stats_summary(ab_stats(y)) b from obs) y;
-- Welch (hand-checked against scipy.stats.ttest_ind(equal_var=False): t 0.98742562833, p 0.36174833843)
with d(arm, y) as (values ('c', 1.0), ('c', 2.0), ('c', 3.0), ('c', 4.0), ('c', 5.5),
                          ('t', 2.0), ('t', 4.0), ('t', 4.5), ('t', 7.0))
select r.method, r.n_control, r.n_treatment, r.lift, round(r.ci_low::numeric, 9) as ci_low, round(r.ci_high::numeric, 9) as ci_high,
       round(r.statistic::numeric, 11) as t, round(r.df::numeric, 9) as df, round(r.p_value::numeric, 11) as p,
       round(r.relative_lift::numeric, 9) as rel, round(r.prob_beat_control::numeric, 9) as p_beat
  from (select (ab_compare(ab_stats(y) filter (where arm = 'c'), ab_stats(y) filter (where arm = 't'))).* from d) r;
-- two-proportion z-test: 120/1000 against 150/1000 (z 1.96305, p 0.04964)
with d as (select 'c' arm, (i <= 120)::int::float8 y from generate_series(1, 1000) i
           union all select 't', (i <= 150)::int::float8 from generate_series(1, 1000) i)
select (r).method, round((r).lift::numeric, 12) as lift, round((r).statistic::numeric, 9) as z, round((r).p_value::numeric, 9) as p,
       round((r).ci_low::numeric, 9) as ci_low, round((r).ci_high::numeric, 9) as ci_high
  from (select ab_compare(ab_stats(y) filter (where arm = 'c'), ab_stats(y) filter (where arm = 't'), 0.05, 'ztest') r from d) s;
-- CUPED narrows the interval when the covariate explains the metric; sequential widens it
with c as (select ab_stats(y, x) filter (where arm = '0') c, ab_stats(y, x) filter (where arm = '1') t from obs)
select m, case when (r).ci_high - (r).ci_low < (w).ci_high - (w).ci_low then 'narrower' else 'wider' end as interval_vs_welch,
       ((r).p_value <= 0.05) = ((r).ci_low > 0 or (r).ci_high < 0) as p_agrees_with_ci
  from c, unnest(array['cuped', 'sequential']) m,
       lateral (select ab_compare(c.c, c.t, 0.05, m) r, ab_compare(c.c, c.t) w) x
 order by m;
-- sample-ratio mismatch (scipy.stats.chisquare: 0.84148, 0.0031167) and Holm
select round(ab_srm(array[5010, 4990]::bigint[])::numeric, 9) as balanced,
       round(ab_srm(array[5000, 5300]::bigint[], array[0.5, 0.5])::numeric, 9) as mismatch,
       ab_srm(array[5000, 5300]::bigint[], array[0.5, 0.5]) < 0.001 as flagged;
select ab_p_adjust_holm(array[0.03, null, 0.01, 0.5, 0.02]) as holm;
-- ab_report: one row per variant with Holm across treatments and the SRM check
insert into pulse.exposures (experiment, unit_id, variant)
select 'checkout-button', 'u' || i, ab_assign('checkout-button', 'u' || i) from generate_series(1, 3000) i
on conflict do nothing;
select variant, is_control, units, round(mean::numeric, 4) as mean, round(lift::numeric, 4) as lift,
       p_value < 0.05 as significant, p_value_holm >= p_value as holm_not_smaller, srm_flag
  from ab_report('checkout-button', $$select 'u' || i as unit_id, (i % 5)::float8 + case when ab_assign('checkout-button', 'u' || i) = 'sticky' then 1 else 0 end as value
                                        from generate_series(1, 3000) i$$)
 order by variant;
-- a variant ramped down to weight 0 stays out of the SRM check; an early stop moves stop_at to now
select key, weights, start_at is null as draft_has_no_start
  from ab_create_experiment('ramp', array['a', 'b', 'c'], array[0.5, 0.5, 0], status => 'draft');
select (ab_set_experiment_status('ramp', 'running')).start_at = now() as started_now;
insert into pulse.exposures (experiment, unit_id, variant)
select 'ramp', 'u' || i, (array['a', 'b'])[1 + i % 2] from generate_series(1, 400) i;
select variant, units, round(srm_p_value::numeric, 3) as srm_p_value, srm_flag
  from ab_report('ramp', $$select 'u' || i as unit_id, (i % 3)::float8 as value from generate_series(1, 400) i$$)
 order by variant;
update pulse.experiments set stop_at = now() + interval '30 days' where key = 'ramp';
select (ab_set_experiment_status('ramp', 'stopped')).stop_at <= now() + interval '1 microsecond' as stopped_now;
-- a parallel plan: Partial and Finalize Aggregate, same result as serial
set local parallel_setup_cost = 0; set local parallel_tuple_cost = 0; set local min_parallel_table_scan_size = 0;
set local max_parallel_workers_per_gather = 2;
analyze obs;
explain (costs off) select arm, ab_stats(y, x) from obs group by arm;
create temporary table par as select arm, (ab_stats_summary(ab_stats(y, x))).* from obs group by arm;
set local max_parallel_workers_per_gather = 0;
select p.arm, p.n = q.n and abs(p.mean - q.mean) < 1e-12 and abs(p.variance / q.variance - 1) < 1e-12
              and abs(p.covariance - q.covariance) < 1e-9 as parallel_equals_serial
  from par p join (select arm, (ab_stats_summary(ab_stats(y, x))).* from obs group by arm) q using (arm)
 order by 1;
-- contract: volatility and comments
select p.proname, p.provolatile, p.proparallel, obj_description(p.oid, 'pg_proc') is not null as has_comment
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where p.proname like 'ab\_%' and n.nspname = 'public'
 order by 1, 2;
rollback;
