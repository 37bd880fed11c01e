//! SQL layer of drift: the `drift_profile` type and aggregates, the comparisons and `drift_test`.
//!
//! Scale-out (Citus): profiles are a real type with text I/O, so each shard's profile ships as
//! text and `drift_profile_merge` rolls them up exactly as the parallel combine does.
mod fast;
mod query;

use super::core::compare::{self, Cells, Test};
use super::core::{ks, CategoricalState, MergeState, Profile};
use crate::aggregate::{combine, ensure_state, read_state, with_state};
use crate::error::{OrRaise, PulseError, Result};
use pgrx::prelude::*;
use pgrx::{pg_sys, Internal, JsonB, StringInfo};
use serde::{Deserialize, Serialize};

/// A column's distribution (see `core`); text form is JSON.
#[allow(non_camel_case_types)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, PostgresType)]
#[serde(transparent)]
#[inoutfuncs]
pub struct drift_profile(pub(crate) Profile);

impl InOutFuncs for drift_profile {
    fn input(input: &core::ffi::CStr) -> Self {
        let text = input.to_str().unwrap_or_default();
        drift_profile(Profile::parse(text).or_raise("drift_profile_in"))
    }

    fn output(&self, buffer: &mut StringInfo) {
        buffer.push_str(&self.0.to_text());
    }
}

// ---------------------------------------------------------------------------------------------
// Aggregates. One state type (MergeState) serves all three, so they share combine/serial/final.
// ---------------------------------------------------------------------------------------------

#[pg_extern(immutable, parallel_safe)]
fn _drift_profile_text_trans(state: Internal, value: Option<&str>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    let mut state = ensure_state::<MergeState>(state, fcinfo);
    let result = with_state(&mut state, |s: &mut MergeState| {
        if matches!(s, MergeState::Empty) {
            *s = MergeState::Categorical(CategoricalState::default());
        }
        match (s, value) {
            (MergeState::Categorical(c), Some(v)) => c.add(v),
            (MergeState::Categorical(c), None) => {
                c.add_null();
                Ok(())
            }
            _ => Ok(()),
        }
    });
    if let Some(Err(e)) = result {
        e.raise("drift_profile");
    }
    state
}

#[pg_extern(immutable, parallel_safe)]
fn _drift_profile_merge_trans(
    state: Internal,
    value: Option<drift_profile>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    let Some(p) = value else { return state };
    let mut state = ensure_state::<MergeState>(state, fcinfo);
    if let Some(Err(e)) = with_state(&mut state, |s: &mut MergeState| s.add(&p.0)) {
        e.raise("drift_profile_merge");
    }
    state
}

#[pg_extern(immutable, parallel_safe)]
fn _drift_profile_combine(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    combine(a, b, fcinfo, |x: &mut MergeState, y: &MergeState| x.merge(y).or_raise("drift_profile"))
}

