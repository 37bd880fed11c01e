//! SQL layer of `feature_approx_distinct`.
use super::{combine, ensure_state, read_state, with_state};
use crate::error::OrRaise;
use crate::features::core::decay::Removal;
use crate::features::core::distinct::Distinct;
use pgrx::prelude::*;
use pgrx::{pg_sys, Internal};

#[pg_extern(immutable, parallel_safe)]
fn _feature_distinct_trans(state: Internal, value: Option<&str>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    let mut state = ensure_state::<Distinct>(state, fcinfo);
    if let Some(v) = value {
        with_state(&mut state, |d: &mut Distinct| d.add(v.as_bytes()));
    }
    state
}

/// Exact mode removes the value; sketch mode returns NULL, so Postgres recomputes the frame.
#[pg_extern(immutable, parallel_safe)]
fn _feature_distinct_inv(state: Internal, value: Option<&str>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    let mut state = ensure_state::<Distinct>(state, fcinfo);
    match value.and_then(|v| with_state(&mut state, |d: &mut Distinct| d.remove(v.as_bytes()))) {
        Some(Removal::Restart) => Internal::default(),
        _ => state,
    }
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_distinct_combine(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    combine(a, b, fcinfo, |x: &mut Distinct, y: &Distinct| x.merge(y))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn _feature_distinct_serial(state: Internal) -> Vec<u8> {
    read_state(Some(state), Distinct::to_bytes).unwrap_or_else(|| Distinct::default().to_bytes())
}

#[pg_extern(immutable, strict, parallel_safe)]
fn _feature_distinct_deserial(bytes: &[u8], _unused: Internal) -> Internal {
    Internal::new(Distinct::from_bytes(bytes).or_raise("_feature_distinct_deserial"))
}

#[pg_extern(immutable, parallel_safe)]
fn _feature_distinct_final(state: Option<Internal>) -> i64 {
    read_state(state, Distinct::estimate).unwrap_or(0)
}

extension_sql!(
    r#"
create aggregate feature_approx_distinct(value text) (
    sfunc = _feature_distinct_trans, stype = internal, finalfunc = _feature_distinct_final,
    combinefunc = _feature_distinct_combine,
    serialfunc = _feature_distinct_serial, deserialfunc = _feature_distinct_deserial,
    msfunc = _feature_distinct_trans, minvfunc = _feature_distinct_inv, mstype = internal,
    mfinalfunc = _feature_distinct_final, parallel = safe
);

comment on aggregate feature_approx_distinct(text) is
'Number of distinct non-NULL values: exact (64-bit XXH3 hashes with multiplicities) up to 1024 distinct values, beyond that a HyperLogLog estimate with 4096 registers (standard error about 1.6 %). 0 for empty input. Parallel; in sliding windows O(1) per row while exact, the frame is recomputed once it is an estimate.';

comment on function _feature_distinct_trans(internal, text) is 'internal: transition function of feature_approx_distinct';
comment on function _feature_distinct_inv(internal, text) is 'internal: inverse transition function of feature_approx_distinct (NULL in HyperLogLog mode: the frame is recomputed)';
comment on function _feature_distinct_combine(internal, internal) is 'internal: parallel combine function of feature_approx_distinct';
comment on function _feature_distinct_serial(internal) is 'internal: serialises the state of feature_approx_distinct';
comment on function _feature_distinct_deserial(bytea, internal) is 'internal: deserialises the state of feature_approx_distinct';
comment on function _feature_distinct_final(internal) is 'internal: final function of feature_approx_distinct';
"#,
    name = "feature_distinct_aggregate",
    requires = [
        _feature_distinct_trans,
        _feature_distinct_inv,
        _feature_distinct_combine,
        _feature_distinct_serial,
        _feature_distinct_deserial,
        _feature_distinct_final
    ]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn distinct_aggregate_has_parallel_and_moving_support() {
        let q = "select count(*) from pg_aggregate a join pg_proc p on p.oid = a.aggfnoid
                  where p.proname = 'feature_approx_distinct'
                    and a.aggtranstype = 'internal'::regtype and a.aggmtranstype = 'internal'::regtype
                    and a.aggcombinefn = '_feature_distinct_combine'::regproc
                    and a.aggserialfn = '_feature_distinct_serial'::regproc
                    and a.aggdeserialfn = '_feature_distinct_deserial'::regproc
                    and a.aggmtransfn = '_feature_distinct_trans'::regproc
                    and a.aggminvtransfn = '_feature_distinct_inv'::regproc
                    and a.aggmfinalfn = '_feature_distinct_final'::regproc and p.proparallel = 's'";
        assert_eq!(Spi::get_one::<i64>(q), Ok(Some(1)));
    }

    #[pg_test]
    fn range_window_equals_count_distinct_while_small() {
        Spi::run(
            "select setseed(0.75);
             create table dd as
             select (i % 3) as k, timestamptz '2025-02-01' + i * interval '11 seconds' as ts,
                    case when i % 41 = 0 then null else 'sku-' || floor(random() * 60)::int end as sku
               from generate_series(1, 3000) i;",
        )
        .unwrap();
        let mismatched = Spi::get_one::<i64>(
            "select count(*) from (
               select feature_approx_distinct(sku) over w as approx,
                      (select count(distinct i.sku) from dd i
                        where i.k = o.k and i.ts between o.ts - interval '10 minutes' and o.ts) as exact
                 from dd o
               window w as (partition by k order by ts range between interval '10 minutes' preceding and current row)) s
              where approx <> exact",
        );
        assert_eq!(mismatched, Ok(Some(0)));
        let (empty, nulls) = (
            Spi::get_one::<i64>("select feature_approx_distinct(x) from (values ('a')) t(x) where false"),
            Spi::get_one::<i64>("select feature_approx_distinct(x) from (values (null::text), (null)) t(x)"),
        );
        assert_eq!((empty, nulls), (Ok(Some(0)), Ok(Some(0))));
    }

    #[pg_test]
    fn large_windows_fall_back_to_recomputation_and_stay_close() {
        // 2000 distinct values per frame: a sketch, so the inverse returns NULL and Postgres
        // recomputes each frame. The estimate stays within 5 % of the truth.
        let bad = Spi::get_one::<i64>(
            "select count(*) from (
               select feature_approx_distinct(i::text) over (order by i rows between 1999 preceding and current row) as a,
                      least(i, 2000) as truth
                 from generate_series(1, 2300) i) s
              where abs(a - truth) > 0.05 * truth",
        );
        assert_eq!(bad, Ok(Some(0)));
    }

    #[pg_test]
    fn parallel_estimate_is_close() {
        Spi::run(
            "create table dpar as select 'user-' || (i % 100000) as u from generate_series(1, 200000) i;
             analyze dpar;
             set local parallel_setup_cost = 0; set local parallel_tuple_cost = 0;
             set local min_parallel_table_scan_size = 0; set local max_parallel_workers_per_gather = 2;",
        )
        .unwrap();
        let plan = Spi::connect(|c| {
            c.select("explain (costs off) select feature_approx_distinct(u) from dpar", None, &[])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        });
        assert!(plan.contains("Partial Aggregate"), "{plan}");
        let n = Spi::get_one::<i64>("select feature_approx_distinct(u) from dpar").unwrap().unwrap();
        assert!((n - 100_000).abs() < 5_000, "{n}");
        let small =
            Spi::get_one::<i64>("select feature_approx_distinct((i % 700)::text) from generate_series(1, 200000) i");
        assert_eq!(small, Ok(Some(700)));
    }
}
