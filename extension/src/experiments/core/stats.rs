//! Experiment statistics, pure Rust: sufficient statistics per variant (what the `ab_stats`
//! aggregate keeps), the comparisons built on them (`ab_compare`), sample-ratio mismatch
//! (`ab_srm`) and Holm's correction. Distributions come from statrs.
use crate::error::{PulseError, Result};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, Continuous, ContinuousCDF, Normal, StudentsT};

#[cfg(test)]
mod tests;

// ---------------------------------------------------------------------------------------------
// Sufficient statistics
// ---------------------------------------------------------------------------------------------

/// Running sums of one variant, shifted by the first value seen (the "shifted data" algorithm):
/// sums of deviations from a value near the mean do not cancel, so a metric around 1e9 with unit
/// variance keeps its variance, and a row costs a few additions (Welford needs a division).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Accumulator {
    n: i64,
    not_binary: bool,
    covariate: bool,
    shift_y: f64,
    shift_x: f64,
    sy: f64,
    syy: f64,
    sx: f64,
    sxx: f64,
    sxy: f64,
}

fn check_finite(what: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        let shown = if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        Err(PulseError::invalid(format!("ab_stats {what} must be finite, got {shown}")).hint(
            "Filter out NaN and infinite values, for example with WHERE value <> 'NaN' AND abs(value) < 'Infinity'.",
        ))
    }
}

impl Accumulator {
    /// Adds one unit's value.
    #[inline]
    pub fn add(&mut self, y: f64) -> Result<()> {
        check_finite("value", y)?;
        if self.n == 0 {
            self.shift_y = y;
        }
        self.n += 1;
        self.not_binary |= y != 0.0 && y != 1.0;
        let d = y - self.shift_y;
        self.sy += d;
        self.syy += d * d;
        Ok(())
    }

    /// Adds one unit's value and covariate (its pre-experiment value, for CUPED).
    #[inline]
    pub fn add_with_covariate(&mut self, y: f64, x: f64) -> Result<()> {
        check_finite("covariate", x)?;
        if self.n == 0 {
            self.shift_x = x;
        }
        self.covariate = true;
        self.add(y)?;
        let dx = x - self.shift_x;
        self.sx += dx;
        self.sxx += dx * dx;
        self.sxy += dx * (y - self.shift_y);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The centred summary of what was added; `None` when nothing was.
    pub fn summary(&self) -> Option<Summary> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let covariate = self.covariate.then(|| CovariateSums {
            sum_x: n * self.shift_x + self.sx,
            sxx_x: (self.sxx - self.sx * self.sx / n).max(0.0),
            sxy: self.sxy - self.sx * self.sy / n,
        });
        Some(Summary {
            n: self.n,
            sum: n * self.shift_y + self.sy,
            sxx: (self.syy - self.sy * self.sy / n).max(0.0),
            binary: !self.not_binary,
            covariate,
        })
    }

    /// Continues from a summary: its mean becomes the shift, so later additions stay accurate.
    pub fn from_summary(s: &Summary) -> Self {
        let n = s.n as f64;
        let cov = s.covariate.unwrap_or_default();
        Accumulator {
            n: s.n,
            not_binary: !s.binary,
            covariate: s.covariate.is_some(),
            shift_y: s.sum / n,
            shift_x: cov.sum_x / n,
            sy: 0.0,
            syy: s.sxx,
            sx: 0.0,
            sxx: cov.sxx_x,
            sxy: cov.sxy,
        }
    }

    /// Parallel combine.
    pub fn merge(&mut self, other: &Accumulator) -> Result<()> {
        match (self.summary(), other.summary()) {
            (_, None) => {}
            (None, Some(_)) => *self = other.clone(),
            (Some(a), Some(b)) => *self = Accumulator::from_summary(&a.merge(&b)?),
        }
        Ok(())
    }
}

/// Sums of the covariate: its sum, sum of squared deviations and the cross product of deviations
/// with the value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CovariateSums {
    pub sum_x: f64,
    pub sxx_x: f64,
    pub sxy: f64,
}

/// What `ab_stats` returns: count, sum and sum of squared deviations from the mean (centred, so
/// merging summaries loses no precision), whether every value was 0 or 1, and the covariate sums.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: i64,
    pub sum: f64,
    pub sxx: f64,
    pub binary: bool,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub covariate: Option<CovariateSums>,
}

/// The text form as written: the covariate's fields are checked together in [`Summary::parse`]
/// (serde's `flatten` would silently drop a partial covariate).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryText {
    n: i64,
    sum: f64,
    sxx: f64,
    binary: bool,
    sum_x: Option<f64>,
    sxx_x: Option<f64>,
    sxy: Option<f64>,
}

