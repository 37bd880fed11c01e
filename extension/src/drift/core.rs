//! Drift profiles: what a column's distribution looks like, in bounded space, mergeable.
//!
//! A numeric profile is a histogram over the order-preserving bit pattern of the values: bucket
//! `key(x) >> level`. It keeps at most [`MAX_BUCKETS`] non-empty buckets, at the smallest level
//! where the data fits. That level depends only on the multiset of values (coarsening one level at
//! a time, and only when needed, never overshoots it), so a profile built by parallel workers and
//! combined equals the serial one bucket for bucket, and a profile of at most `MAX_BUCKETS`
//! distinct values is exact (level 0: one bucket per value). Buckets are fine where the data is
//! dense in relative terms (like DDSketch) and adapt their width to the data's range (like an
//! HDR histogram), which quantile sketches such as t-digest or KLL do not give without making the
//! result depend on the order of the rows. Counts, min and max are exact; mean and variance are
//! Welford's (exact to rounding), and stored as JSON null when they overflow float8.
//!
//! A categorical profile counts every category; the stored profile keeps the [`MAX_CATEGORIES`]
//! most frequent and pools the rest in `other`. Transition states stay exact (uncapped) so that
//! parallel equals serial; the cap applies when a profile is finalised.
pub mod compare;
pub mod ks;
#[cfg(test)]
mod tests;

use crate::error::{Kind, PulseError, Result};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Non-empty buckets a numeric profile keeps (16 bytes each).
pub const MAX_BUCKETS: usize = 4096;
/// Categories a stored categorical profile names; the rest are pooled in `other`.
pub const MAX_CATEGORIES: usize = 1000;
/// Distinct categories one aggregate state may hold before it refuses (memory guard).
pub const MAX_STATE_CATEGORIES: usize = 1_000_000;
/// Bytes of distinct category text one aggregate state may hold (the strings live outside
/// Postgres' memory accounting).
pub const MAX_STATE_BYTES: usize = 64 << 20;

