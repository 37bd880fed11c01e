//! Comparing two profiles: KS, Wasserstein, PSI, Jensen–Shannon, chi-square, the z-test, and the
//! per-column test choice of Evidently's data-drift preset.
use super::{coarser, ks, value, Categorical, Numeric, Profile};
use crate::error::{PulseError, Result};
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Evidently's epsilon for empty bins in PSI (its `get_binned_data(..., feel_zeroes=True)`).
pub const PSI_EMPTY_SHARE: f64 = 1e-4;
pub const DEFAULT_BINS: i32 = 10;
pub const MAX_BINS: i32 = 10_000;
/// Evidently: at most this many distinct values and a numeric column is tested as categorical.
const CATEGORICAL_DISTINCT: usize = 5;
/// Evidently: references up to this size get the p-value tests, larger ones the distances.
const SMALL_REFERENCE: u64 = 1000;

fn numeric<'a>(p: &'a Profile, side: &str) -> Result<&'a Numeric> {
    match p {
        Profile::Numeric(n) if n.n > 0 => Ok(n),
        Profile::Numeric(n) => Err(empty(side, n.nulls + n.nans + n.pos_inf + n.neg_inf)),
        Profile::Categorical(_) => Err(PulseError::invalid(format!("the {side} profile is categorical"))
            .hint("This needs numeric profiles (drift_profile(float8)); categorical ones have drift_categories, drift_chi2, drift_js and drift_psi.")),
    }
}

fn empty(side: &str, skipped: u64) -> PulseError {
    PulseError::invalid(format!("the {side} profile has no values"))
        .detail(format!("It counts {skipped} NULL, NaN or infinite values and nothing else."))
}

/// Both profiles non-empty and of the same kind.
fn pair<'a>(a: &'a Profile, b: &'a Profile) -> Result<(&'a Profile, &'a Profile)> {
    let n = |p: &Profile| match p {
        Profile::Numeric(p) => (p.n, p.nulls + p.nans + p.pos_inf + p.neg_inf),
        Profile::Categorical(p) => (p.n, p.nulls),
    };
    for (p, side) in [(a, "reference"), (b, "current")] {
        if n(p).0 == 0 {
            return Err(empty(side, n(p).1));
        }
    }
    if a.kind() != b.kind() {
        return Err(PulseError::invalid(format!("cannot compare a {} profile with a {} one", a.kind(), b.kind()))
            .hint("Profile the column the same way on both sides."));
    }
    Ok((a, b))
}

/// Buckets of `p` at a coarser `level`, still ascending.
fn coarsened(p: &Numeric, level: u32) -> Vec<(u64, u64)> {
    let shift = level - p.level;
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(p.buckets.len());
    for &(b, c) in &p.buckets {
        let b = coarser(b, shift);
        match out.last_mut() {
            Some(last) if last.0 == b => last.1 += c,
            _ => out.push((b, c)),
        }
    }
    out
}

/// Both profiles' buckets at their common (coarser) level: (index, reference count, current count).
pub fn align(a: &Numeric, b: &Numeric) -> (u32, Vec<(u64, u64, u64)>) {
    let level = a.level.max(b.level);
    let (x, y) = (coarsened(a, level), coarsened(b, level));
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(x.len() + y.len());
    while i < x.len() || j < y.len() {
        let (next, step_i, step_j) = match (x.get(i), y.get(j)) {
            (Some(p), Some(q)) if p.0 == q.0 => ((p.0, p.1, q.1), 1, 1),
            (Some(p), Some(q)) if p.0 < q.0 => ((p.0, p.1, 0), 1, 0),
            (Some(p), None) => ((p.0, p.1, 0), 1, 0),
            (_, Some(q)) => ((q.0, 0, q.1), 0, 1),
            (None, None) => break,
        };
        (i, j) = (i + step_i, j + step_j);
        out.push(next);
    }
    (level, out)
}

/// Two-sample KS statistic over the common buckets' boundaries, and whether it is exact (both
/// profiles at level 0). At a coarser level the exact statistic lies between it and it plus the
/// largest share either profile has in one bucket.
pub fn ks_statistic(a: &Numeric, b: &Numeric) -> (f64, bool) {
    let (level, rows) = align(a, b);
    let (n1, n2) = (a.n as f64, b.n as f64);
    let (mut c1, mut c2, mut d) = (0u64, 0u64, 0f64);
    for (_, x, y) in rows {
        c1 += x;
        c2 += y;
        // As scipy: ECDF differences as float quotients, at every observed value.
        d = d.max((c1 as f64 / n1 - c2 as f64 / n2).abs());
    }
    (d, level == 0)
}