fn corrupt(why: &str) -> PulseError {
    PulseError::new(crate::error::Kind::InvalidText, format!("invalid ab_stats: {why}"))
        .hint("Write it as ab_stats produces it, for example {\"n\":3,\"sum\":6,\"sxx\":2,\"binary\":false}.")
}

impl Summary {
    pub fn mean(&self) -> f64 {
        self.sum / self.n as f64
    }

    /// Sample variance (n − 1 in the denominator); `None` below 2 units.
    pub fn variance(&self) -> Option<f64> {
        (self.n >= 2).then(|| self.sxx / (self.n - 1) as f64)
    }

    /// Parses the text form, checking that it could have come from `ab_stats`: the covariate's
    /// three sums all or none, finite sums, squared deviations not negative, and for 0/1 values a
    /// whole sum between 0 and n.
    pub fn parse(text: &str) -> Result<Self> {
        let t: SummaryText = serde_json::from_str(text).map_err(|e| corrupt(&e.to_string()))?;
        let covariate = match (t.sum_x, t.sxx_x, t.sxy) {
            (None, None, None) => None,
            (Some(sum_x), Some(sxx_x), Some(sxy)) => Some(CovariateSums { sum_x, sxx_x, sxy }),
            _ => return Err(corrupt("sum_x, sxx_x and sxy come together or not at all")),
        };
        let s = Summary { n: t.n, sum: t.sum, sxx: t.sxx, binary: t.binary, covariate };
        let finite = [s.sum, s.sxx].into_iter().chain(s.covariate.iter().flat_map(|c| [c.sum_x, c.sxx_x, c.sxy]));
        if s.n < 1 {
            return Err(corrupt("n must be at least 1"));
        }
        if finite.into_iter().any(|v| !v.is_finite()) || s.sxx < 0.0 || s.covariate.is_some_and(|c| c.sxx_x < 0.0) {
            return Err(corrupt("sums must be finite and squared deviations not negative"));
        }
        if s.binary && !(s.sum >= 0.0 && s.sum <= s.n as f64 && s.sum.fract() == 0.0) {
            return Err(corrupt("with binary true, sum counts the 1s: a whole number between 0 and n"));
        }
        Ok(s)
    }

    pub fn to_text(&self) -> String {
        // Serialising plain numbers and bools cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Chan et al.'s pairwise update: the summary of both sets of units.
    pub fn merge(&self, other: &Summary) -> Result<Summary> {
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let dy = other.mean() - self.mean();
        let covariate = match (self.covariate, other.covariate) {
            (None, None) => None,
            (Some(a), Some(b)) => {
                let dx = b.sum_x / nb - a.sum_x / na;
                Some(CovariateSums {
                    sum_x: a.sum_x + b.sum_x,
                    sxx_x: a.sxx_x + b.sxx_x + dx * dx * na * nb / n,
                    sxy: a.sxy + b.sxy + dx * dy * na * nb / n,
                })
            }
            _ => {
                return Err(PulseError::invalid("cannot merge ab_stats with and without a covariate")
                    .hint("Aggregate every group with the same form: ab_stats(value) or ab_stats(value, covariate)."))
            }
        };
        Ok(Summary {
            n: self.n + other.n,
            sum: self.sum + other.sum,
            sxx: self.sxx + other.sxx + dy * dy * na * nb / n,
            binary: self.binary && other.binary,
            covariate,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Comparison of two variants
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Welch,
    ZTest,
    Cuped,
    Sequential,
}

impl Method {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "welch" => Ok(Method::Welch),
            "ztest" => Ok(Method::ZTest),
            "cuped" => Ok(Method::Cuped),
            "sequential" => Ok(Method::Sequential),
            other => Err(PulseError::invalid(format!("unknown method \"{other}\""))
                .hint("Use welch, ztest (0/1 metrics), cuped (with a covariate) or sequential (always-valid).")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Welch => "welch",
            Method::ZTest => "ztest",
            Method::Cuped => "cuped",
            Method::Sequential => "sequential",
        }
    }
}

/// What `ab_compare` returns. Lifts are treatment minus control; intervals are two-sided at
/// 1 − alpha.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub method: Method,
    pub n_control: i64,
    pub n_treatment: i64,
    pub mean_control: f64,
    pub mean_treatment: f64,
    pub lift: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub relative_lift: Option<f64>,
    pub relative_ci_low: Option<f64>,
    pub relative_ci_high: Option<f64>,
    pub statistic: Option<f64>,
    pub df: Option<f64>,
    pub p_value: f64,
    pub prob_beat_control: f64,
}

/// One arm as the tests see it: size, mean and the variance of its mean.
#[derive(Clone, Copy, Debug)]
struct Arm {
    n: i64,
    mean: f64,
    /// Variance of the mean (s² / n, or p(1 − p) / n for proportions).
    var_mean: f64,
}

fn check_sizes(control: &Summary, treatment: &Summary) -> Result<()> {
    for (name, s) in [("control", control), ("treatment", treatment)] {
        if s.n < 2 {
            return Err(PulseError::invalid(format!("{name} has {} unit, at least 2 are needed", s.n))
                .hint("Compare variants once each has at least 2 units with a value."));
        }
    }
    Ok(())
}

pub fn check_alpha(alpha: f64) -> Result<()> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(PulseError::invalid(format!("alpha must be between 0 and 1 (exclusive), got {alpha}"))
            .hint("alpha is the significance level: 0.05 gives 95 % intervals."))
    }
}

