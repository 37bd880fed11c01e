//! SQL layer of experiment statistics: the `ab_stats` type and aggregates, `ab_compare`,
//! `ab_srm` and `ab_p_adjust_holm`.
//!
//! Scale-out design (Citus): `ab_stats` aggregates with an `internal` state (serial/deserial for
//! parallel workers) into the `ab_stats` type, a real type with text I/O. A distributed query
//! computes `ab_stats` per shard and group, ships the summaries as text, and rolls them up with
//! the `ab_stats_merge` aggregate, which merges centred sums exactly as the combine function does.
use super::super::core::stats::{self, Accumulator, Method, Summary};
use crate::aggregate::{combine, ensure_state, read_state, with_state};
use crate::error::{OrRaise, PulseError, Result};
use pgrx::prelude::*;
use pgrx::{pg_sys, Internal, StringInfo};
use serde::{Deserialize, Serialize};

/// Sufficient statistics of one variant's metric (see [`Summary`]); text form is JSON, e.g.
/// `{"n":3,"sum":6.0,"sxx":2.0,"binary":false}`.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, PostgresType)]
#[serde(transparent)]
#[inoutfuncs]
pub struct ab_stats(Summary);

impl InOutFuncs for ab_stats {
    fn input(input: &core::ffi::CStr) -> Self {
        let text = input.to_str().unwrap_or_default();
        ab_stats(Summary::parse(text).or_raise("ab_stats_in"))
    }

    fn output(&self, buffer: &mut StringInfo) {
        buffer.push_str(&self.0.to_text());
    }
}

// ---------------------------------------------------------------------------------------------
// Aggregates
// ---------------------------------------------------------------------------------------------

fn add(state: Internal, fcinfo: pg_sys::FunctionCallInfo, f: impl FnOnce(&mut Accumulator) -> Result<()>) -> Internal {
    let mut state = ensure_state::<Accumulator>(state, fcinfo);
    if let Some(Err(e)) = with_state(&mut state, f) {
        e.raise("ab_stats");
    }
    state
}

#[pg_extern(immutable, parallel_safe)]
fn _ab_stats_trans(state: Internal, value: Option<f64>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    match value {
        Some(y) => add(state, fcinfo, |a| a.add(y)),
        None => state,
    }
}

#[pg_extern(immutable, parallel_safe)]
fn _ab_stats_cov_trans(
    state: Internal,
    value: Option<f64>,
    covariate: Option<f64>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    match (value, covariate) {
        // Like the regr_* aggregates: a row counts only when both are present.
        (Some(y), Some(x)) => add(state, fcinfo, |a| a.add_with_covariate(y, x)),
        _ => state,
    }
}

#[pg_extern(immutable, parallel_safe)]
fn _ab_stats_merge_trans(state: Internal, value: Option<ab_stats>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    match value {
        Some(s) => add(state, fcinfo, |a| a.merge(&Accumulator::from_summary(&s.0))),
        None => state,
    }
}