/// (statistic, p_value) of two numeric profiles; see [`ks_statistic`] and [`ks::p_value`].
pub fn ks_test(a: &Profile, b: &Profile) -> Result<(f64, f64)> {
    pair(a, b)?;
    let (a, b) = (numeric(a, "reference")?, numeric(b, "current")?);
    let (d, exact) = ks_statistic(a, b);
    // As scipy's ks_2samp(method='auto'): exact p-values only where the statistic is exact.
    Ok(ks::two_sided(a.n, b.n, d, exact))
}

/// One bucket's share spread uniformly over its value range (a point when lo == hi).
struct Piece {
    lo: f64,
    hi: f64,
    mass: f64,
}

fn pieces(p: &Numeric) -> Vec<Piece> {
    let (lo_all, hi_all) = (p.min.unwrap_or(0.0), p.max.unwrap_or(0.0));
    let n = p.n as f64;
    p.buckets
        .iter()
        .map(|&(b, c)| {
            let (lo, hi) = if p.level == 0 {
                (value(b), value(b))
            } else {
                // Bucket b covers keys [b << level, (b + 1) << level); a key outside the finite
                // floats decodes to ±inf or NaN, which the clamp to [min, max] replaces.
                let start = (b as u128) << p.level;
                let end = (b as u128 + 1) << p.level;
                let lo = value(start as u64).max(lo_all);
                let hi = if end > u64::MAX as u128 { hi_all } else { value(end as u64).min(hi_all) };
                (lo, hi.max(lo))
            };
            Piece { lo, hi, mass: c as f64 / n }
        })
        .collect()
}

/// The CDF of the pieces just right (`right`) or just left of x.
fn cdf(pieces: &[Piece], before: &[f64], x: f64, right: bool) -> f64 {
    let i = if right { pieces.partition_point(|p| p.lo <= x) } else { pieces.partition_point(|p| p.lo < x) };
    if i == 0 {
        return 0.0;
    }
    let p = &pieces[i - 1];
    let full = if right { x >= p.hi } else { x >= p.hi && (p.hi > p.lo || x > p.lo) };
    if full {
        before[i - 1] + p.mass
    } else {
        before[i - 1] + p.mass * (x - p.lo) / (p.hi - p.lo)
    }
}

/// W1 = ∫|F_ref − F_cur| dx with each bucket's mass uniform over its range (exact at level 0);
/// normalised by the reference's population standard deviation like Evidently.
pub fn wasserstein(a: &Profile, b: &Profile, normalized: bool) -> Result<f64> {
    pair(a, b)?;
    let (a, b) = (numeric(a, "reference")?, numeric(b, "current")?);
    let (pa, pb) = (pieces(a), pieces(b));
    let prefix = |ps: &[Piece]| {
        let mut s = 0.0;
        ps.iter()
            .map(|p| {
                let before = s;
                s += p.mass;
                before
            })
            .collect::<Vec<f64>>()
    };
    let (ca, cb) = (prefix(&pa), prefix(&pb));
    let mut xs: Vec<f64> = pa.iter().chain(pb.iter()).flat_map(|p| [p.lo, p.hi]).collect();
    xs.sort_unstable_by(f64::total_cmp);
    xs.dedup();
    let mut w = 0.0;
    for s in xs.windows(2) {
        let (x0, x1) = (s[0], s[1]);
        let d0 = cdf(&pa, &ca, x0, true) - cdf(&pb, &cb, x0, true);
        let d1 = cdf(&pa, &ca, x1, false) - cdf(&pb, &cb, x1, false);
        let width = x1 - x0;
        // ∫|d| over a segment where d is linear: split where it crosses zero.
        w += if d0 * d1 >= 0.0 {
            (d0.abs() + d1.abs()) / 2.0 * width
        } else {
            (d0 * d0 + d1 * d1) / (2.0 * (d0.abs() + d1.abs())) * width
        };
    }
    if !normalized {
        return Ok(w);
    }
    let std = reference_std(a)?;
    if std > 0.0 {
        Ok(w / std)
    } else {
        Err(PulseError::invalid("the reference has zero variance, so the normalised wasserstein distance is undefined")
            .hint("Use normalized => false, or drift_test, which divides by at least 0.001 like Evidently."))
    }
}

/// The reference's population standard deviation (ddof 0, as numpy's and Evidently's np.std).
fn reference_std(a: &Numeric) -> Result<f64> {
    let std = (a.m2 / a.n as f64).sqrt();
    if std.is_finite() {
        Ok(std)
    } else {
        Err(PulseError::invalid("the reference's variance does not fit in float8")
            .detail("Its values reach beyond about 1e154, where squared deviations overflow.")
            .hint("Rescale the column in the query, or use a test that does not normalise (ks, psi)."))
    }
}

