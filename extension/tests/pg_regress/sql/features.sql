-- features: windowed aggregates (moments, time decay, distinct) and scalar encodings
begin;
set local timezone = 'UTC';
create temporary table tx (customer text, ts timestamptz, amount float8, sku text);
insert into tx values
  ('alice', '2025-01-06 09:00', 10.00, 'a'), ('alice', '2025-01-06 09:04', 12.50, 'b'),
  ('alice', '2025-01-06 09:09', null,  'a'), ('alice', '2025-01-06 09:12', 30.00, 'c'),
  ('alice', '2025-01-06 09:30', 8.00,  null), ('bob',  '2025-01-06 09:01', 100.0, 'a'),
  ('bob',   '2025-01-06 09:02', 100.0, 'a'), ('bob',   '2025-01-06 09:03', 100.0, 'a');
-- moments over a sliding 10-minute window (moving aggregate: O(1) per row)
select customer, ts, amount,
       feature_count(amount) over w as n, feature_sum(amount) over w as sum,
       round(feature_mean(amount) over w::numeric, 6) as mean,
       round(feature_stddev(amount) over w::numeric, 6) as stddev
  from tx
window w as (partition by customer order by ts range between interval '10 minutes' preceding and current row)
 order by customer, ts;
-- the same windows agree with the built-in aggregates
select bool_and(fc = c and fs is not distinct from s
                and (fm is null and m is null or abs(fm - m) < 1e-12)
                and (fd is null and d is null or abs(fd - d) < 1e-12)) as agrees
  from (select feature_count(amount) over w as fc, count(amount) over w as c,
               feature_sum(amount) over w as fs, sum(amount) over w as s,
               feature_mean(amount) over w as fm, avg(amount) over w as m,
               feature_stddev(amount) over w as fd, stddev_samp(amount) over w as d
          from tx
        window w as (partition by customer order by ts range between interval '10 minutes' preceding and current row)) s;
-- empty and all-NULL input: count 0, the others NULL
select feature_count(x) as n, feature_sum(x) as sum, feature_mean(x) as mean, feature_stddev(x) as stddev
  from (values (null::float8), (null)) t(x);
select feature_count(amount) as n, feature_sum(amount) as sum from tx where false;
-- double-double sums: no catastrophic cancellation, constant values have stddev exactly 0
select feature_sum(x) as dd_sum, sum(x) as float_sum
  from (values (1, 1e16::float8), (2, 1), (3, -1e16)) t(i, x);
select feature_stddev(x) as constant_stddev from (values (9.99::float8), (9.99), (9.99), (9.99)) t(x);
-- non-finite values follow float semantics and leave the window again
select i, x, feature_sum(x) over (order by i rows between 1 preceding and current row) as sum
  from (values (1, 1.0::float8), (2, 'infinity'), (3, '-infinity'), (4, 2.0), (5, 'nan'), (6, 5.0), (7, 6.0)) t(i, x)
 order by i;
-- decayed sum: one half-life ago counts 1/2, two count 1/4; rows after their as_of are ignored
select feature_decayed_sum(1, timestamptz '2025-01-06 11:00', interval '1 hour', timestamptz '2025-01-06 12:00') as one_half_life,
       feature_decayed_sum(1, timestamptz '2025-01-06 10:00', interval '1 hour', timestamptz '2025-01-06 12:00') as two_half_lives,
       feature_decayed_sum(1, timestamptz '2025-01-06 13:00', interval '1 hour', timestamptz '2025-01-06 12:00') as future_row;
-- decayed spend per customer as of each transaction (as_of = ts: the current row), 5-minute half-life
select customer, ts, amount,
       round(feature_decayed_sum(amount, ts, interval '5 minutes', ts) over w::numeric, 6) as decayed_spend,
       round(feature_ewma(amount, ts, interval '5 minutes') over w::numeric, 6) as ewma
  from tx
window w as (partition by customer order by ts range between interval '10 minutes' preceding and current row)
 order by customer, ts;