/// Partial states travel uncapped, so a parallel categorical profile equals the serial one.
#[pg_extern(immutable, strict, parallel_safe)]
fn _drift_profile_serial(state: Internal) -> Vec<u8> {
    let profile = read_state(Some(state), |s: &MergeState| s.profile(false)).flatten();
    profile.map(|p| p.to_text().into_bytes()).unwrap_or_default()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn _drift_profile_deserial(bytes: &[u8], _unused: Internal) -> Internal {
    if bytes.is_empty() {
        return Internal::new(MergeState::default());
    }
    // Written by _drift_profile_serial: JSON without the categorical cap (so no validation of it).
    let text = std::str::from_utf8(bytes).unwrap_or_default();
    let profile: Profile = serde_json::from_str(text)
        .map_err(|e| PulseError::new(crate::error::Kind::Internal, format!("corrupt partial drift profile: {e}")))
        .or_raise("_drift_profile_deserial");
    Internal::new(MergeState::from_profile(&profile))
}

#[pg_extern(immutable, parallel_safe)]
fn _drift_profile_final(state: Option<Internal>) -> Option<drift_profile> {
    read_state(state, |s: &MergeState| s.profile(true)).flatten().map(drift_profile)
}

/// Zero rows: an empty profile of the aggregate's kind (storable, and comparisons say why).
#[pg_extern(immutable, parallel_safe)]
fn _drift_profile_final_numeric(state: Option<Internal>) -> drift_profile {
    _drift_profile_final(state).unwrap_or(drift_profile(Profile::Numeric(Default::default())))
}

#[pg_extern(immutable, parallel_safe)]
fn _drift_profile_final_text(state: Option<Internal>) -> drift_profile {
    _drift_profile_final(state).unwrap_or(drift_profile(Profile::Categorical(Default::default())))
}

extension_sql!(
    r#"
create function _drift_profile_trans(internal, double precision) returns internal
    language c immutable parallel safe as 'MODULE_PATHNAME', '_drift_profile_trans';
create aggregate drift_profile(value double precision) (
    sfunc = _drift_profile_trans, stype = internal, finalfunc = _drift_profile_final_numeric,
    combinefunc = _drift_profile_combine,
    serialfunc = _drift_profile_serial, deserialfunc = _drift_profile_deserial, parallel = safe
);
create aggregate drift_profile(value text) (
    sfunc = _drift_profile_text_trans, stype = internal, finalfunc = _drift_profile_final_text,
    combinefunc = _drift_profile_combine,
    serialfunc = _drift_profile_serial, deserialfunc = _drift_profile_deserial, parallel = safe
);
create aggregate drift_profile_merge(profile drift_profile) (
    sfunc = _drift_profile_merge_trans, stype = internal, finalfunc = _drift_profile_final,
    combinefunc = _drift_profile_combine,
    serialfunc = _drift_profile_serial, deserialfunc = _drift_profile_deserial, parallel = safe
);

comment on type drift_profile is
'The distribution of one column, in bounded space. numeric: exact n, mean, m2 (sum of squared deviations), min, max, counts of NULL, NaN, +inf and -inf (counted apart, excluded from every statistic), and a histogram of at most 4096 non-empty buckets over the values'' order-preserving bit patterns (key >> level, at the smallest level that fits: exact, one bucket per value, up to 4096 distinct values). categorical: counts of the 1000 most frequent values, the rest pooled in other, and NULLs. Text form is JSON; store it, ship it between nodes, roll it up with drift_profile_merge.';
comment on aggregate drift_profile(double precision) is
'Numeric drift profile of the values (integers and numerics cast implicitly). NULL, NaN and +-infinity are counted apart and excluded from the statistics. Zero rows give an empty profile (n = 0), which comparisons refuse with 22023. Parallel safe: the bucket level depends only on the values, so a parallel profile equals the serial one bucket for bucket (mean and m2 to rounding).';
comment on aggregate drift_profile(text) is
'Categorical drift profile: the count of each value (the 1000 most frequent kept, the rest pooled in other; ties by value) and of NULLs. At most 1,000,000 distinct values per aggregate (54000 beyond). Parallel safe; partial states are exact, so parallel equals serial.';
comment on aggregate drift_profile_merge(drift_profile) is
'Rolls profiles up (daily to weekly, shards to total): the same buckets as profiling all the rows at once (mean and m2 to rounding). Categorical profiles merge their named counts; values another profile pooled in other stay in other. Mixing kinds: 22023. NULL for no rows.';
comment on function _drift_profile_trans(internal, double precision) is 'internal: transition function of drift_profile(float8)';
comment on function _drift_profile_text_trans(internal, text) is 'internal: transition function of drift_profile(text)';
comment on function _drift_profile_merge_trans(internal, drift_profile) is 'internal: transition function of drift_profile_merge';
comment on function _drift_profile_combine(internal, internal) is 'internal: parallel combine function of the drift_profile aggregates';
comment on function _drift_profile_serial(internal) is 'internal: serialises a drift_profile aggregate state';
comment on function _drift_profile_deserial(bytea, internal) is 'internal: deserialises a drift_profile aggregate state';
comment on function _drift_profile_final(internal) is 'internal: final function of drift_profile_merge';
comment on function _drift_profile_final_numeric(internal) is 'internal: final function of drift_profile(float8)';
comment on function _drift_profile_final_text(internal) is 'internal: final function of drift_profile(text)';
comment on function drift_profile_in(cstring) is 'internal: text input of type drift_profile (JSON)';
comment on function drift_profile_out(drift_profile) is 'internal: text output of type drift_profile (JSON)';
"#,
    name = "drift_profile_aggregates",
    requires = [
        _drift_profile_text_trans,
        _drift_profile_merge_trans,
        _drift_profile_combine,
        _drift_profile_serial,
        _drift_profile_deserial,
        _drift_profile_final,
        _drift_profile_final_numeric,
        _drift_profile_final_text,
        drift_profile
    ]
);

// ---------------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------------

/// Readable facts of a profile.
#[pg_extern(immutable, strict, parallel_safe)]
fn drift_summary(profile: drift_profile) -> JsonB {
    let value = match &profile.0 {
        Profile::Numeric(p) => {
            let exact = p.level == 0;
            serde_json::json!({
                "kind": "numeric", "count": p.n, "nulls": p.nulls, "nans": p.nans,
                "pos_inf": p.pos_inf, "neg_inf": p.neg_inf,
                "mean": (p.n > 0).then_some(p.mean),
                "stddev": (p.n > 1).then(|| (p.m2 / (p.n - 1) as f64).sqrt()),
                "min": p.min, "max": p.max, "level": p.level, "buckets": p.buckets.len(),
                "exact": exact, "distinct": exact.then_some(p.buckets.len()),
            })
        }
        Profile::Categorical(p) => serde_json::json!({
            "kind": "categorical", "count": p.n, "nulls": p.nulls, "other": p.other,
            "categories": p.categories.len(),
        }),
    };
    JsonB(value)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn drift_bins(
    reference: drift_profile,
    current: drift_profile,
    bins: default!(i32, 10),
) -> TableIterator<
    'static,
    (name!(bin, i32), name!(lower, f64), name!(upper, f64), name!(ref_count, i64), name!(cur_count, i64)),
> {
    let rows = compare::bins(&reference.0, &current.0, bins).or_raise("drift_bins");
    TableIterator::new(
        rows.into_iter()
            .enumerate()
            .map(|(i, b)| (i as i32 + 1, b.lower, b.upper, b.reference as i64, b.current as i64)),
    )
}

#[pg_extern(immutable, strict, parallel_safe)]
fn drift_categories(
    reference: drift_profile,
    current: drift_profile,
) -> TableIterator<'static, (name!(category, Option<String>), name!(ref_count, i64), name!(cur_count, i64))> {
    let cells = compare::categories(&reference.0, &current.0).or_raise("drift_categories");
    TableIterator::new(cells.into_iter().map(|c| (c.category, c.reference as i64, c.current as i64)))
}

// ---------------------------------------------------------------------------------------------
// Comparisons
// ---------------------------------------------------------------------------------------------

#[pg_extern(immutable, strict, parallel_safe)]
fn drift_ks(
    reference: drift_profile,
    current: drift_profile,
) -> TableIterator<'static, (name!(statistic, f64), name!(p_value, f64))> {
    TableIterator::once(compare::ks_test(&reference.0, &current.0).or_raise("drift_ks"))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn drift_ks_exact(
    a: Array<f64>,
    b: Array<f64>,
) -> TableIterator<'static, (name!(statistic, f64), name!(p_value, f64))> {
    let read = |arr: &Array<f64>, side: &str| -> Result<Vec<f64>> {
        let v: Vec<f64> = arr.iter().flatten().collect();
        if v.iter().any(|x| x.is_nan()) {
            return Err(PulseError::invalid(format!("sample {side} contains NaN"))
                .hint("Filter NaN out; the KS test orders the values."));
        }
        if v.is_empty() {
            return Err(PulseError::invalid(format!("sample {side} has no non-NULL values")));
        }
        Ok(v)
    };
    let (a, b) = (read(&a, "a").or_raise("drift_ks_exact"), read(&b, "b").or_raise("drift_ks_exact"));
    TableIterator::once(ks::ks_2samp(&a, &b))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn drift_chi2(
    reference: drift_profile,
    current: drift_profile,
    bins: default!(i32, 10),
) -> TableIterator<'static, (name!(statistic, f64), name!(p_value, f64))> {
    TableIterator::once(Cells::of(&reference.0, &current.0, bins).or_raise("drift_chi2").chi2())
}