/// Evidently's floor for the normalising standard deviation in its data-drift preset, so a
/// column that was constant in the reference still gets a verdict.
const MIN_NORMALIZING_STD: f64 = 0.001;

/// A bin of [`bins`]: [lower, upper) with each profile's count in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    pub reference: u64,
    pub current: u64,
}

fn check_bins(bins: i32) -> Result<usize> {
    if (1..=MAX_BINS).contains(&bins) {
        Ok(bins as usize)
    } else {
        Err(PulseError::invalid(format!("bins must be between 1 and {MAX_BINS}, not {bins}")))
    }
}

/// Reference-quantile bins on the common buckets' boundaries, so both counts are exact: edge i
/// closes the first bucket where the reference's cumulative count reaches i/bins of it. Repeated
/// edges (heavy ties) and an edge after the reference's last bucket are dropped.
pub fn bins(a: &Profile, b: &Profile, bins: i32) -> Result<Vec<Bin>> {
    let bins = check_bins(bins)? as u128;
    pair(a, b)?;
    let (a, b) = (numeric(a, "reference")?, numeric(b, "current")?);
    let (level, rows) = align(a, b);
    let last_ref = rows.iter().rposition(|r| r.1 > 0).unwrap_or(0);
    let n = a.n as u128;
    let (mut out, mut lower, mut next_edge) = (Vec::new(), f64::NEG_INFINITY, 1u128);
    let (mut cum, mut in_ref, mut in_cur) = (0u128, 0u64, 0u64);
    for (i, &(index, x, y)) in rows.iter().enumerate() {
        cum += x as u128;
        in_ref += x;
        in_cur += y;
        let mut cut = false;
        while next_edge < bins && cum * bins >= next_edge * n {
            next_edge += 1;
            cut = true;
        }
        if cut && i < last_ref {
            // The next key after this bucket; finite because a later reference bucket exists.
            let upper = value(((index as u128 + 1) << level) as u64) + 0.0;
            out.push(Bin { lower, upper, reference: in_ref, current: in_cur });
            (lower, in_ref, in_cur) = (upper, 0, 0);
        }
    }
    out.push(Bin { lower, upper: f64::INFINITY, reference: in_ref, current: in_cur });
    Ok(out)
}

/// A category of [`categories`]; `None` is the pooled "other".
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub category: Option<String>,
    pub reference: u64,
    pub current: u64,
}

/// The union of both profiles' categories in value order, then "other" when either pools some.
pub fn categories(a: &Profile, b: &Profile) -> Result<Vec<Cell>> {
    let (a, b) = match pair(a, b)? {
        (Profile::Categorical(a), Profile::Categorical(b)) => (a, b),
        _ => {
            return Err(PulseError::invalid("drift_categories needs categorical profiles")
                .hint("Use drift_bins for numeric profiles."))
        }
    };
    Ok(categorical_cells(a, b))
}

fn categorical_cells(a: &Categorical, b: &Categorical) -> Vec<Cell> {
    let mut map: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for (k, c) in &a.categories {
        map.entry(k).or_default().0 += c;
    }
    for (k, c) in &b.categories {
        map.entry(k).or_default().1 += c;
    }
    let mut out: Vec<Cell> =
        map.into_iter().map(|(k, (x, y))| Cell { category: Some(k.to_owned()), reference: x, current: y }).collect();
    if a.other > 0 || b.other > 0 {
        out.push(Cell { category: None, reference: a.other, current: b.other });
    }
    out
}

/// Counts per cell that PSI, JS, chi-square and the z-test compare: categories, the distinct
/// values of an exact numeric profile tested as categorical, or reference-quantile bins.
#[derive(Debug, Clone, PartialEq)]
pub struct Cells {
    pub reference: Vec<u64>,
    pub current: Vec<u64>,
}

impl Cells {
    pub fn of(a: &Profile, b: &Profile, bins_wanted: i32) -> Result<Cells> {
        match pair(a, b)? {
            (Profile::Categorical(a), Profile::Categorical(b)) => Ok(Self::from(categorical_cells(a, b))),
            (Profile::Numeric(x), Profile::Numeric(y)) if as_categorical(x, y) => {
                let (_, rows) = align(x, y);
                Ok(Cells { reference: rows.iter().map(|r| r.1).collect(), current: rows.iter().map(|r| r.2).collect() })
            }
            _ => {
                let b = bins(a, b, bins_wanted)?;
                Ok(Cells {
                    reference: b.iter().map(|c| c.reference).collect(),
                    current: b.iter().map(|c| c.current).collect(),
                })
            }
        }
    }