#[pg_extern(immutable, parallel_safe)]
fn _ab_stats_combine(a: Option<Internal>, b: Option<Internal>, fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    combine(a, b, fcinfo, |x: &mut Accumulator, y: &Accumulator| x.merge(y).or_raise("ab_stats"))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn _ab_stats_serial(state: Internal) -> Vec<u8> {
    let summary = read_state(Some(state), Accumulator::summary).flatten();
    summary.map(|s| s.to_text().into_bytes()).unwrap_or_default()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn _ab_stats_deserial(bytes: &[u8], _unused: Internal) -> Internal {
    if bytes.is_empty() {
        return Internal::new(Accumulator::default());
    }
    let text = std::str::from_utf8(bytes).unwrap_or_default();
    Internal::new(Accumulator::from_summary(&Summary::parse(text).or_raise("_ab_stats_deserial")))
}

#[pg_extern(immutable, parallel_safe)]
fn _ab_stats_final(state: Option<Internal>) -> Option<ab_stats> {
    read_state(state, Accumulator::summary).flatten().map(ab_stats)
}

extension_sql!(
    r#"
create aggregate ab_stats(value double precision) (
    sfunc = _ab_stats_trans, stype = internal, finalfunc = _ab_stats_final,
    combinefunc = _ab_stats_combine,
    serialfunc = _ab_stats_serial, deserialfunc = _ab_stats_deserial, parallel = safe
);
create aggregate ab_stats(value double precision, covariate double precision) (
    sfunc = _ab_stats_cov_trans, stype = internal, finalfunc = _ab_stats_final,
    combinefunc = _ab_stats_combine,
    serialfunc = _ab_stats_serial, deserialfunc = _ab_stats_deserial, parallel = safe
);
create aggregate ab_stats_merge(summary ab_stats) (
    sfunc = _ab_stats_merge_trans, stype = internal, finalfunc = _ab_stats_final,
    combinefunc = _ab_stats_combine,
    serialfunc = _ab_stats_serial, deserialfunc = _ab_stats_deserial, parallel = safe
);

comment on type ab_stats is
'Sufficient statistics of one variant''s metric: n, sum, sxx (sum of squared deviations from the mean), binary (every value 0 or 1) and, with a covariate, sum_x, sxx_x and sxy (cross product of deviations). Text form is JSON; ship it between nodes and roll it up with ab_stats_merge.';
comment on aggregate ab_stats(double precision) is
'Sufficient statistics (type ab_stats) of the non-NULL values for ab_compare. NULL for no rows. NaN or infinite values: 22023. Parallel safe; the sums are shifted by the first value, so large offsets (1e9 + noise) keep their variance.';
comment on aggregate ab_stats(double precision, double precision) is
'Sufficient statistics (type ab_stats) of value with a covariate (the unit''s pre-experiment value) for CUPED in ab_compare. Rows where either is NULL are skipped, like regr_* aggregates. NULL for no rows; NaN or infinite: 22023. Parallel safe.';
comment on aggregate ab_stats_merge(ab_stats) is
'Rolls ab_stats summaries up (per day to per experiment, per shard to total) with Chan''s pairwise formulas: the same result as ab_stats over all rows, to rounding. 22023 when mixing summaries with and without a covariate. Parallel safe.';
comment on function _ab_stats_trans(internal, double precision) is 'internal: transition function of ab_stats(value)';
comment on function _ab_stats_cov_trans(internal, double precision, double precision) is 'internal: transition function of ab_stats(value, covariate)';
comment on function _ab_stats_merge_trans(internal, ab_stats) is 'internal: transition function of ab_stats_merge';
comment on function _ab_stats_combine(internal, internal) is 'internal: parallel combine function of ab_stats and ab_stats_merge';
comment on function _ab_stats_serial(internal) is 'internal: serialises the state of ab_stats and ab_stats_merge';
comment on function _ab_stats_deserial(bytea, internal) is 'internal: deserialises the state of ab_stats and ab_stats_merge';
comment on function _ab_stats_final(internal) is 'internal: final function of ab_stats and ab_stats_merge';
comment on function ab_stats_in(cstring) is 'internal: text input of type ab_stats (JSON)';
comment on function ab_stats_out(ab_stats) is 'internal: text output of type ab_stats (JSON)';
"#,
    name = "ab_stats_aggregates",
    requires = [
        _ab_stats_trans,
        _ab_stats_cov_trans,
        _ab_stats_merge_trans,
        _ab_stats_combine,
        _ab_stats_serial,
        _ab_stats_deserial,
        _ab_stats_final,
        ab_stats
    ]
);

/// n, mean, sample variance and the covariate's mean, variance and covariance with the value.
#[pg_extern(immutable, strict, parallel_safe)]
fn ab_stats_summary(
    summary: ab_stats,
) -> TableIterator<
    'static,
    (
        name!(n, i64),
        name!(mean, f64),
        name!(variance, Option<f64>),
        name!(covariate_mean, Option<f64>),
        name!(covariate_variance, Option<f64>),
        name!(covariance, Option<f64>),
    ),
> {
    let s = summary.0;
    let n = s.n as f64;
    let per = |x: f64| (s.n >= 2).then(|| x / (n - 1.0));
    let c = s.covariate;
    TableIterator::once((
        s.n,
        s.mean(),
        s.variance(),
        c.map(|c| c.sum_x / n),
        c.and_then(|c| per(c.sxx_x)),
        c.and_then(|c| per(c.sxy)),
    ))
}

// ---------------------------------------------------------------------------------------------
// Comparison, SRM, Holm
// ---------------------------------------------------------------------------------------------

/// The comparison as one row; `ab_compare` (SQL) returns it as a record.
#[pg_extern(immutable, strict, parallel_safe)]
fn _ab_compare(
    control: ab_stats,
    treatment: ab_stats,
    alpha: f64,
    method: &str,
    sequential_tuning: f64,
) -> TableIterator<
    'static,
    (
        name!(method, String),
        name!(n_control, i64),
        name!(n_treatment, i64),
        name!(mean_control, f64),
        name!(mean_treatment, f64),
        name!(lift, f64),
        name!(ci_low, f64),
        name!(ci_high, f64),
        name!(relative_lift, Option<f64>),
        name!(relative_ci_low, Option<f64>),
        name!(relative_ci_high, Option<f64>),
        name!(statistic, Option<f64>),
        name!(df, Option<f64>),
        name!(p_value, f64),
        name!(prob_beat_control, f64),
    ),
> {
    let method = Method::parse(method).or_raise("ab_compare");
    let c = stats::compare(&control.0, &treatment.0, alpha, method, sequential_tuning).or_raise("ab_compare");
    TableIterator::once((
        c.method.name().to_string(),
        c.n_control,
        c.n_treatment,
        c.mean_control,
        c.mean_treatment,
        c.lift,
        c.ci_low,
        c.ci_high,
        c.relative_lift,
        c.relative_ci_low,
        c.relative_ci_high,
        c.statistic,
        c.df,
        c.p_value,
        c.prob_beat_control,
    ))
}

fn no_nulls(what: &str) -> ! {
    PulseError::new(crate::error::Kind::NullValue, format!("{what} cannot contain NULL"))
        .hint("Pass one number per variant.")
        .raise("ab_srm")
}

/// Chi-square sample-ratio-mismatch p-value of units per variant against the split.
#[pg_extern(immutable, parallel_safe)]
fn ab_srm(observed: Option<Array<i64>>, weights: default!(Option<Array<f64>>, "NULL")) -> Option<f64> {
    let observed = observed?;
    let counts = observed.as_slice().unwrap_or_else(|_| no_nulls("observed"));
    let w = weights.as_ref().map(|w| w.as_slice().unwrap_or_else(|_| no_nulls("weights")));
    Some(stats::srm_p_value(counts, w).or_raise("ab_srm"))
}

/// Holm–Bonferroni adjusted p-values, in input order; NULLs stay NULL and are not counted.
#[pg_extern(immutable, strict, parallel_safe)]
fn ab_p_adjust_holm(p_values: Array<f64>) -> Vec<Option<f64>> {
    let p: Vec<Option<f64>> = p_values.iter().collect();
    stats::holm(&p).or_raise("ab_p_adjust_holm")
}

extension_sql!(
    r#"
create type ab_comparison as (
    method text, n_control bigint, n_treatment bigint, mean_control double precision,
    mean_treatment double precision, lift double precision, ci_low double precision,
    ci_high double precision, relative_lift double precision, relative_ci_low double precision,
    relative_ci_high double precision, statistic double precision, df double precision,
    p_value double precision, prob_beat_control double precision
);
comment on type ab_comparison is 'what ab_compare returns: one comparison of treatment against control';

create function ab_compare(control ab_stats, treatment ab_stats, alpha double precision default 0.05,
                           method text default 'welch', sequential_tuning double precision default 5000)
returns ab_comparison language sql immutable strict parallel safe
as $$ select * from @extschema@._ab_compare(control, treatment, alpha, method, sequential_tuning) $$;

comment on function ab_compare(ab_stats, ab_stats, double precision, text, double precision) is
'Compares treatment with control (lift = treatment - control; intervals two-sided at 1 - alpha). method welch: Welch t-test, Welch-Satterthwaite df, t interval. ztest: two-proportion z-test for 0/1 metrics (pooled SE for the test, unpooled for the interval). cuped: welch on y - theta * (x - mean x), theta = cov(x, y) / var(x) over both variants (needs ab_stats(value, covariate)). sequential: always-valid normal-mixture (mSPRT) interval and p-value, tightest near sequential_tuning total units. relative_lift = treatment / control - 1 with a delta-method interval (NULL when the control mean is 0). prob_beat_control: Bayesian probability that treatment > control under a flat prior, Phi(lift / SE). With zero SE: statistic NULL, p_value 1 for zero lift else 0. STRICT. Errors 22023: fewer than 2 units in a variant, alpha outside (0, 1), unknown method, ztest on non-0/1 values, cuped without covariates.';
comment on function _ab_compare(ab_stats, ab_stats, double precision, text, double precision) is 'internal: the row behind ab_compare';
comment on function ab_srm(bigint[], double precision[]) is
'Sample-ratio mismatch: the p-value of Pearson''s chi-square goodness-of-fit test of the units observed per variant against the split weights (NULL weights: equal), k - 1 degrees of freedom, as scipy.stats.chisquare. Flag an SRM when p < 0.001: the assignment or the exposure logging is broken and the results cannot be trusted. NULL for NULL observed. Errors 22023: fewer than 2 variants, lengths that differ, a weight that is not positive, a negative count, no units; 22004: NULL elements.';
comment on function ab_p_adjust_holm(double precision[]) is
'Holm-Bonferroni step-down adjusted p-values, in input order: sort ascending, adjusted_j = max over i <= j of min(1, (m - i + 1) * p_i). NULL elements stay NULL and do not count in m. 22023 for p-values outside [0, 1].';
comment on function ab_stats_summary(ab_stats) is
'n, mean, sample variance (n - 1) and, with a covariate, its mean, sample variance and sample covariance with the value. Variances are NULL below 2 units.';
"#,
    name = "ab_compare_sql",
    requires = [_ab_compare, ab_srm, ab_p_adjust_holm, ab_stats_summary, "ab_stats_aggregates"]
);