/// `x` with `sf(x) = tail` for the normal: statrs's inverse CDF is accurate to ~1e-15 here
/// (checked against scipy in the tests), better than a Newton step on its `sf` (~1e-11).
fn upper_quantile<D: ContinuousCDF<f64, f64>>(dist: &D, tail: f64) -> f64 {
    dist.inverse_cdf(1.0 - tail)
}

/// The same for Student's t, whose statrs inverse loses ~1e-8 relative at large df; two Newton
/// steps on its survival function bring it to ~1e-11 (the oracle suite checks 1e-9 vs scipy).
fn t_upper_quantile(dist: &StudentsT, tail: f64) -> f64 {
    let mut x = dist.inverse_cdf(1.0 - tail);
    for _ in 0..2 {
        let density = dist.pdf(x);
        let step = (dist.sf(x) - tail) / density;
        if density > 0.0 && step.is_finite() {
            x += step;
        }
    }
    x
}

fn standard_normal() -> Normal {
    Normal::standard()
}

fn students_t(df: f64) -> Result<StudentsT> {
    StudentsT::new(0.0, 1.0, df)
        .map_err(|e| PulseError::new(crate::error::Kind::Internal, format!("student t with df {df}: {e}")))
}

/// The variance-reduced arms of CUPED: θ = cov(x, y) / var(x) over all units of both arms, each
/// arm's mean of y − θ(x − x̄), and the within-arm variance of y − θx.
fn cuped_arms(c: &Summary, t: &Summary) -> Result<(Arm, Arm)> {
    let (Some(cc), Some(tc)) = (c.covariate, t.covariate) else {
        return Err(PulseError::invalid("method cuped needs a covariate in both variants")
            .hint("Aggregate with ab_stats(value, covariate), the covariate being the unit's pre-experiment value."));
    };
    let all = c.merge(t)?;
    let ac = all.covariate.unwrap_or_default();
    let theta = if ac.sxx_x > 0.0 { ac.sxy / ac.sxx_x } else { 0.0 };
    let mean_x = ac.sum_x / all.n as f64;
    let arm = |s: &Summary, cov: CovariateSums| {
        let n = s.n as f64;
        let sxx = (s.sxx - 2.0 * theta * cov.sxy + theta * theta * cov.sxx_x).max(0.0);
        Arm { n: s.n, mean: s.mean() - theta * (cov.sum_x / n - mean_x), var_mean: sxx / (n - 1.0) / n }
    };
    Ok((arm(c, cc), arm(t, tc)))
}

fn plain_arm(s: &Summary) -> Arm {
    let n = s.n as f64;
    Arm { n: s.n, mean: s.mean(), var_mean: s.sxx / (n - 1.0) / n }
}

fn proportion_arm(s: &Summary) -> Arm {
    let p = s.mean();
    Arm { n: s.n, mean: p, var_mean: p * (1.0 - p) / s.n as f64 }
}