#[pg_extern(immutable, strict, parallel_safe)]
fn drift_ztest(
    reference: drift_profile,
    current: drift_profile,
) -> TableIterator<'static, (name!(statistic, f64), name!(p_value, f64))> {
    TableIterator::once(compare::ztest(&reference.0, &current.0).or_raise("drift_ztest"))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn drift_psi(reference: drift_profile, current: drift_profile, bins: default!(i32, 10)) -> f64 {
    Cells::of(&reference.0, &current.0, bins).or_raise("drift_psi").psi()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn drift_js(reference: drift_profile, current: drift_profile, bins: default!(i32, 10)) -> f64 {
    Cells::of(&reference.0, &current.0, bins).or_raise("drift_js").js()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn drift_wasserstein(reference: drift_profile, current: drift_profile, normalized: default!(bool, false)) -> f64 {
    compare::wasserstein(&reference.0, &current.0, normalized).or_raise("drift_wasserstein")
}

/// One column's verdict; `threshold` wins over `thresholds ->> test`, which wins over the default.
#[pg_extern(immutable, parallel_safe)]
fn drift_test(
    reference: Option<drift_profile>,
    current: Option<drift_profile>,
    test: default!(Option<&str>, "NULL"),
    threshold: default!(Option<f64>, "NULL"),
    thresholds: default!(Option<JsonB>, "NULL"),
    column_name: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(kind, String),
        name!(test, String),
        name!(statistic, f64),
        name!(p_value, Option<f64>),
        name!(threshold, f64),
        name!(drifted, bool),
    ),
> {
    let outcome = run(reference, current, test, threshold, thresholds)
        .map_err(|mut e| {
            // drift_report passes the column, so its errors say which one.
            if let Some(c) = column_name {
                e.message = format!("column \"{c}\": {}", e.message);
            }
            e
        })
        .or_raise("drift_test");
    TableIterator::once((
        outcome.kind.to_owned(),
        outcome.test.name().to_owned(),
        outcome.statistic,
        outcome.p_value,
        outcome.threshold,
        outcome.drifted,
    ))
}

fn run(
    reference: Option<drift_profile>,
    current: Option<drift_profile>,
    test: Option<&str>,
    threshold: Option<f64>,
    thresholds: Option<JsonB>,
) -> Result<compare::Outcome> {
    let (Some(a), Some(b)) = (reference, current) else {
        return Err(PulseError::new(crate::error::Kind::NullValue, "drift_test needs both profiles")
            .hint("A column without a stored reference profile has nothing to compare with."));
    };
    let test = test.map(Test::parse).transpose()?;
    // The explicit threshold, else thresholds ->> (the chosen test), else the test's default.
    let by_test = |chosen: Test| match thresholds.as_ref().map(|j| &j.0) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(m)) => m
            .get(chosen.name())
            .map(|v| {
                v.as_f64().ok_or_else(|| {
                    PulseError::invalid(format!("threshold for {} must be a number, not {v}", chosen.name()))
                })
            })
            .transpose(),
        Some(other) => Err(PulseError::invalid(format!("thresholds must be a JSON object, not {other}"))
            .hint("For example {\"psi\": 0.2, \"ks\": 0.01}.")),
    };
    compare::run_test(&a.0, &b.0, test, |chosen| Ok(threshold.or(by_test(chosen)?)))
}

