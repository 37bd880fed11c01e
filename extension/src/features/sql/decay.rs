//! SQL layer of the time-decayed aggregates: `feature_decayed_sum` and `feature_ewma`.
use super::{combine, ensure_state, read_state, with_state};
use crate::error::{OrRaise, Result};
use crate::features::core::decay::{half_life_micros, Decay, Removal};
use pgrx::prelude::*;
use pgrx::{pg_sys, Internal};

fn micros(half_life: &Interval) -> Result<i64> {
    half_life_micros(half_life.months(), half_life.days(), half_life.micros())
}

/// Applies `step` when no argument is NULL; a `Restart` turns the result into NULL, which makes
/// Postgres recompute the window frame from scratch.
fn step(
    state: Internal,
    fcinfo: pg_sys::FunctionCallInfo,
    function: &'static str,
    step: impl FnOnce(&mut Decay) -> Result<Removal>,
) -> Internal {
    let mut state = ensure_state::<Decay>(state, fcinfo);
    match with_state(&mut state, step).transpose().or_raise(function) {
        Some(Removal::Restart) => Internal::default(),
        _ => state,
    }
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_decay_trans(
    state: Internal,
    value: Option<f64>,
    ts: Option<TimestampWithTimeZone>,
    half_life: Option<Interval>,
    as_of: Option<TimestampWithTimeZone>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    step(state, fcinfo, "feature_decayed_sum", |d| match (ts, half_life, as_of) {
        (Some(ts), Some(h), Some(a)) => {
            d.add_decayed(value, ts.into_inner(), micros(&h)?, a.into_inner()).map(|_| Removal::Done)
        }
        _ => Ok(Removal::Done),
    })
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_decay_inv(
    state: Internal,
    value: Option<f64>,
    ts: Option<TimestampWithTimeZone>,
    half_life: Option<Interval>,
    as_of: Option<TimestampWithTimeZone>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    step(state, fcinfo, "feature_decayed_sum", |d| match (ts, half_life, as_of) {
        (Some(ts), Some(h), Some(a)) => d.remove_decayed(value, ts.into_inner(), micros(&h)?, a.into_inner()),
        _ => Ok(Removal::Done),
    })
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_ewma_trans(
    state: Internal,
    value: Option<f64>,
    ts: Option<TimestampWithTimeZone>,
    half_life: Option<Interval>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    step(state, fcinfo, "feature_ewma", |d| match (value, ts, half_life) {
        (Some(v), Some(ts), Some(h)) => d.add_ewma(v, ts.into_inner(), micros(&h)?).map(|_| Removal::Done),
        _ => Ok(Removal::Done),
    })
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_ewma_inv(
    state: Internal,
    value: Option<f64>,
    ts: Option<TimestampWithTimeZone>,
    half_life: Option<Interval>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    step(state, fcinfo, "feature_ewma", |d| match (value, ts, half_life) {
        (Some(v), Some(ts), Some(h)) => d.remove_ewma(v, ts.into_inner(), micros(&h)?),
        _ => Ok(Removal::Done),
    })
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_decay_combine(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    combine(a, b, fcinfo, |x: &mut Decay, y: &Decay| x.merge(y).or_raise("_feature_decay_combine"))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn _feature_decay_serial(state: Internal) -> Vec<u8> {
    read_state(Some(state), Decay::to_bytes).unwrap_or_else(|| Decay::default().to_bytes())
}

#[pg_extern(immutable, strict, parallel_safe)]
fn _feature_decay_deserial(bytes: &[u8], _unused: Internal) -> Internal {
    Internal::new(Decay::from_bytes(bytes).or_raise("_feature_decay_deserial"))
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_decayed_sum_final(state: Option<Internal>) -> f64 {
    read_state(state, Decay::decayed_sum).unwrap_or(0.0)
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_ewma_final(state: Option<Internal>) -> Option<f64> {
    read_state(state, Decay::ewma).flatten()
}

extension_sql!(
    r#"
create aggregate feature_decayed_sum(value double precision, ts timestamptz, half_life interval, as_of timestamptz) (
    sfunc = _feature_decay_trans, stype = internal, finalfunc = _feature_decayed_sum_final,
    combinefunc = _feature_decay_combine,
    serialfunc = _feature_decay_serial, deserialfunc = _feature_decay_deserial,
    msfunc = _feature_decay_trans, minvfunc = _feature_decay_inv, mstype = internal,
    mfinalfunc = _feature_decayed_sum_final, parallel = safe
);
create aggregate feature_ewma(value double precision, ts timestamptz, half_life interval) (
    sfunc = _feature_ewma_trans, stype = internal, finalfunc = _feature_ewma_final,
    combinefunc = _feature_decay_combine,
    serialfunc = _feature_decay_serial, deserialfunc = _feature_decay_deserial,
    msfunc = _feature_ewma_trans, minvfunc = _feature_ewma_inv, mstype = internal,
    mfinalfunc = _feature_ewma_final, parallel = safe
);

comment on aggregate feature_decayed_sum(double precision, timestamptz, interval, timestamptz) is
'Exponentially time-decayed sum: sum of value * 2^(-(as_of - ts) / half_life) over the rows with ts <= their own as_of (rows stamped after their as_of are ignored: no leakage). When rows carry different as_of values the sum is evaluated at the latest as_of seen; in a window ordered by ts with as_of = ts that is the current row. half_life must be positive and without months (22023) and the same on every row. A row with a NULL value adds nothing but still sets the evaluation time; rows with a NULL ts, half_life or as_of are skipped; 0 for empty input. Parallel, O(1) per row in sliding windows.';
comment on aggregate feature_ewma(double precision, timestamptz, interval) is
'Time-decayed weighted mean: sum(value * w) / sum(w) with w = 2^(ts / half_life), so a row one half-life older weighs half as much; independent of the evaluation time. half_life must be positive and without months (22023) and the same on every row. Rows with a NULL argument are skipped; NULL for empty input. Parallel, O(1) per row in sliding windows.';

comment on function _feature_decay_trans(internal, double precision, timestamptz, interval, timestamptz) is 'internal: transition function of feature_decayed_sum';
comment on function _feature_decay_inv(internal, double precision, timestamptz, interval, timestamptz) is 'internal: inverse transition function of feature_decayed_sum';
comment on function _feature_ewma_trans(internal, double precision, timestamptz, interval) is 'internal: transition function of feature_ewma';
comment on function _feature_ewma_inv(internal, double precision, timestamptz, interval) is 'internal: inverse transition function of feature_ewma';
comment on function _feature_decay_combine(internal, internal) is 'internal: parallel combine function of feature_decayed_sum and feature_ewma';
comment on function _feature_decay_serial(internal) is 'internal: serialises the state of feature_decayed_sum and feature_ewma';
comment on function _feature_decay_deserial(bytea, internal) is 'internal: deserialises the state of feature_decayed_sum and feature_ewma';
comment on function _feature_decayed_sum_final(internal) is 'internal: final function of feature_decayed_sum';
comment on function _feature_ewma_final(internal) is 'internal: final function of feature_ewma';
"#,
    name = "feature_decay_aggregates",
    requires = [
        _feature_decay_trans,
        _feature_decay_inv,
        _feature_ewma_trans,
        _feature_ewma_inv,
        _feature_decay_combine,
        _feature_decay_serial,
        _feature_decay_deserial,
        _feature_decayed_sum_final,
        _feature_ewma_final
    ]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn decay_aggregates_have_parallel_and_moving_support() {
        let q = "select string_agg(p.proname || ':' || a.aggminvtransfn::text, ',' order by p.proname)
                   from pg_aggregate a join pg_proc p on p.oid = a.aggfnoid
                  where p.proname in ('feature_decayed_sum', 'feature_ewma')
                    and a.aggtranstype = 'internal'::regtype and a.aggmtranstype = 'internal'::regtype
                    and a.aggcombinefn = '_feature_decay_combine'::regproc
                    and a.aggserialfn = '_feature_decay_serial'::regproc
                    and a.aggdeserialfn = '_feature_decay_deserial'::regproc
                    and a.aggmtransfn = a.aggtransfn and a.aggmfinalfn = a.aggfinalfn and p.proparallel = 's'";
        assert_eq!(
            Spi::get_one::<String>(q),
            Ok(Some("feature_decayed_sum:_feature_decay_inv,feature_ewma:_feature_ewma_inv".into()))
        );
    }

    #[pg_test]
    fn hand_derived_values() {
        let q = "select format('%s|%s|%s|%s',
                    feature_decayed_sum(1, timestamptz '2025-01-01 11:00+00', interval '1 hour', timestamptz '2025-01-01 12:00+00'),
                    feature_decayed_sum(1, timestamptz '2025-01-01 10:00+00', interval '1 hour', timestamptz '2025-01-01 12:00+00'),
                    feature_decayed_sum(1, timestamptz '2025-01-01 13:00+00', interval '1 hour', timestamptz '2025-01-01 12:00+00'),
                    feature_ewma(1, timestamptz '2025-01-01 13:00+00', interval '1 hour'))";
        assert_eq!(Spi::get_one::<String>(q), Ok(Some("0.5|0.25|0|1".into())));
        let empty = Spi::get_one::<String>(
            "select format('%s|%s', feature_decayed_sum(x, now(), interval '1 hour', now()),
                                    feature_ewma(x, now(), interval '1 hour') is null)
               from (values (null::float8)) t(x)",
        );
        assert_eq!(empty, Ok(Some("0|t".into())));
        // Rows with different as_of: evaluated at the latest one (12:00): 1·2^-2 + 1·2^0.
        let latest = Spi::get_one::<f64>(
            "select feature_decayed_sum(1, ts, interval '1 hour', a) from (values
               (timestamptz '2025-01-01 10:00+00', timestamptz '2025-01-01 10:00+00'),
               (timestamptz '2025-01-01 12:00+00', timestamptz '2025-01-01 12:00+00')) t(ts, a)",
        );
        assert_eq!(latest, Ok(Some(1.25)));
    }

    /// Sliding RANGE windows against a naive correlated-subquery computation.
    #[pg_test]
    fn sliding_windows_match_naive_sql() {
        Spi::run(
            "select setseed(0.5);
             create table dv as
             select (i % 5) as k, timestamptz '2025-03-01' + i * interval '23 seconds' as ts,
                    (random() * 100)::float8 as x
               from generate_series(1, 3000) i;",
        )
        .unwrap();
        let w = "from dv o window w as (partition by k order by ts range between interval '10 minutes' preceding and current row)";
        let naive_sum = "(select sum(i.x * power(2, -extract(epoch from o.ts - i.ts) / 60)) from dv i
                           where i.k = o.k and i.ts between o.ts - interval '10 minutes' and o.ts)";
        assert_eq!(
            super::super::tests::mismatches(
                "feature_decayed_sum(x, ts, interval '1 minute', ts) over w",
                naive_sum,
                1e-9,
                w
            ),
            0
        );
        let naive_ewma = "(select sum(i.x * power(2, extract(epoch from i.ts - o.ts) / 120))
                                / sum(power(2, extract(epoch from i.ts - o.ts) / 120)) from dv i
                           where i.k = o.k and i.ts between o.ts - interval '10 minutes' and o.ts)";
        assert_eq!(
            super::super::tests::mismatches("feature_ewma(x, ts, interval '2 minutes') over w", naive_ewma, 1e-9, w),
            0
        );
        // Plain aggregation across a year with a one-minute half-life needs rebasing; only the
        // last row counts (everything else decayed below 2^-60).
        let year = Spi::get_one::<f64>(
            "select feature_decayed_sum(1, ts, interval '1 minute', timestamptz '2025-12-31')
               from generate_series(timestamptz '2025-01-01', timestamptz '2025-12-31', interval '1 hour') ts",
        );
        assert_eq!(year, Ok(Some(1.0)));
    }

    #[pg_test]
    fn decay_parallel_combine_matches_serial() {
        Spi::run(
            "create table dp as select timestamptz '2025-01-01' + i * interval '1 minute' as ts, (i % 17)::float8 as x
               from generate_series(1, 200000) i;
             analyze dp;
             set local parallel_setup_cost = 0; set local parallel_tuple_cost = 0;
             set local min_parallel_table_scan_size = 0; set local max_parallel_workers_per_gather = 2;",
        )
        .unwrap();
        let q = "select feature_ewma(x, ts, interval '1 day') from dp";
        let plan = Spi::connect(|c| {
            c.select(&format!("explain (costs off) {q}"), None, &[])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        });
        assert!(plan.contains("Partial Aggregate"), "{plan}");
        let parallel = Spi::get_one::<f64>(q).unwrap().unwrap();
        Spi::run("set local max_parallel_workers_per_gather = 0").unwrap();
        let serial = Spi::get_one::<f64>(q).unwrap().unwrap();
        assert!((parallel - serial).abs() <= 1e-12 * serial.abs(), "{parallel} vs {serial}");
    }

    #[pg_test(error = "half_life must not have a months or years component")]
    fn months_are_refused() {
        Spi::get_one::<f64>("select feature_ewma(1, now(), interval '1 month')").unwrap();
    }
}