/// Compares `treatment` with `control`.
///
/// - welch: Welch's t-test, Welch–Satterthwaite df, t interval;
/// - ztest: two-proportion z-test, pooled standard error for the test, unpooled for the interval;
/// - cuped: welch on the CUPED-adjusted values (θ estimated on both arms pooled);
/// - sequential: welch's estimate with an always-valid normal-mixture (mSPRT) interval and
///   p-value, tightest around `tuning` total units (GrowthBook's parametrisation).
///
/// The relative lift's interval is the delta method's, with the method's quantile. With zero
/// standard error the p-value is 1 for zero lift and 0 otherwise, and the statistic is NULL.
pub fn compare(control: &Summary, treatment: &Summary, alpha: f64, method: Method, tuning: f64) -> Result<Comparison> {
    check_alpha(alpha)?;
    check_sizes(control, treatment)?;
    if method == Method::Sequential && !(tuning.is_finite() && tuning > 0.0) {
        return Err(PulseError::invalid(format!("sequential_tuning must be a positive number of units, got {tuning}"))
            .hint("Set it near the total number of units you expect, for example 5000."));
    }
    let (c, t) = match method {
        Method::Welch | Method::Sequential => (plain_arm(control), plain_arm(treatment)),
        Method::Cuped => cuped_arms(control, treatment)?,
        Method::ZTest => {
            if !(control.binary && treatment.binary) {
                return Err(PulseError::invalid("method ztest needs 0/1 values in both variants")
                    .hint("Use method => 'welch' for metrics that are not conversions."));
            }
            (proportion_arm(control), proportion_arm(treatment))
        }
    };
    let lift = t.mean - c.mean;
    let var = c.var_mean + t.var_mean;
    if !var.is_finite() || !lift.is_finite() {
        return Err(PulseError::invalid("ab_stats summaries are inconsistent: the variance is not a number")
            .hint("Compare summaries produced by ab_stats, not edited ones."));
    }
    let se = var.sqrt();

    // Welch–Satterthwaite df (not for proportions), from each arm's share of the variance so tiny
    // variances do not underflow; with it, the Student t of the test and the interval.
    let df = (method != Method::ZTest)
        .then(|| {
            let (sc, st) = (c.var_mean / var, t.var_mean / var);
            1.0 / (sc * sc / (c.n - 1) as f64 + st * st / (t.n - 1) as f64)
        })
        .filter(|d| d.is_finite());
    let t_dist = match df {
        Some(d) if se > 0.0 => Some(students_t(d)?),
        _ => None,
    };

    // The test's statistic and p-value, and the interval's half-width per standard error.
    let tail = alpha / 2.0;
    let (statistic, p_value, factor) = match method {
        Method::ZTest => {
            let pooled = (control.sum + treatment.sum) / (control.n + treatment.n) as f64;
            let se0 = (pooled * (1.0 - pooled) * (1.0 / c.n as f64 + 1.0 / t.n as f64)).sqrt();
            let (statistic, p) = test_or_degenerate(lift, se0, |z| 2.0 * standard_normal().sf(z.abs()));
            (statistic, p, upper_quantile(&standard_normal(), tail))
        }
        _ => {
            let (statistic, p) = match &t_dist {
                Some(dist) => test_or_degenerate(lift, se, |x| 2.0 * dist.sf(x.abs())),
                None => test_or_degenerate(lift, 0.0, |_| f64::NAN),
            };
            match method {
                Method::Sequential => {
                    let (factor, p) = sequential(lift, var, (c.n + t.n) as f64, alpha, tuning);
                    (statistic, p, factor)
                }
                _ => (statistic, p, t_dist.as_ref().map_or(0.0, |d| t_upper_quantile(d, tail))),
            }
        }
    };
    let half = if se > 0.0 { factor * se } else { 0.0 };
    let relative = (c.mean != 0.0).then(|| {
        let r = t.mean / c.mean - 1.0;
        let var_r = t.var_mean / (c.mean * c.mean) + t.mean * t.mean * c.var_mean / c.mean.powi(4);
        let h = factor * var_r.sqrt();
        (r, r - h, r + h)
    });
    let prob_beat_control = if se > 0.0 {
        standard_normal().cdf(lift / se)
    } else if lift > 0.0 {
        1.0
    } else if lift < 0.0 {
        0.0
    } else {
        0.5
    };
    Ok(Comparison {
        method,
        n_control: c.n,
        n_treatment: t.n,
        mean_control: c.mean,
        mean_treatment: t.mean,
        lift,
        ci_low: lift - half,
        ci_high: lift + half,
        relative_lift: relative.map(|r| r.0),
        relative_ci_low: relative.map(|r| r.1),
        relative_ci_high: relative.map(|r| r.2),
        statistic,
        df: if method == Method::Sequential { None } else { df },
        p_value,
        prob_beat_control,
    })
}

/// (statistic, p) for a test with standard error `se`, or the documented degenerate answer when
/// `se` is 0: no statistic, p = 1 for zero lift and 0 otherwise.
fn test_or_degenerate(lift: f64, se: f64, p_of: impl Fn(f64) -> f64) -> (Option<f64>, f64) {
    if se > 0.0 {
        let stat = lift / se;
        (Some(stat), p_of(stat))
    } else {
        (None, if lift == 0.0 { 1.0 } else { 0.0 })
    }
}