    fn from(cells: Vec<Cell>) -> Cells {
        Cells {
            reference: cells.iter().map(|c| c.reference).collect(),
            current: cells.iter().map(|c| c.current).collect(),
        }
    }

    fn shares(counts: &[u64]) -> Vec<f64> {
        let n: u64 = counts.iter().sum();
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    /// Σ (r − c) ln(r / c), empty shares replaced by [`PSI_EMPTY_SHARE`].
    pub fn psi(&self) -> f64 {
        let fill = |s: f64| if s == 0.0 { PSI_EMPTY_SHARE } else { s };
        let (r, c) = (Self::shares(&self.reference), Self::shares(&self.current));
        r.iter().zip(&c).map(|(&r, &c)| (fill(r) - fill(c)) * (fill(r) / fill(c)).ln()).sum()
    }

    /// Jensen–Shannon distance, natural log (scipy.spatial.distance.jensenshannon's default).
    pub fn js(&self) -> f64 {
        let (r, c) = (Self::shares(&self.reference), Self::shares(&self.current));
        let rel = |p: f64, m: f64| if p > 0.0 { p * (p / m).ln() } else { 0.0 };
        let div: f64 = r.iter().zip(&c).map(|(&p, &q)| rel(p, (p + q) / 2.0) + rel(q, (p + q) / 2.0)).sum();
        (div / 2.0).max(0.0).sqrt()
    }

    /// Pearson's chi-square test of homogeneity on the 2 × k table (scipy chi2_contingency with
    /// correction=False), columns empty on both sides left out.
    pub fn chi2(&self) -> (f64, f64) {
        let cols: Vec<(f64, f64)> = self
            .reference
            .iter()
            .zip(&self.current)
            .filter(|(&r, &c)| r + c > 0)
            .map(|(&r, &c)| (r as f64, c as f64))
            .collect();
        if cols.len() < 2 {
            return (0.0, 1.0);
        }
        let (nr, nc) = (cols.iter().map(|c| c.0).sum::<f64>(), cols.iter().map(|c| c.1).sum::<f64>());
        let total = nr + nc;
        let stat: f64 = cols
            .iter()
            .map(|&(r, c)| {
                let col = r + c;
                let (er, ec) = (nr * col / total, nc * col / total);
                (r - er).powi(2) / er + (c - ec).powi(2) / ec
            })
            .sum();
        let p = ChiSquared::new((cols.len() - 1) as f64).map(|d| d.sf(stat)).unwrap_or(f64::NAN);
        (stat, p)
    }

    /// Two-proportion pooled z-test on the first cell's share (Evidently's z_stat_test).
    pub fn ztest(&self) -> Result<(f64, f64)> {
        if self.reference.len() > 2 {
            return Err(PulseError::invalid(format!(
                "the z-test compares two categories, these profiles have {}",
                self.reference.len()
            ))
            .hint("Use drift_chi2 or drift_js for more categories."));
        }
        let (nr, nc) = (self.reference.iter().sum::<u64>() as f64, self.current.iter().sum::<u64>() as f64);
        let (pr, pc) = (self.reference[0] as f64 / nr, self.current[0] as f64 / nc);
        let pooled = (self.reference[0] as f64 + self.current[0] as f64) / (nr + nc);
        let se = (pooled * (1.0 - pooled) * (1.0 / nr + 1.0 / nc)).sqrt();
        if se == 0.0 || !se.is_finite() {
            return Ok((0.0, 1.0));
        }
        let z = (pr - pc) / se;
        // 2·(1 − Φ(|z|)) = erfc(|z|/√2), without the cancellation for large |z|.
        Ok((z, statrs::function::erf::erfc(z.abs() / std::f64::consts::SQRT_2)))
    }
}

/// The z-test of a binary column: categorical profiles, or exact numeric ones with at most two
/// distinct values (quantile bins of a continuous column are not a binary variable).
pub fn ztest(a: &Profile, b: &Profile) -> Result<(f64, f64)> {
    if let (Profile::Numeric(x), Profile::Numeric(y)) = pair(a, b)? {
        if !as_categorical(x, y) {
            return Err(PulseError::invalid("the z-test needs a binary column")
                .hint("Numeric profiles qualify only with at most two distinct values; use ks or wasserstein."));
        }
    }
    Cells::of(a, b, DEFAULT_BINS)?.ztest()
}

/// Evidently treats a numeric column with at most 5 distinct values as categorical; a profile
/// knows its distinct values only when exact.
fn as_categorical(a: &Numeric, b: &Numeric) -> bool {
    a.level == 0 && b.level == 0 && align(a, b).1.len() <= CATEGORICAL_DISTINCT
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    Ks,
    Wasserstein,
    Psi,
    Js,
    Chi2,
    Ztest,
}

impl Test {
    pub const ALL: [Test; 6] = [Test::Ks, Test::Wasserstein, Test::Psi, Test::Js, Test::Chi2, Test::Ztest];

