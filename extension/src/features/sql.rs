//! SQL layer of the features capability: aggregate plumbing, moments aggregates, scalar helpers.
//!
//! The aggregates have an `internal` state with serial/deserial functions, which pgrx's
//! `Aggregate` trait gets wrong (pgrx #2351), so they are hand-written: `_feature_*` support
//! functions on `internal` plus `CREATE AGGREGATE` in `extension_sql!`. Each state is a Rust value
//! boxed in the aggregate memory context (dropped when Postgres resets that context) and every
//! aggregate has a moving-aggregate implementation (msfunc/minvfunc) so sliding windows cost O(1)
//! per row; an inverse transition that returns NULL makes Postgres recompute the frame.
use super::core::Moments;
use crate::aggregate::{combine, ensure_state, read_state, with_state};
use crate::error::OrRaise;
use pgrx::prelude::*;
use pgrx::{pg_sys, Internal};

mod decay;
mod distinct;

// ---------------------------------------------------------------------------------------------
// Moments: feature_count, feature_sum, feature_mean, feature_stddev
// ---------------------------------------------------------------------------------------------

#[pg_extern(immutable, parallel_safe)]
fn _feature_moments_trans(state: Internal, value: Option<f64>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    let mut state = ensure_state::<Moments>(state, fcinfo);
    if let Some(x) = value {
        with_state(&mut state, |m: &mut Moments| m.add(x));
    }
    state
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_moments_inv(state: Internal, value: Option<f64>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    let mut state = ensure_state::<Moments>(state, fcinfo);
    if let Some(x) = value {
        with_state(&mut state, |m: &mut Moments| m.remove(x));
    }
    state
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_moments_combine(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    combine(a, b, fcinfo, |x: &mut Moments, y: &Moments| x.merge(y))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn _feature_moments_serial(state: Internal) -> Vec<u8> {
    read_state(Some(state), Moments::to_bytes).unwrap_or_else(|| Moments::default().to_bytes())
}

#[pg_extern(immutable, strict, parallel_safe)]
fn _feature_moments_deserial(bytes: &[u8], _unused: Internal) -> Internal {
    Internal::new(Moments::from_bytes(bytes).or_raise("_feature_moments_deserial"))
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_count_final(state: Option<Internal>) -> i64 {
    read_state(state, |m: &Moments| m.count() as i64).unwrap_or(0)
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_sum_final(state: Option<Internal>) -> Option<f64> {
    read_state(state, Moments::sum).flatten()
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_mean_final(state: Option<Internal>) -> Option<f64> {
    read_state(state, Moments::mean).flatten()
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_stddev_final(state: Option<Internal>) -> Option<f64> {
    read_state(state, Moments::stddev).flatten()
}

extension_sql!(
    r#"
create aggregate feature_count(value double precision) (
    sfunc = _feature_moments_trans, stype = internal, finalfunc = _feature_count_final,
    combinefunc = _feature_moments_combine,
    serialfunc = _feature_moments_serial, deserialfunc = _feature_moments_deserial,
    msfunc = _feature_moments_trans, minvfunc = _feature_moments_inv, mstype = internal,
    mfinalfunc = _feature_count_final, parallel = safe
);
create aggregate feature_sum(value double precision) (
    sfunc = _feature_moments_trans, stype = internal, finalfunc = _feature_sum_final,
    combinefunc = _feature_moments_combine,
    serialfunc = _feature_moments_serial, deserialfunc = _feature_moments_deserial,
    msfunc = _feature_moments_trans, minvfunc = _feature_moments_inv, mstype = internal,
    mfinalfunc = _feature_sum_final, parallel = safe
);
create aggregate feature_mean(value double precision) (
    sfunc = _feature_moments_trans, stype = internal, finalfunc = _feature_mean_final,
    combinefunc = _feature_moments_combine,
    serialfunc = _feature_moments_serial, deserialfunc = _feature_moments_deserial,
    msfunc = _feature_moments_trans, minvfunc = _feature_moments_inv, mstype = internal,
    mfinalfunc = _feature_mean_final, parallel = safe
);
create aggregate feature_stddev(value double precision) (
    sfunc = _feature_moments_trans, stype = internal, finalfunc = _feature_stddev_final,
    combinefunc = _feature_moments_combine,
    serialfunc = _feature_moments_serial, deserialfunc = _feature_moments_deserial,
    msfunc = _feature_moments_trans, minvfunc = _feature_moments_inv, mstype = internal,
    mfinalfunc = _feature_stddev_final, parallel = safe
);

comment on aggregate feature_count(double precision) is
'Number of non-NULL values (NaN and infinities included); 0 for empty or all-NULL input. Parallel, and O(1) per row in sliding windows (moving aggregate).';
comment on aggregate feature_sum(double precision) is
'Sum of the non-NULL values, accumulated in double-double precision so sliding windows stay exact to ~1e-16; NULL for empty or all-NULL input. NaN, or +Infinity with -Infinity, gives NaN; otherwise an infinity gives that infinity. Parallel, O(1) per row in sliding windows.';
comment on aggregate feature_mean(double precision) is
'Arithmetic mean of the non-NULL values (double-double sums, float semantics for NaN and infinities as feature_sum); NULL for empty or all-NULL input. Parallel, O(1) per row in sliding windows.';
comment on aggregate feature_stddev(double precision) is
'Sample standard deviation of the non-NULL values, from double-double sums (never negative, no cancellation loss); NULL for fewer than 2 values; NaN when any value is NaN or infinite. Parallel, O(1) per row in sliding windows.';

comment on function _feature_moments_trans(internal, double precision) is 'internal: transition function of feature_count, feature_sum, feature_mean and feature_stddev';
comment on function _feature_moments_inv(internal, double precision) is 'internal: inverse transition function of feature_count, feature_sum, feature_mean and feature_stddev';
comment on function _feature_moments_combine(internal, internal) is 'internal: parallel combine function of feature_count, feature_sum, feature_mean and feature_stddev';
comment on function _feature_moments_serial(internal) is 'internal: serialises the state of feature_count, feature_sum, feature_mean and feature_stddev';
comment on function _feature_moments_deserial(bytea, internal) is 'internal: deserialises the state of feature_count, feature_sum, feature_mean and feature_stddev';
comment on function _feature_count_final(internal) is 'internal: final function of feature_count';
comment on function _feature_sum_final(internal) is 'internal: final function of feature_sum';
comment on function _feature_mean_final(internal) is 'internal: final function of feature_mean';
comment on function _feature_stddev_final(internal) is 'internal: final function of feature_stddev';
"#,
    name = "feature_moments_aggregates",
    requires = [
        _feature_moments_trans,
        _feature_moments_inv,
        _feature_moments_combine,
        _feature_moments_serial,
        _feature_moments_deserial,
        _feature_count_final,
        _feature_sum_final,
        _feature_mean_final,
        _feature_stddev_final
    ]
);

// ---------------------------------------------------------------------------------------------
// Scalar helpers
// ---------------------------------------------------------------------------------------------

/// Great-circle distance in km (haversine, mean earth radius 6371.0088 km).
#[pg_extern(immutable, strict, parallel_safe)]
fn feature_haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    super::core::haversine_km(lat1, lon1, lat2, lon2).or_raise("feature_haversine_km")
}

/// sin(2π · value / period).
#[pg_extern(immutable, strict, parallel_safe)]
fn feature_cyclical_sin(value: f64, period: f64) -> f64 {
    super::core::cyclical(value, period).or_raise("feature_cyclical_sin").0
}

/// cos(2π · value / period).
#[pg_extern(immutable, strict, parallel_safe)]
fn feature_cyclical_cos(value: f64, period: f64) -> f64 {
    super::core::cyclical(value, period).or_raise("feature_cyclical_cos").1
}

/// (value − mean) / stddev; NULL when stddev is 0 or not finite.
#[pg_extern(immutable, strict, parallel_safe)]
fn feature_zscore(value: f64, mean: f64, stddev: f64) -> Option<f64> {
    super::core::zscore(value, mean, stddev)
}

// The hour/weekday encodings are SQL functions so the planner inlines them; `@extschema@` keeps
// them independent of the caller's search_path.
extension_sql!(
    r#"
create function feature_hour_sin(ts timestamptz, time_zone text default 'UTC') returns double precision
    language sql immutable parallel safe
    as $$ select @extschema@.feature_cyclical_sin(date_part('epoch', (ts at time zone time_zone)::time) / 3600, 24) $$;
create function feature_hour_cos(ts timestamptz, time_zone text default 'UTC') returns double precision
    language sql immutable parallel safe
    as $$ select @extschema@.feature_cyclical_cos(date_part('epoch', (ts at time zone time_zone)::time) / 3600, 24) $$;
create function feature_weekday_sin(ts timestamptz, time_zone text default 'UTC') returns double precision
    language sql immutable parallel safe
    as $$ select @extschema@.feature_cyclical_sin(date_part('isodow', ts at time zone time_zone) - 1
                                                  + date_part('epoch', (ts at time zone time_zone)::time) / 86400, 7) $$;
create function feature_weekday_cos(ts timestamptz, time_zone text default 'UTC') returns double precision
    language sql immutable parallel safe
    as $$ select @extschema@.feature_cyclical_cos(date_part('isodow', ts at time zone time_zone) - 1
                                                  + date_part('epoch', (ts at time zone time_zone)::time) / 86400, 7) $$;

comment on function feature_haversine_km(double precision, double precision, double precision, double precision) is
'Great-circle distance in km between (lat1, lon1) and (lat2, lon2) in degrees, haversine formula on a sphere of the mean earth radius 6371.0088 km. Latitude outside [-90, 90] or longitude outside [-180, 180] is an error (22023); NULL if any argument is NULL.';
comment on function feature_cyclical_sin(double precision, double precision) is
'sin(2π · value / period): cyclical encoding of a periodic feature (hour of day with period 24, month with 12). Exact at quarter periods; period must be positive and finite (22023); NULL if any argument is NULL.';
comment on function feature_cyclical_cos(double precision, double precision) is
'cos(2π · value / period): cyclical encoding of a periodic feature, the partner of feature_cyclical_sin. Exact at quarter periods; period must be positive and finite (22023); NULL if any argument is NULL.';
comment on function feature_hour_sin(timestamptz, text) is
'sin of the fractional hour of day (hour + minute/60 + second/3600) of ts in time_zone (default UTC), period 24. NULL if ts is NULL. Inlined by the planner.';
comment on function feature_hour_cos(timestamptz, text) is
'cos of the fractional hour of day (hour + minute/60 + second/3600) of ts in time_zone (default UTC), period 24. NULL if ts is NULL. Inlined by the planner.';
comment on function feature_weekday_sin(timestamptz, text) is
'sin of the day of week of ts in time_zone (default UTC): ISO day of week - 1 (Monday = 0) plus the fraction of the day, period 7. NULL if ts is NULL. Inlined by the planner.';
comment on function feature_weekday_cos(timestamptz, text) is
'cos of the day of week of ts in time_zone (default UTC): ISO day of week - 1 (Monday = 0) plus the fraction of the day, period 7. NULL if ts is NULL. Inlined by the planner.';
comment on function feature_zscore(double precision, double precision, double precision) is
'(value - mean) / stddev; NULL when any argument is NULL or stddev is 0 or not finite. Z-score against an entity''s own history: feature_zscore(amount, feature_mean(amount) over w, feature_stddev(amount) over w) ... window w as (partition by customer order by ts rows between unbounded preceding and 1 preceding).';
"#,
    name = "feature_scalars",
    requires = [feature_haversine_km, feature_cyclical_sin, feature_cyclical_cos, feature_zscore]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// Rows where the two expressions differ (NULLs must match, values to `tol` relative).
    pub(crate) fn mismatches(expr: &str, reference: &str, tol: f64, from: &str) -> i64 {
        let q = format!(
            "select count(*) from (select {expr} as a, {reference} as b {from}) s
              where not ((a is null and b is null)
                         or abs(a::float8 - b::float8) <= {tol} * greatest(abs(b::float8), 1e-9))"
        );
        Spi::get_one::<i64>(&q).unwrap().unwrap()
    }

    fn events() {
        Spi::run(
            "select setseed(0.25);
             create table ev as
             select (i % 7) as k,
                    timestamptz '2025-01-01' + (i * interval '37 seconds') + (random() * interval '20 seconds') as ts,
                    case when i % 53 = 0 then null else round((random() * 1000 - 300)::numeric, 3)::float8 end as x
               from generate_series(1, 4000) i;",
        )
        .unwrap();
    }

    #[pg_test]
    fn moments_aggregates_have_parallel_and_moving_support() {
        let q = "select count(*) from pg_aggregate a join pg_proc p on p.oid = a.aggfnoid
                  where p.proname in ('feature_count', 'feature_sum', 'feature_mean', 'feature_stddev')
                    and a.aggtranstype = 'internal'::regtype and a.aggmtranstype = 'internal'::regtype
                    and a.aggcombinefn = '_feature_moments_combine'::regproc
                    and a.aggserialfn = '_feature_moments_serial'::regproc
                    and a.aggdeserialfn = '_feature_moments_deserial'::regproc
                    and a.aggmtransfn = '_feature_moments_trans'::regproc
                    and a.aggminvtransfn = '_feature_moments_inv'::regproc
                    and a.aggmfinalfn = a.aggfinalfn and a.aggfinalfn <> 0
                    and p.proparallel = 's'";
        assert_eq!(Spi::get_one::<i64>(q), Ok(Some(4)));
    }

    #[pg_test]
    fn moments_match_postgres_over_a_range_window() {
        events();
        let w = "from ev window w as (partition by k order by ts range between interval '10 minutes' preceding and current row)";
        assert_eq!(Spi::get_one::<i64>("select count(*) from ev"), Ok(Some(4000)));
        // The windows really slide: frames have several rows and differ from the running total.
        assert_eq!(
            Spi::get_one::<bool>(&format!("select max(c) between 3 and 40 from (select count(x) over w as c {w}) s")),
            Ok(Some(true))
        );
        assert_eq!(mismatches("feature_count(x) over w", "count(x) over w", 0.0, w), 0);
        assert_eq!(mismatches("feature_sum(x) over w", "sum(x) over w", 1e-9, w), 0);
        assert_eq!(mismatches("feature_mean(x) over w", "avg(x) over w", 1e-9, w), 0);
        assert_eq!(mismatches("feature_stddev(x) over w", "stddev_samp(x) over w", 1e-9, w), 0);
        // Plain aggregation and empty / all-NULL input.
        assert_eq!(mismatches("feature_stddev(x)", "stddev_samp(x)", 1e-12, "from ev"), 0);
        let empty = Spi::get_one::<String>(
            "select format('%s|%s|%s|%s', feature_count(x), feature_sum(x) is null, feature_mean(x) is null,
                           feature_stddev(x) is null) from ev where false",
        );
        assert_eq!(empty, Ok(Some("0|t|t|t".into())));
        let nulls = Spi::get_one::<String>(
            "select format('%s|%s|%s', feature_count(x), feature_sum(x) is null, feature_stddev(x) is null)
               from (values (null::float8), (null)) t(x)",
        );
        assert_eq!(nulls, Ok(Some("0|t|t".into())));
    }

    #[pg_test]
    fn moments_non_finite_values_in_a_sliding_window() {
        let got = Spi::get_one::<String>(
            "select string_agg(coalesce(s::text, 'null'), ',' order by i) from (
               select i, feature_sum(x) over (order by i rows between 1 preceding and current row) as s
                 from (values (1, 1.0::float8), (2, 'infinity'), (3, '-infinity'), (4, 2.0), (5, 'nan'), (6, 5.0), (7, 6.0)) t(i, x)) s",
        );
        assert_eq!(got, Ok(Some("1,Infinity,NaN,-Infinity,NaN,NaN,11".into())));
    }

    #[pg_test]
    fn parallel_plan_uses_partial_aggregates() {
        Spi::run(
            "create table pt as select (i % 1000) * 0.5 + i * 1e-6 as x from generate_series(1, 200000) i;
             analyze pt;
             set local parallel_setup_cost = 0; set local parallel_tuple_cost = 0;
             set local min_parallel_table_scan_size = 0; set local max_parallel_workers_per_gather = 2;",
        )
        .unwrap();
        let plan = Spi::connect(|c| {
            c.select("explain (costs off) select feature_mean(x), feature_stddev(x) from pt", None, &[])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        });
        assert!(plan.contains("Partial Aggregate"), "{plan}");
        assert!(plan.contains("Gather"), "{plan}");
        assert_eq!(mismatches("feature_mean(x)", "avg(x)", 1e-12, "from pt"), 0);
        assert_eq!(mismatches("feature_stddev(x)", "stddev_samp(x)", 1e-12, "from pt"), 0);
        assert_eq!(mismatches("feature_count(x)", "count(x)", 0.0, "from pt"), 0);
    }

    #[pg_test]
    fn scalar_values() {
        let d = Spi::get_one::<f64>("select feature_haversine_km(48.8566, 2.3522, 51.5074, -0.1278)").unwrap().unwrap();
        assert!((d - 343.5565).abs() < 1e-3, "{d}");
        assert_eq!(Spi::get_one::<f64>("select feature_cyclical_cos(6, 24)"), Ok(Some(0.0)));
        assert_eq!(Spi::get_one::<f64>("select feature_cyclical_sin(6, 24)"), Ok(Some(1.0)));
        // 18:00 UTC is 19:00 in Paris in January: hour 19 of 24.
        let h = Spi::get_one::<f64>("select feature_hour_sin('2025-01-06 18:00+00', 'Europe/Paris')").unwrap().unwrap();
        assert!((h - (2.0 * std::f64::consts::PI * 19.0 / 24.0).sin()).abs() < 1e-12, "{h}");
        assert_eq!(Spi::get_one::<f64>("select feature_hour_cos('2025-01-06 06:00+00')"), Ok(Some(0.0)));
        // Monday 2025-01-06 00:00 UTC is weekday 0; Thursday 12:00 is 3.5 of 7.
        assert_eq!(Spi::get_one::<f64>("select feature_weekday_sin('2025-01-06 00:00+00')"), Ok(Some(0.0)));
        let thu = Spi::get_one::<f64>("select feature_weekday_cos('2025-01-09 12:00+00')").unwrap().unwrap();
        assert!((thu + 1.0).abs() < 1e-15, "{thu}");
        assert_eq!(Spi::get_one::<f64>("select feature_zscore(15, 10, 2.5)"), Ok(Some(2.0)));
        assert_eq!(Spi::get_one::<f64>("select feature_zscore(15, 10, 0)"), Ok(None));
        assert_eq!(Spi::get_one::<f64>("select feature_zscore(15, 10, null)"), Ok(None));
    }

    #[pg_test]
    fn zscore_against_entity_history() {
        let z = Spi::get_one::<String>(
            "select string_agg(coalesce(round(z::numeric, 6)::text, 'null'), ',' order by ts) from (
               select ts, feature_zscore(amount, feature_mean(amount) over w, feature_stddev(amount) over w) as z
                 from (values (1, 10.0::float8), (2, 12.0), (3, 14.0), (4, 18.0)) t(ts, amount)
               window w as (order by ts rows between unbounded preceding and 1 preceding)) s",
        );
        // row 3: history {10, 12}: mean 11, sd √2 → 3/√2; row 4: {10, 12, 14}: mean 12, sd 2 → 3.
        assert_eq!(z, Ok(Some("null,null,2.121320,3.000000".into())));
    }

    #[pg_test]
    fn scalar_contracts() {
        let q = "select string_agg(proname || ':' || provolatile::text || proisstrict::text || proparallel::text, ',' order by proname)
                   from pg_proc where proname in ('feature_haversine_km', 'feature_cyclical_sin', 'feature_cyclical_cos',
                                                  'feature_zscore', 'feature_hour_sin', 'feature_weekday_cos')";
        assert_eq!(
            Spi::get_one::<String>(q),
            Ok(Some(
                "feature_cyclical_cos:itrues,feature_cyclical_sin:itrues,feature_haversine_km:itrues,\
                 feature_hour_sin:ifalses,feature_weekday_cos:ifalses,feature_zscore:itrues"
                    .into()
            ))
        );
        // Every function of the features capability is documented.
        let undocumented = Spi::get_one::<i64>(
            "select count(*) from pg_proc where (proname like 'feature\\_%' or proname like '\\_feature\\_%')
               and obj_description(oid, 'pg_proc') is null",
        );
        assert_eq!(undocumented, Ok(Some(0)));
        // The SQL encodings are inlined: the plan shows the cyclical function, not feature_hour_sin.
        let plan = Spi::connect(|c| {
            c.select("explain (verbose, costs off) select feature_hour_sin(t) from (values (now())) v(t)", None, &[])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        });
        assert!(plan.contains("feature_cyclical_sin") && !plan.contains("feature_hour_sin"), "{plan}");
    }

    #[pg_test(error = "lat1 must be between -90 and 90 degrees")]
    fn haversine_rejects_bad_latitude() {
        Spi::get_one::<f64>("select feature_haversine_km(91, 0, 0, 0)").unwrap();
    }

    #[pg_test]
    fn error_sqlstates() {
        let cases = [
            ("select feature_haversine_km(0, 181, 0, 0)", "22023"),
            ("select feature_cyclical_sin(1, 0)", "22023"),
            ("select feature_cyclical_cos(1, 'nan')", "22023"),
            ("select feature_decayed_sum(1, now(), interval '1 month', now())", "22023"),
            ("select feature_decayed_sum(1, now(), interval '-1 hour', now())", "22023"),
            ("select feature_ewma(1, now(), interval '0 seconds')", "22023"),
            (
                "select feature_ewma(x, now(), h) from (values (1.0::float8, interval '1 hour'), (2.0, interval '2 hours')) t(x, h)",
                "22023",
            ),
            ("select feature_ewma(1, 'infinity', interval '1 hour')", "22023"),
        ];
        for (sql, state) in cases {
            assert_eq!(sqlstate_of(sql), state, "{sql}");
        }
    }

    /// SQLSTATE of the error `sql` raises ("none" if it succeeds), caught in plpgsql.
    pub(crate) fn sqlstate_of(sql: &str) -> String {
        let block = format!(
            "do $pulse$ begin perform set_config('pulse.test_sqlstate', 'none', true); execute $q${sql}$q$;
               exception when others then perform set_config('pulse.test_sqlstate', sqlstate, true); end $pulse$"
        );
        Spi::run(&block).unwrap();
        Spi::get_one::<String>("select current_setting('pulse.test_sqlstate')").unwrap().unwrap()
    }
}