/// The always-valid normal-mixture sequential test (Robbins' mixture, as in mSPRT and
/// GrowthBook): with V the variance of the estimate, N units and mixing variance τ² = V·N·ρ²,
/// ρ² = (−2 ln α + ln(1 − 2 ln α)) / tuning, the interval half-width is
/// sqrt(V(V+τ²)/τ² · (2 ln(1/α) + ln((V+τ²)/V))) and the p-value 1 / Λ, the mixture likelihood
/// ratio. Both hold at any stopping time (Ville's inequality), and p ≤ α exactly when the
/// interval excludes 0. Returns (half-width per standard error, p-value).
fn sequential(lift: f64, var: f64, n: f64, alpha: f64, tuning: f64) -> (f64, f64) {
    if !(var > 0.0) {
        return (0.0, if lift == 0.0 { 1.0 } else { 0.0 });
    }
    let l = -2.0 * alpha.ln();
    let rho2 = (l + (l + 1.0).ln()) / tuning;
    let tau2 = var * n * rho2;
    let ratio = (var + tau2) / var;
    let half = (var * (var + tau2) / tau2 * (2.0 * (1.0 / alpha).ln() + ratio.ln())).sqrt();
    let p = (ratio.sqrt() * (-lift * lift * tau2 / (2.0 * var * (var + tau2))).exp()).min(1.0);
    (half / var.sqrt(), p)
}

// ---------------------------------------------------------------------------------------------
// Sample-ratio mismatch and multiple comparisons
// ---------------------------------------------------------------------------------------------

/// Pearson's chi-square goodness-of-fit p-value of `observed` units per variant against the
/// split `weights` (NULL: equal), with k − 1 degrees of freedom. p < 0.001 flags an SRM.
pub fn srm_p_value(observed: &[i64], weights: Option<&[f64]>) -> Result<f64> {
    let k = observed.len();
    if k < 2 {
        return Err(PulseError::invalid(format!("ab_srm needs at least 2 variants, got {k}"))
            .hint("Pass the units observed per variant, for example array[5010, 4990]."));
    }
    let equal = vec![1.0; k];
    let w = weights.unwrap_or(&equal);
    if w.len() != k {
        return Err(PulseError::invalid(format!("ab_srm got {k} counts but {} weights", w.len()))
            .hint("Pass one weight per variant, in the same order as the counts."));
    }
    if let Some(i) = w.iter().position(|w| !(w.is_finite() && *w > 0.0)) {
        return Err(PulseError::invalid(format!("weight {} is {}, weights must be positive", i + 1, w[i]))
            .hint("A variant with weight 0 receives no units; leave it out of the check."));
    }
    if let Some(i) = observed.iter().position(|o| *o < 0) {
        return Err(PulseError::invalid(format!("count {} is {}, counts cannot be negative", i + 1, observed[i]))
            .hint("Pass the number of units observed per variant."));
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    if total == 0.0 {
        return Err(PulseError::invalid("ab_srm got no units")
            .hint("Check for a sample-ratio mismatch once units are exposed."));
    }
    let wsum: f64 = w.iter().sum();
    let statistic: f64 = observed
        .iter()
        .zip(w)
        .map(|(&o, &wi)| {
            let expected = total * wi / wsum;
            let d = o as f64 - expected;
            d * d / expected
        })
        .sum();
    let dist = ChiSquared::new((k - 1) as f64)
        .map_err(|e| PulseError::new(crate::error::Kind::Internal, format!("chi-square with {} df: {e}", k - 1)))?;
    Ok(dist.sf(statistic))
}

/// Holm–Bonferroni adjusted p-values in input order; NULLs stay NULL and do not count as tests.
pub fn holm(p: &[Option<f64>]) -> Result<Vec<Option<f64>>> {
    if let Some(v) = p.iter().flatten().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(PulseError::invalid(format!("p-values must be between 0 and 1, got {v}"))
            .hint("Pass the unadjusted p-values of the comparisons."));
    }
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_some()).collect();
    order.sort_by(|&a, &b| p[a].partial_cmp(&p[b]).unwrap_or(std::cmp::Ordering::Equal));
    let m = order.len();
    let mut out = vec![None; p.len()];
    let mut running = 0.0f64;
    for (j, &i) in order.iter().enumerate() {
        let adjusted = ((m - j) as f64 * p[i].unwrap_or(1.0)).min(1.0);
        running = running.max(adjusted);
        out[i] = Some(running);
    }
    Ok(out)
}