extension_sql!(
    r#"
comment on function drift_summary(drift_profile) is
'Facts of a profile as jsonb. numeric: kind, count (finite values), nulls, nans, pos_inf, neg_inf, mean, stddev (sample, n-1), min, max, level, buckets, exact (level 0: one bucket per distinct value) and distinct (when exact). categorical: kind, count, nulls, other, categories (named).';
comment on function drift_bins(drift_profile, drift_profile, int) is
'The bins PSI, JS and chi-square use for numeric profiles: reference-quantile bins on bucket boundaries at the two profiles'' common level, so both counts are exact. Edge i closes the first bucket where the reference reaches i/bins of its rows; repeated edges (ties) are dropped. An edge at the end of the reference''s last bucket is dropped too, so the last bin holds reference rows. Bins are [lower, upper), the first from -Infinity, the last to Infinity. bins in 1..10000, else 22023.';
comment on function drift_categories(drift_profile, drift_profile) is
'The cells PSI, JS, chi-square and the z-test use for categorical profiles: the union of both profiles'' categories in byte order (not the collation) (0 where a side lacks one), then a NULL category holding the pooled other counts when either profile has some.';
comment on function drift_ks(drift_profile, drift_profile) is
'Two-sample Kolmogorov-Smirnov test of two numeric profiles: statistic = max |F_ref - F_cur| over the bucket boundaries at their common level. Exact when both profiles are exact (<= 4096 distinct values each); otherwise KS_sketch <= KS_exact <= KS_sketch + the largest share either profile has in one bucket. p_value as scipy.stats.ks_2samp(method=auto): the exact distribution when both are exact and max(n1, n2) <= 10000 (the statistic then rounded to the h/lcm(n1, n2) lattice), else the asymptotic kstwo.sf(d, round(n1 n2 / (n1 + n2))).';
comment on function drift_ks_exact(float8[], float8[]) is
'scipy.stats.ks_2samp(a, b) (two-sided, method auto) on raw samples: the exact p-value when max(n1, n2) <= 10000 (Hodges'' lattice-path counts; asymptotic if that overflows), else kstwo.sf(d, round(n1 n2 / (n1 + n2))) by Simard and L''Ecuyer. NULL elements are skipped, +-infinity allowed; NaN or an empty sample: 22023.';
comment on function drift_chi2(drift_profile, drift_profile, int) is
'Pearson chi-square test of homogeneity on the 2 x k table of counts (scipy.stats.chi2_contingency with correction=False), over the categories (drift_categories), the distinct values of exact numeric profiles with <= 5 of them, or the reference-quantile bins (drift_bins). Cells empty on both sides are dropped; dof = k - 1; fewer than two cells gives (0, 1).';
comment on function drift_ztest(drift_profile, drift_profile) is
'Two-proportion z-test (pooled variance) on the share of the first category in byte order (numeric: the smaller value), for binary columns (categorical, or numeric with at most two distinct values) (Evidently''s z_stat_test): z = (p_ref - p_cur) / sqrt(P(1-P)(1/n_ref + 1/n_cur)), p = 2(1 - Phi(|z|)). More than two categories: 22023. P of 0 or 1 gives (0, 1).';
comment on function drift_psi(drift_profile, drift_profile, int) is
'Population stability index: sum over cells of (r - c) ln(r / c) with r, c the reference and current shares over drift_bins (numeric, reference-quantile bins, default 10; exact profiles with at most 5 distinct values on both sides: one cell per value, bins ignored) or drift_categories; an empty share is replaced by 1e-4 (Evidently''s epsilon), without renormalising.';
comment on function drift_js(drift_profile, drift_profile, int) is
'Jensen-Shannon distance (natural log; the square root of the divergence, in [0, sqrt(ln 2)]) between the reference and current shares over the same cells as drift_psi (bins ignored for exact numeric profiles with at most 5 distinct values), like scipy.spatial.distance.jensenshannon.';
comment on function drift_wasserstein(drift_profile, drift_profile, boolean) is
'First Wasserstein distance: the integral of |F_ref - F_cur|, each bucket''s mass spread uniformly over its value range (clamped to the profile''s min and max); exact (scipy.stats.wasserstein_distance) for exact profiles. The error is at most sum over buckets of width x (p_ref + p_cur). normalized: divided by the reference''s population standard deviation, like Evidently; a constant reference then gives 22023.';
comment on function drift_test(drift_profile, drift_profile, text, float8, jsonb, text) is
'One column''s drift verdict: (kind, test, statistic, p_value, threshold, drifted). Without a test it chooses like Evidently''s data-drift preset: numeric profiles with <= 5 distinct values are tested as categorical; a reference of <= 1000 rows gets ks (numeric), chi2 (more than two categories) or ztest; larger references get wasserstein (divided by max(reference population std, 0.001), like Evidently) or js. p-value tests (ks, chi2, ztest) flag drift when p < threshold (default 0.05); distances (wasserstein, psi, js) when statistic >= threshold (default 0.1). threshold wins over thresholds->>test. column_name only labels error messages. A NULL profile: 22004.';
"#,
    name = "drift_comments",
    requires = [
        drift_summary,
        drift_bins,
        drift_categories,
        drift_ks,
        drift_ks_exact,
        drift_chi2,
        drift_ztest,
        drift_psi,
        drift_js,
        drift_wasserstein,
        drift_test
    ]
);