-- with different as_of values the sum is evaluated at the latest one: 1/4 + 1
select feature_decayed_sum(1, ts, interval '1 hour', as_of) as at_latest_as_of
  from (values (timestamptz '2025-01-06 10:00', timestamptz '2025-01-06 10:00'),
               (timestamptz '2025-01-06 12:00', timestamptz '2025-01-06 12:00')) t(ts, as_of);
-- empty input: decayed sum 0, ewma NULL
select feature_decayed_sum(amount, ts, interval '1 hour', ts) as decayed, feature_ewma(amount, ts, interval '1 hour') as ewma
  from tx where false;
-- ewma: weights double every half-life; (10 * 1 + 40 * 2) / 3 = 30
select feature_ewma(x, ts, interval '1 hour') as ewma
  from (values (10.0::float8, timestamptz '2025-01-06 10:00'), (40.0, timestamptz '2025-01-06 11:00')) t(x, ts);
-- a year of hourly rows with a one-minute half-life: no overflow, only the last row counts
select feature_decayed_sum(1, ts, interval '1 minute', timestamptz '2025-12-31') as year_of_rows
  from generate_series(timestamptz '2025-01-01', timestamptz '2025-12-31', interval '1 hour') ts;
-- approx distinct: exact while small, NULLs ignored
select customer, ts, sku, feature_approx_distinct(sku) over w as distinct_skus
  from tx
window w as (partition by customer order by ts range between interval '10 minutes' preceding and current row)
 order by customer, ts;
select feature_approx_distinct(x) as empty from (values ('a')) t(x) where false;
select feature_approx_distinct((i % 1000)::text) as exact_1000 from generate_series(1, 5000) i;
-- beyond 1024 distinct values: HyperLogLog with ~1.6 % standard error
select abs(feature_approx_distinct(i::text) - 100000) < 5000 as within_5_percent from generate_series(1, 100000) i;
-- scalar helpers
select round(feature_haversine_km(48.8566, 2.3522, 51.5074, -0.1278)::numeric, 3) as paris_london_km,
       round(feature_haversine_km(0, -90, 0, 90)::numeric, 3) as half_equator_km;
select h, feature_cyclical_sin(h, 24) as sin, feature_cyclical_cos(h, 24) as cos
  from (values (0), (6), (12), (18)) t(h) order by h;
select round(feature_hour_sin(ts)::numeric, 6) as hour_sin_utc, round(feature_hour_cos(ts)::numeric, 6) as hour_cos_utc,
       round(feature_hour_sin(ts, 'America/New_York')::numeric, 6) as hour_sin_ny,
       round(feature_weekday_sin(ts)::numeric, 6) as weekday_sin, round(feature_weekday_cos(ts)::numeric, 6) as weekday_cos
  from (values (timestamptz '2025-01-09 18:00+00')) t(ts);
-- z-score against the customer's own history (previous rows only)
select customer, ts, amount,
       round(feature_zscore(amount, feature_mean(amount) over w, feature_stddev(amount) over w)::numeric, 6) as z
  from tx
window w as (partition by customer order by ts rows between unbounded preceding and 1 preceding)
 order by customer, ts;
-- contracts: every aggregate is parallel safe with combine/serial/deserial and moving support
select p.proname, p.proparallel, a.aggtranstype::regtype, a.aggcombinefn <> 0 as combine,
       a.aggserialfn <> 0 as serial, a.aggdeserialfn <> 0 as deserial,
       a.aggmtransfn <> 0 as msfunc, a.aggminvtransfn <> 0 as minvfunc,
       obj_description(p.oid, 'pg_proc') is not null as has_comment
  from pg_aggregate a join pg_proc p on p.oid = a.aggfnoid
 where p.proname like 'feature\_%'
 order by 1;
select proname, provolatile, proisstrict, proparallel
  from pg_proc where proname like 'feature\_%' and prokind = 'f'
 order by 1;
rollback;