/// Order-preserving map of a finite float onto u64 (-0.0 is taken as +0.0).
pub fn key(x: f64) -> u64 {
    let bits = if x == 0.0 { 0 } else { x.to_bits() };
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// Inverse of [`key`].
pub fn value(key: u64) -> f64 {
    let bits = if key >> 63 == 1 { key & !(1 << 63) } else { !key };
    f64::from_bits(bits)
}

/// A stored profile; its JSON is the text form of the SQL type `drift_profile`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Profile {
    Numeric(Numeric),
    Categorical(Categorical),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Numeric {
    /// Finite values.
    pub n: u64,
    pub nulls: u64,
    pub nans: u64,
    pub pos_inf: u64,
    pub neg_inf: u64,
    /// NaN (JSON null) when the values overflow float8 arithmetic (beyond about ±1e154).
    #[serde(with = "finite_or_null")]
    pub mean: f64,
    /// Sum of squared deviations from the mean; NaN (JSON null) when it overflows.
    #[serde(with = "finite_or_null")]
    pub m2: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub level: u32,
    /// (bucket index, count), ascending by index, counts > 0.
    pub buckets: Vec<(u64, u64)>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Categorical {
    /// Non-NULL values, including those pooled in `other`.
    pub n: u64,
    pub nulls: u64,
    pub other: u64,
    /// (category, count), by count descending then category ascending.
    pub categories: Vec<(String, u64)>,
}

impl Profile {
    pub fn kind(&self) -> &'static str {
        match self {
            Profile::Numeric(_) => "numeric",
            Profile::Categorical(_) => "categorical",
        }
    }

    pub fn to_text(&self) -> String {
        // Serialising plain structs of numbers and strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the text form and checks what the type promises (sorted, positive, consistent).
    pub fn parse(text: &str) -> Result<Profile> {
        let p: Profile = serde_json::from_str(text).map_err(|e| {
            PulseError::new(Kind::InvalidText, format!("invalid drift_profile: {e}")).hint(PROFILE_HINT)
        })?;
        p.validate().map_err(|m| {
            PulseError::new(Kind::InvalidText, format!("invalid drift_profile: {m}")).hint(PROFILE_HINT)
        })?;
        Ok(p)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        match self {
            Profile::Numeric(p) => {
                if p.level > 64 {
                    return Err("level must be at most 64".into());
                }
                if p.buckets.len() > MAX_BUCKETS {
                    return Err(format!("more than {MAX_BUCKETS} buckets"));
                }
                if p.buckets.windows(2).any(|w| w[0].0 >= w[1].0) || p.buckets.iter().any(|b| b.1 == 0) {
                    return Err("buckets must be ascending with positive counts".into());
                }
                let total = p.buckets.iter().try_fold(0u64, |s, b| s.checked_add(b.1));
                if total != Some(p.n) {
                    return Err("bucket counts must add up to n".into());
                }
                let finite = p.min.iter().chain(p.max.iter()).all(|v| v.is_finite());
                if !finite || p.m2 < 0.0 || (p.n > 0) != (p.min.is_some() && p.max.is_some()) {
                    return Err("min and max must be finite and present when n > 0, m2 >= 0 or null".into());
                }
                if let (Some(lo), Some(hi), Some(first), Some(last)) =
                    (p.min, p.max, p.buckets.first(), p.buckets.last())
                {
                    if lo > hi || index(lo, p.level) != first.0 || index(hi, p.level) != last.0 {
                        return Err("min and max must fall in the first and last buckets".into());
                    }
                }
                Ok(())
            }
            Profile::Categorical(p) => {
                let total = p.categories.iter().try_fold(p.other, |s, c| s.checked_add(c.1));
                if total != Some(p.n) || p.categories.iter().any(|c| c.1 == 0) {
                    return Err("category counts and other must add up to n, counts positive".into());
                }
                if p.categories.len() > MAX_CATEGORIES {
                    return Err(format!("more than {MAX_CATEGORIES} categories"));
                }
                let mut seen = std::collections::HashSet::new();
                if !p.categories.iter().all(|c| seen.insert(c.0.as_str())) {
                    return Err("a category appears twice".into());
                }
                Ok(())
            }
        }
    }
}

/// JSON has no NaN or infinity: a non-finite moment is written as null and read back as NaN.
mod finite_or_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

fn checked_sum(a: u64, b: u64) -> Result<u64> {
    a.checked_add(b).ok_or_else(|| {
        PulseError::invalid("the profiles' counts add up to more than 2^64")
            .hint("Check the profiles' text; no real table has that many rows.")
    })
}

const PROFILE_HINT: &str = "Build profiles with drift_profile(); the text form is the JSON they print.";

fn index(x: f64, level: u32) -> u64 {
    coarser(key(x), level)
}

/// A bucket index `shift` levels coarser (shifts of 64 or more leave one bucket, 0).
pub(crate) fn coarser(bucket: u64, shift: u32) -> u64 {
    bucket.checked_shr(shift).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Numeric aggregate state
// ---------------------------------------------------------------------------------------------

/// Transition state of `drift_profile(float8)`.
#[derive(Clone, Debug, Default)]
pub struct NumericState {
    n: u64,
    nulls: u64,
    nans: u64,
    pos_inf: u64,
    neg_inf: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    level: u32,
    buckets: FxHashMap<u64, u64>,
}

impl NumericState {
    pub fn add_null(&mut self) {
        self.nulls += 1;
    }

    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            match x {
                f64::INFINITY => self.pos_inf += 1,
                f64::NEG_INFINITY => self.neg_inf += 1,
                _ => self.nans += 1,
            }
            return;
        }
        // Welford: stable for any offset, and one division per row is cheap next to the hash.
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
        if self.n == 1 {
            (self.min, self.max) = (x, x);
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        *self.buckets.entry(index(x, self.level)).or_insert(0) += 1;
        if self.buckets.len() > MAX_BUCKETS {
            self.fit();
        }
    }

    /// Coarsens one level at a time until the buckets fit: the smallest level that fits.
    fn fit(&mut self) {
        while self.buckets.len() > MAX_BUCKETS {
            self.coarsen_to(self.level + 1);
        }
    }

    fn coarsen_to(&mut self, level: u32) {
        if level <= self.level {
            return;
        }
        let shift = level - self.level;
        let mut next = FxHashMap::with_capacity_and_hasher(self.buckets.len(), Default::default());
        for (&b, &c) in &self.buckets {
            *next.entry(coarser(b, shift)).or_insert(0) += c;
        }
        self.buckets = next;
        self.level = level;
    }

    /// Merges another state (parallel combine, roll-ups): Chan's formulas for the moments, bucket
    /// counts at the coarser level, then coarsened until they fit.
    pub fn merge(&mut self, other: &NumericState) -> Result<()> {
        self.nulls = checked_sum(self.nulls, other.nulls)?;
        self.nans = checked_sum(self.nans, other.nans)?;
        self.pos_inf = checked_sum(self.pos_inf, other.pos_inf)?;
        self.neg_inf = checked_sum(self.neg_inf, other.neg_inf)?;
        if other.n == 0 {
            return Ok(());
        }
        // Bucket counts add up to n, so none of their sums can overflow once n does not.
        let n = checked_sum(self.n, other.n)?;
        if self.n == 0 {
            (self.mean, self.m2, self.min, self.max) = (other.mean, other.m2, other.min, other.max);
        } else {
            let (na, nb) = (self.n as f64, other.n as f64);
            let n = na + nb;
            let delta = other.mean - self.mean;
            self.mean += delta * (nb / n);
            self.m2 += other.m2 + delta * delta * (na * nb / n);
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.n = n;
        let level = self.level.max(other.level);
        self.coarsen_to(level);
        for (&b, &c) in &other.buckets {
            *self.buckets.entry(coarser(b, level - other.level)).or_insert(0) += c;
        }
        self.fit();
        Ok(())
    }

    pub fn profile(&self) -> Numeric {
        let mut buckets: Vec<(u64, u64)> = self.buckets.iter().map(|(&b, &c)| (b, c)).collect();
        buckets.sort_unstable();
        // Overflowed moments (values beyond about ±1e154) are NaN, whichever way they overflowed.
        let moment = |x: f64| if x.is_finite() { x } else { f64::NAN };
        Numeric {
            n: self.n,
            nulls: self.nulls,
            nans: self.nans,
            pos_inf: self.pos_inf,
            neg_inf: self.neg_inf,
            mean: if self.n > 0 { moment(self.mean) } else { 0.0 },
            // (f64::max alone would turn a NaN into 0.)
            m2: if self.n < 2 {
                0.0
            } else if self.m2.is_nan() {
                f64::NAN
            } else {
                moment(self.m2.max(0.0))
            },
            min: (self.n > 0).then_some(self.min),
            max: (self.n > 0).then_some(self.max),
            level: self.level,
            buckets,
        }
    }

    pub fn from_profile(p: &Numeric) -> NumericState {
        NumericState {
            n: p.n,
            nulls: p.nulls,
            nans: p.nans,
            pos_inf: p.pos_inf,
            neg_inf: p.neg_inf,
            mean: p.mean,
            m2: p.m2,
            min: p.min.unwrap_or(0.0),
            max: p.max.unwrap_or(0.0),
            level: p.level,
            buckets: p.buckets.iter().copied().collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Categorical aggregate state
// ---------------------------------------------------------------------------------------------

/// Transition state of `drift_profile(text)`: exact counts (the cap applies when finalised).
#[derive(Clone, Debug, Default)]
pub struct CategoricalState {
    nulls: u64,
    /// Bytes of the distinct categories held.
    bytes: usize,
    /// Pooled counts carried in from capped profiles being merged.
    other: u64,
    counts: FxHashMap<String, u64>,
}

impl CategoricalState {
    pub fn add_null(&mut self) {
        self.nulls += 1;
    }

    pub fn add(&mut self, category: &str) -> Result<()> {
        self.add_count(category, 1)
    }

    fn add_count(&mut self, category: &str, count: u64) -> Result<()> {
        match self.counts.get_mut(category) {
            Some(c) => *c = checked_sum(*c, count)?,
            None => {
                self.bytes += category.len();
                if self.counts.len() >= MAX_STATE_CATEGORIES || self.bytes > MAX_STATE_BYTES {
                    let mb = MAX_STATE_BYTES >> 20;
                    return Err(PulseError::new(
                        Kind::LimitExceeded,
                        format!("a categorical drift profile holds at most {MAX_STATE_CATEGORIES} distinct values and {mb} MB of them"),
                    )
                    .hint("Profile a lower-cardinality column, or bucket the values in the query."));
                }
                self.counts.insert(category.to_owned(), count);
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &CategoricalState) -> Result<()> {
        self.nulls = checked_sum(self.nulls, other.nulls)?;
        self.other = checked_sum(self.other, other.other)?;
        for (k, &c) in &other.counts {
            self.add_count(k, c)?;
        }
        Ok(())
    }

    /// The profile, keeping the `cap` most frequent categories (ties by value) when capped.
    pub fn profile(&self, capped: bool) -> Categorical {
        let mut categories: Vec<(String, u64)> = self.counts.iter().map(|(k, &c)| (k.clone(), c)).collect();
        categories.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut other = self.other;
        if capped && categories.len() > MAX_CATEGORIES {
            other += categories[MAX_CATEGORIES..].iter().map(|c| c.1).sum::<u64>();
            categories.truncate(MAX_CATEGORIES);
        }
        // Merges checked every count; their total fits as the inputs' totals did (validated).
        let n = categories.iter().fold(other, |s, c| s.saturating_add(c.1));
        Categorical { n, nulls: self.nulls, other, categories }
    }

    pub fn from_profile(p: &Categorical) -> CategoricalState {
        let bytes = p.categories.iter().map(|c| c.0.len()).sum();
        CategoricalState { nulls: p.nulls, bytes, other: p.other, counts: p.categories.iter().cloned().collect() }
    }
}

/// Transition state of `drift_profile_merge`, which may receive either kind.
#[derive(Clone, Debug, Default)]
pub enum MergeState {
    #[default]
    Empty,
    Numeric(NumericState),
    Categorical(CategoricalState),
}

impl MergeState {
    pub fn add(&mut self, p: &Profile) -> Result<()> {
        match (&mut *self, p) {
            (MergeState::Empty, Profile::Numeric(p)) => *self = MergeState::Numeric(NumericState::from_profile(p)),
            (MergeState::Empty, Profile::Categorical(p)) => {
                *self = MergeState::Categorical(CategoricalState::from_profile(p))
            }
            (MergeState::Numeric(s), Profile::Numeric(p)) => s.merge(&NumericState::from_profile(p))?,
            (MergeState::Categorical(s), Profile::Categorical(p)) => s.merge(&CategoricalState::from_profile(p))?,
            _ => return Err(kind_mismatch()),
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &MergeState) -> Result<()> {
        match (&mut *self, other) {
            (_, MergeState::Empty) => {}
            (MergeState::Empty, o) => *self = o.clone(),
            (MergeState::Numeric(a), MergeState::Numeric(b)) => a.merge(b)?,
            (MergeState::Categorical(a), MergeState::Categorical(b)) => a.merge(b)?,
            _ => return Err(kind_mismatch()),
        }
        Ok(())
    }

    /// Uncapped for parallel partial states, capped for the result.
    pub fn profile(&self, capped: bool) -> Option<Profile> {
        match self {
            MergeState::Empty => None,
            MergeState::Numeric(s) => Some(Profile::Numeric(s.profile())),
            MergeState::Categorical(s) => Some(Profile::Categorical(s.profile(capped))),
        }
    }

    pub fn from_profile(p: &Profile) -> MergeState {
        match p {
            Profile::Numeric(p) => MergeState::Numeric(NumericState::from_profile(p)),
            Profile::Categorical(p) => MergeState::Categorical(CategoricalState::from_profile(p)),
        }
    }
}

pub fn kind_mismatch() -> PulseError {
    PulseError::invalid("cannot combine a numeric drift profile with a categorical one")
        .hint("Profile numbers with drift_profile(float8) and labels with drift_profile(text) on both sides.")
}