    pub fn name(self) -> &'static str {
        match self {
            Test::Ks => "ks",
            Test::Wasserstein => "wasserstein",
            Test::Psi => "psi",
            Test::Js => "js",
            Test::Chi2 => "chi2",
            Test::Ztest => "ztest",
        }
    }

    pub fn parse(name: &str) -> Result<Test> {
        Self::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| {
            PulseError::invalid(format!("unknown drift test \"{name}\""))
                .hint("Use one of ks, wasserstein, psi, js, chi2, ztest.")
        })
    }

    /// p-value tests flag drift when p < threshold; distances when the statistic ≥ threshold.
    pub fn is_p_value(self) -> bool {
        matches!(self, Test::Ks | Test::Chi2 | Test::Ztest)
    }

    /// Evidently's defaults: 0.05 for p-values, 0.1 for PSI, JS and normalised Wasserstein.
    pub fn default_threshold(self) -> f64 {
        if self.is_p_value() {
            0.05
        } else {
            0.1
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub kind: &'static str,
    pub test: Test,
    pub statistic: f64,
    pub p_value: Option<f64>,
    pub threshold: f64,
    pub drifted: bool,
}

/// Evidently's `get_default_stattest`, on profiles.
pub fn default_test(a: &Profile, b: &Profile) -> Result<(&'static str, Test)> {
    let (a, b) = pair(a, b)?;
    let categorical = match (a, b) {
        (Profile::Numeric(x), Profile::Numeric(y)) => as_categorical(x, y),
        _ => true,
    };
    let n_ref = match a {
        Profile::Numeric(x) => x.n,
        Profile::Categorical(x) => x.n,
    };
    let distinct = if categorical { Cells::of(a, b, DEFAULT_BINS)?.reference.len() } else { 0 };
    let kind = if categorical { "categorical" } else { "numeric" };
    let test = match (categorical, n_ref <= SMALL_REFERENCE) {
        (false, true) => Test::Ks,
        (false, false) => Test::Wasserstein,
        (true, true) if distinct > 2 => Test::Chi2,
        (true, true) => Test::Ztest,
        (true, false) => Test::Js,
    };
    Ok((kind, test))
}

/// One column's drift test: the chosen (or default) test and threshold, and the verdict.
/// `threshold` gives the threshold for the test once it is chosen (None: the test's default).
pub fn run_test(
    a: &Profile,
    b: &Profile,
    test: Option<Test>,
    threshold: impl FnOnce(Test) -> Result<Option<f64>>,
) -> Result<Outcome> {
    let (kind, default) = default_test(a, b)?;
    let test = test.unwrap_or(default);
    let threshold = threshold(test)?.unwrap_or(test.default_threshold());
    if !threshold.is_finite() || threshold < 0.0 || (test.is_p_value() && threshold > 1.0) {
        return Err(PulseError::invalid(format!("threshold {threshold} is out of range for the {} test", test.name()))
            .hint("p-value thresholds are in [0, 1]; distance thresholds are >= 0."));
    }
    let (statistic, p_value) = match test {
        Test::Ks => ks_test(a, b).map(|(s, p)| (s, Some(p)))?,
        Test::Wasserstein => {
            let (Profile::Numeric(x), Profile::Numeric(_)) = (a, b) else {
                return Err(PulseError::invalid("the wasserstein test needs numeric profiles")
                    .hint("Use js, psi or chi2 for categorical profiles."));
            };
            (wasserstein(a, b, false)? / reference_std(x)?.max(MIN_NORMALIZING_STD), None)
        }
        Test::Psi => (Cells::of(a, b, DEFAULT_BINS)?.psi(), None),
        Test::Js => (Cells::of(a, b, DEFAULT_BINS)?.js(), None),
        Test::Chi2 => {
            let (s, p) = Cells::of(a, b, DEFAULT_BINS)?.chi2();
            (s, Some(p))
        }
        Test::Ztest => ztest(a, b).map(|(z, p)| (z, Some(p)))?,
    };
    let drifted = match p_value {
        Some(p) => p < threshold,
        None => statistic >= threshold,
    };
    Ok(Outcome { kind, test, statistic, p_value, threshold, drifted })
}
