//! Feature maths, pure Rust: the states behind the `feature_*` aggregates and the scalar helpers.
//!
//! Every aggregate state supports add, remove (the inverse transition of a moving window), merge
//! (parallel combine) and a versioned byte form (serial/deserial). Sums that a window subtracts
//! from are kept as double-double numbers (an unevaluated pair `hi + lo`, ~106 bits) built from
//! error-free transformations, so removing values leaves a state equal to a fresh computation
//! over the remaining values to ~1e-16 relative instead of accumulating cancellation errors.
//!
//! Submodules: [`decay`] (decayed sum, EWMA) and [`distinct`] (exact / HyperLogLog distinct).
use crate::error::{Kind, PulseError, Result};

pub mod decay;
pub mod distinct;

// ---------------------------------------------------------------------------------------------
// Double-double arithmetic
// ---------------------------------------------------------------------------------------------

/// `a + b = s + e` exactly (Knuth's TwoSum, no precondition on magnitudes).
#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `a * b = p + e` exactly (FMA-based TwoProd).
#[inline]
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// `x · 2^k`, exact unless the result is subnormal or overflows.
#[inline]
pub(crate) fn scale2(mut x: f64, mut k: i64) -> f64 {
    const STEP: i64 = 1000;
    while k > STEP {
        x *= 2f64.powi(STEP as i32);
        k -= STEP;
        if x == 0.0 || x.is_infinite() {
            return x;
        }
    }
    while k < -STEP {
        x *= 2f64.powi(-STEP as i32);
        k += STEP;
        if x == 0.0 {
            return x;
        }
    }
    x * 2f64.powi(k as i32)
}

/// An unevaluated sum `hi + lo` with `|lo| <= ulp(hi) / 2`: about 106 bits of significand.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DoubleDouble {
    pub hi: f64,
    pub lo: f64,
}

impl DoubleDouble {
    pub const ZERO: DoubleDouble = DoubleDouble { hi: 0.0, lo: 0.0 };

    #[inline]
    fn renormalise(hi: f64, lo: f64) -> Self {
        let (hi, lo) = two_sum(hi, lo);
        DoubleDouble { hi, lo }
    }

    /// The exact product `a · b` as a double-double.
    #[inline]
    pub fn product(a: f64, b: f64) -> Self {
        let (hi, lo) = two_prod(a, b);
        DoubleDouble { hi, lo }
    }

    /// `self + x` (QD library's accurate addition).
    #[inline]
    pub fn plus(self, x: DoubleDouble) -> Self {
        let (s1, s2) = two_sum(self.hi, x.hi);
        let (t1, t2) = two_sum(self.lo, x.lo);
        let (s1, s2) = two_sum(s1, s2 + t1);
        Self::renormalise(s1, s2 + t2)
    }

    #[inline]
    pub fn add_f64(self, x: f64) -> Self {
        let (s, e) = two_sum(self.hi, x);
        Self::renormalise(s, e + self.lo)
    }

    #[inline]
    pub fn negated(self) -> Self {
        DoubleDouble { hi: -self.hi, lo: -self.lo }
    }

    #[inline]
    pub fn minus(self, x: DoubleDouble) -> Self {
        self.plus(x.negated())
    }

    pub fn times(self, x: DoubleDouble) -> Self {
        let (p, e) = two_prod(self.hi, x.hi);
        Self::renormalise(p, e + (self.hi * x.lo + self.lo * x.hi))
    }

    pub fn div_f64(self, d: f64) -> Self {
        let q1 = self.hi / d;
        let r = self.minus(Self::product(q1, d));
        Self::renormalise(q1, r.hi / d)
    }

    /// `self · 2^k`: exact (both halves are scaled by a power of two).
    #[inline]
    pub fn scale2(self, k: i64) -> Self {
        DoubleDouble { hi: scale2(self.hi, k), lo: scale2(self.lo, k) }
    }

    #[inline]
    pub fn value(self) -> f64 {
        if self.hi.is_finite() {
            self.hi + self.lo
        } else {
            self.hi
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Non-finite inputs
// ---------------------------------------------------------------------------------------------

/// Counts of NaN, +Infinity and -Infinity inputs. They stay out of the sums (an infinity in a
/// sum cannot be subtracted again) and decide the result with Postgres float semantics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonFinite {
    pub nan: u64,
    pub pos_inf: u64,
    pub neg_inf: u64,
}

impl NonFinite {
    fn counter(&mut self, x: f64) -> Option<&mut u64> {
        if x.is_nan() {
            Some(&mut self.nan)
        } else if x == f64::INFINITY {
            Some(&mut self.pos_inf)
        } else if x == f64::NEG_INFINITY {
            Some(&mut self.neg_inf)
        } else {
            None
        }
    }

    /// Counts `x` if it is not finite; false for finite values (the caller adds them).
    #[inline]
    pub fn add(&mut self, x: f64) -> bool {
        self.counter(x).map(|c| *c += 1).is_some()
    }

    #[inline]
    pub fn remove(&mut self, x: f64) -> bool {
        self.counter(x).map(|c| *c = c.saturating_sub(1)).is_some()
    }

    pub fn merge(&mut self, other: &NonFinite) {
        self.nan += other.nan;
        self.pos_inf += other.pos_inf;
        self.neg_inf += other.neg_inf;
    }

    pub fn total(&self) -> u64 {
        self.nan + self.pos_inf + self.neg_inf
    }

    /// The result forced by non-finite inputs: NaN for any NaN or for +inf with -inf, else ±inf;
    /// `None` when all inputs were finite.
    pub fn forced(&self) -> Option<f64> {
        if self.nan > 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
            Some(f64::NAN)
        } else if self.pos_inf > 0 {
            Some(f64::INFINITY)
        } else if self.neg_inf > 0 {
            Some(f64::NEG_INFINITY)
        } else {
            None
        }
    }

    fn write(&self, w: &mut Writer) {
        w.u64(self.nan);
        w.u64(self.pos_inf);
        w.u64(self.neg_inf);
    }

    fn read(r: &mut Reader) -> Result<Self> {
        Ok(NonFinite { nan: r.u64()?, pos_inf: r.u64()?, neg_inf: r.u64()? })
    }
}

// ---------------------------------------------------------------------------------------------
// Byte form of states (serial / deserial for parallel aggregation)
// ---------------------------------------------------------------------------------------------

/// Little-endian writer for the byte form of a state; the first byte is a format tag.
pub(crate) struct Writer(pub Vec<u8>);

impl Writer {
    pub fn new(tag: u8, capacity: usize) -> Self {
        let mut v = Vec::with_capacity(capacity + 1);
        v.push(tag);
        Writer(v)
    }
    pub fn u8(&mut self, x: u8) {
        self.0.push(x);
    }
    pub fn u64(&mut self, x: u64) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    pub fn i64(&mut self, x: i64) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    pub fn f64(&mut self, x: f64) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    pub fn dd(&mut self, x: DoubleDouble) {
        self.f64(x.hi);
        self.f64(x.lo);
    }
    pub fn bytes(&mut self, x: &[u8]) {
        self.0.extend_from_slice(x);
    }
}

/// Reader matching [`Writer`]; every malformed input is an error, never a panic.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

pub(crate) fn corrupt_state(what: &str) -> PulseError {
    PulseError::new(Kind::InvalidText, format!("corrupt {what} aggregate state"))
        .detail("The serialised aggregate state has an unexpected length or format tag.")
}

impl<'a> Reader<'a> {
    /// Checks the format tag and returns a reader over the payload.
    pub fn new(buf: &'a [u8], tag: u8, what: &str) -> Result<Self> {
        match buf.split_first() {
            Some((&t, rest)) if t == tag => Ok(Reader { buf: rest }),
            _ => Err(corrupt_state(what)),
        }
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(corrupt_state("feature"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn array8(&mut self) -> Result<[u8; 8]> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array8()?))
    }
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array8()?))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array8()?))
    }
    pub fn dd(&mut self) -> Result<DoubleDouble> {
        Ok(DoubleDouble { hi: self.f64()?, lo: self.f64()? })
    }
    pub fn finish(self, what: &str) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(corrupt_state(what))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Moments: count, sum, mean, stddev
// ---------------------------------------------------------------------------------------------

const MOMENTS_TAG: u8 = 0x4d; // 'M', format version 1

/// 2^-96: relative resolution below which a double-double difference is treated as zero.
const RESOLUTION: f64 = 1.0 / (1u128 << 96) as f64;

/// Count, sum and sum of squares of the finite inputs (double-double), plus non-finite counters.
/// Shared by `feature_count`, `feature_sum`, `feature_mean` and `feature_stddev`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Number of finite values in the sums.
    pub n: u64,
    pub sum: DoubleDouble,
    pub sum_sq: DoubleDouble,
    pub non_finite: NonFinite,
}

impl Moments {
    pub fn add(&mut self, x: f64) {
        if self.non_finite.add(x) {
            return;
        }
        self.n += 1;
        self.sum = self.sum.add_f64(x);
        self.sum_sq = self.sum_sq.plus(DoubleDouble::product(x, x));
    }

    /// Inverse of [`Moments::add`]; always possible.
    pub fn remove(&mut self, x: f64) {
        if self.non_finite.remove(x) {
            return;
        }
        self.n = self.n.saturating_sub(1);
        if self.n == 0 {
            // Drop any rounding residue: an empty frame is exactly zero.
            self.sum = DoubleDouble::ZERO;
            self.sum_sq = DoubleDouble::ZERO;
        } else {
            self.sum = self.sum.add_f64(-x);
            self.sum_sq = self.sum_sq.minus(DoubleDouble::product(x, x));
        }
    }

    pub fn merge(&mut self, other: &Moments) {
        self.n += other.n;
        self.sum = self.sum.plus(other.sum);
        self.sum_sq = self.sum_sq.plus(other.sum_sq);
        self.non_finite.merge(&other.non_finite);
    }

    /// All non-NULL inputs, finite or not.
    pub fn count(&self) -> u64 {
        self.n + self.non_finite.total()
    }

    /// NULL (None) for empty input, like SQL `sum`.
    pub fn sum(&self) -> Option<f64> {
        if self.count() == 0 {
            return None;
        }
        Some(self.non_finite.forced().unwrap_or_else(|| self.sum.value()))
    }

    pub fn mean(&self) -> Option<f64> {
        if self.count() == 0 {
            return None;
        }
        Some(self.non_finite.forced().unwrap_or_else(|| self.sum.div_f64(self.n as f64).value()))
    }

    /// Sample variance `(Σx² − (Σx)²/n) / (n − 1)`, evaluated in double-double: the relative
    /// error is about 1e-32 · mean² / variance, so below 1e-12 while |mean| / stddev < 1e10.
    /// Never negative. None for n < 2.
    pub fn variance(&self) -> Option<f64> {
        if self.count() < 2 {
            return None;
        }
        if self.non_finite.total() > 0 {
            return Some(f64::NAN);
        }
        let n = self.n as f64;
        let centred = self.sum_sq.minus(self.sum.times(self.sum).div_f64(n)).value();
        // Below 2^-96 of Σx² the difference is rounding noise of the 106-bit sums (constant
        // inputs land there): report exactly 0, so a constant history has stddev 0.
        Some(if centred > self.sum_sq.hi * RESOLUTION { centred / (n - 1.0) } else { 0.0 })
    }

    /// Sample standard deviation; None for n < 2.
    pub fn stddev(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(MOMENTS_TAG, 64);
        w.u64(self.n);
        w.dd(self.sum);
        w.dd(self.sum_sq);
        self.non_finite.write(&mut w);
        w.0
    }

    pub fn from_bytes(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, MOMENTS_TAG, "moments")?;
        let m = Moments { n: r.u64()?, sum: r.dd()?, sum_sq: r.dd()?, non_finite: NonFinite::read(&mut r)? };
        r.finish("moments")?;
        Ok(m)
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar helpers
// ---------------------------------------------------------------------------------------------

/// A float as Postgres prints it (`Infinity`, not Rust's `inf`), for error details.
fn pg_float(v: f64) -> String {
    match v {
        f64::INFINITY => "Infinity".into(),
        f64::NEG_INFINITY => "-Infinity".into(),
        _ => v.to_string(),
    }
}

/// Mean earth radius (IUGG R1), km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in km between two points given in degrees (haversine formula).
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> Result<f64> {
    for (name, v) in [("lat1", lat1), ("lat2", lat2)] {
        if !(-90.0..=90.0).contains(&v) {
            return Err(PulseError::invalid(format!("{name} must be between -90 and 90 degrees"))
                .detail(format!("The value given was {}.", pg_float(v))));
        }
    }
    for (name, v) in [("lon1", lon1), ("lon2", lon2)] {
        if !(-180.0..=180.0).contains(&v) {
            return Err(PulseError::invalid(format!("{name} must be between -180 and 180 degrees"))
                .detail(format!("The value given was {}.", pg_float(v))));
        }
    }
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let dphi = phi2 - phi1;
    let dlambda = (lon2 - lon1).to_radians();
    let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    Ok(2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin())
}

/// `(sin, cos)` of `2π · value / period`. Reduced by quarter turns first, so whole quarters are
/// exact (hour 6 of 24 gives cos = 0, not 6e-17). Non-finite values give NaN.
pub fn cyclical(value: f64, period: f64) -> Result<(f64, f64)> {
    if !(period.is_finite() && period > 0.0) {
        return Err(PulseError::invalid("period must be a positive finite number")
            .detail(format!("The value given was {}.", pg_float(period))));
    }
    let turns = value / period;
    if !turns.is_finite() {
        return Ok((f64::NAN, f64::NAN));
    }
    let quarters = turns.rem_euclid(1.0) * 4.0;
    let q = quarters.floor();
    let angle = (quarters - q) * std::f64::consts::FRAC_PI_2;
    let (s, c) = angle.sin_cos();
    let (s, c) = match (q as i64).rem_euclid(4) {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    };
    // + 0.0 turns -0 into 0.
    Ok((s + 0.0, c + 0.0))
}

/// `(value − mean) / stddev`; None when stddev is 0 or not finite.
pub fn zscore(value: f64, mean: f64, stddev: f64) -> Option<f64> {
    if stddev == 0.0 || !stddev.is_finite() {
        None
    } else {
        Some((value - mean) / stddev)
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Small deterministic PRNG (SplitMix64) for tests; no dependency needed.
#[cfg(test)]
pub(crate) struct SplitMix(pub u64);

#[cfg(test)]
impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
pub(crate) fn assert_rel(actual: f64, expected: f64, tol: f64, what: &str) {
    let scale = expected.abs().max(f64::MIN_POSITIVE);
    assert!(
        (actual - expected).abs() <= tol * scale,
        "{what}: {actual} vs {expected} (relative error {})",
        (actual - expected).abs() / scale
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(xs: &[f64]) -> Moments {
        let mut m = Moments::default();
        xs.iter().for_each(|&x| m.add(x));
        m
    }

    /// Two-pass reference in plain f64: values shifted by the first one (exact for nearby
    /// values), mean of the shifted values, then the centred sum of squares.
    fn two_pass_stddev(xs: &[f64]) -> f64 {
        let n = xs.len() as f64;
        let shifted: Vec<f64> = xs.iter().map(|x| x - xs[0]).collect();
        let mean = shifted.iter().sum::<f64>() / n;
        (shifted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    }

    #[test]
    fn double_double_is_exact_where_f64_is_not() {
        let s = DoubleDouble::ZERO.add_f64(1e16).add_f64(1.0).add_f64(1.0).add_f64(-1e16);
        assert_eq!(s.value(), 2.0);
        assert_eq!(1e16 + 1.0 + 1.0 - 1e16, 0.0); // plain f64 loses both ones
        let p = DoubleDouble::product(1e16 + 2.0, 1e16 + 2.0);
        // (1e16 + 2)² = 1e32 + 4e16 + 4: lo carries what hi cannot.
        assert_eq!(p.minus(DoubleDouble::product(1e16, 1e16)).value(), 4e16 + 4.0);
        let third = DoubleDouble { hi: 1.0, lo: 0.0 }.div_f64(3.0);
        assert!((third.times(DoubleDouble { hi: 3.0, lo: 0.0 }).value() - 1.0).abs() < 1e-30);
        assert_eq!(DoubleDouble { hi: 3.0, lo: 1e-20 }.scale2(-3), DoubleDouble { hi: 0.375, lo: 1.25e-21 });
        assert_eq!(scale2(1.0, -1074), f64::from_bits(1));
        assert_eq!(scale2(1.0, 1023), 2f64.powi(1023));
        assert_eq!(scale2(3.0, -5000), 0.0);
    }

    #[test]
    fn empty_and_small_inputs() {
        let m = Moments::default();
        assert_eq!((m.count(), m.sum(), m.mean(), m.stddev()), (0, None, None, None));
        let m = moments(&[4.0]);
        assert_eq!((m.count(), m.sum(), m.mean(), m.stddev()), (1, Some(4.0), Some(4.0), None));
        let m = moments(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m.count(), 8);
        assert_eq!(m.sum(), Some(40.0));
        assert_eq!(m.mean(), Some(5.0));
        // Σ(x − 5)² = 32, sample variance 32 / 7.
        assert_rel(m.stddev().unwrap(), (32.0f64 / 7.0).sqrt(), 1e-15, "stddev");
        assert_eq!(moments(&[3.0, 3.0, 3.0]).stddev(), Some(0.0));
    }

    #[test]
    fn stddev_matches_two_pass_even_with_a_large_offset() {
        let mut rng = SplitMix(7);
        for offset in [0.0, 1e6, 1e9, -1e11] {
            let xs: Vec<f64> = (0..5000).map(|_| offset + rng.unit() * 10.0).collect();
            let m = moments(&xs);
            assert_rel(m.stddev().unwrap(), two_pass_stddev(&xs), 1e-9, &format!("offset {offset}"));
            // Naive single-pass f64 formula is visibly wrong at 1e9 — the case the double-double
            // exists for.
            if offset == 1e9 {
                let (s, q) = xs.iter().fold((0.0, 0.0), |(s, q), x| (s + x, q + x * x));
                let n = xs.len() as f64;
                let naive = ((q - s * s / n) / (n - 1.0)).max(0.0).sqrt();
                assert!((naive - two_pass_stddev(&xs)).abs() > 1e-3, "naive {naive}");
            }
        }
    }

    #[test]
    fn catastrophic_cancellation_then_removal() {
        let mut m = moments(&[1e16, 1.0, -1e16]);
        assert_eq!(m.sum(), Some(1.0));
        assert_eq!(1e16 + 1.0 - 1e16, 0.0); // what plain f64 gives
        assert_rel(m.mean().unwrap(), 1.0 / 3.0, 1e-15, "mean");
        // Exact sample variance of {1e16, 1, -1e16}: (2e32 + 1 - 1/3) / 2.
        assert_rel(m.variance().unwrap(), 1e32, 1e-15, "variance");
        m.remove(1e16);
        m.remove(-1e16);
        assert_eq!((m.count(), m.sum(), m.mean(), m.stddev()), (1, Some(1.0), Some(1.0), None));
        // With squares within 106 bits of each other (2e30 + 1 fits), Σx² comes back exactly too.
        let mut m = moments(&[1e15, 1.0, -1e15]);
        m.remove(1e15);
        m.remove(-1e15);
        m.add(3.0);
        assert_eq!(m.sum_sq.value(), 10.0);
        assert_eq!(m.stddev(), Some(2f64.sqrt()));
        // Beyond that (1e32 + 1e32 + 1 needs 108 bits) the square of 1 is below the resolution:
        // the documented limit of double-double sums.
    }

    /// Sliding window: add values, remove the oldest through the inverse, compare with a fresh
    /// state and a naive recomputation over what remains.
    #[test]
    fn sliding_window_equals_fresh_computation() {
        let mut rng = SplitMix(42);
        let xs: Vec<f64> = (0..20_000)
            .map(|i| {
                let base = 1000.0 + 50.0 * (rng.unit() - 0.5);
                // occasional spikes six orders of magnitude larger
                if i % 997 == 0 {
                    base * 1e6
                } else {
                    base
                }
            })
            .collect();
        let mut m = Moments::default();
        let width = 300;
        for (i, &x) in xs.iter().enumerate() {
            m.add(x);
            if i >= width {
                m.remove(xs[i - width]);
            }
            if i % 113 == 0 || i == xs.len() - 1 {
                let window = &xs[i.saturating_sub(width - 1)..=i];
                let fresh = moments(window);
                assert_eq!(m.count(), fresh.count());
                assert_rel(m.sum().unwrap(), fresh.sum().unwrap(), 1e-12, "sum");
                assert_rel(m.mean().unwrap(), fresh.mean().unwrap(), 1e-12, "mean");
                if window.len() > 1 {
                    assert_rel(m.stddev().unwrap(), fresh.stddev().unwrap(), 1e-12, "stddev");
                    assert_rel(m.stddev().unwrap(), two_pass_stddev(window), 1e-9, "stddev two-pass");
                }
            }
        }
    }

    #[test]
    fn non_finite_inputs_follow_postgres_and_can_be_removed() {
        let mut m = moments(&[1.0, f64::INFINITY, 2.0]);
        assert_eq!((m.count(), m.sum(), m.mean()), (3, Some(f64::INFINITY), Some(f64::INFINITY)));
        assert!(m.stddev().unwrap().is_nan());
        m.add(f64::NEG_INFINITY);
        assert!(m.sum().unwrap().is_nan());
        m.remove(f64::INFINITY);
        assert_eq!(m.sum(), Some(f64::NEG_INFINITY));
        m.remove(f64::NEG_INFINITY);
        assert_eq!((m.sum(), m.mean(), m.stddev()), (Some(3.0), Some(1.5), Some(0.5f64.sqrt())));
        m.add(f64::NAN);
        assert!(m.mean().unwrap().is_nan());
        m.remove(f64::NAN);
        assert_eq!(m.mean(), Some(1.5));
    }

    #[test]
    fn variance_is_never_negative() {
        for x in [0.1, 9.99, 1e-150, 3.3e150, 123456.789] {
            let m = moments(&[x, x, x, x, x]);
            assert_eq!(m.variance(), Some(0.0), "{x}");
        }
        let mut m = moments(&[0.1, 0.2, 0.3]);
        m.remove(0.3);
        m.remove(0.2);
        m.add(0.1);
        assert!(m.variance().unwrap() >= 0.0);
        assert!(m.variance().unwrap() < 1e-30);
    }

    #[test]
    fn merge_equals_sequential_and_bytes_round_trip() {
        let mut rng = SplitMix(3);
        let xs: Vec<f64> = (0..1000).map(|_| rng.unit() * 1e4 - 5e3).collect();
        let all = moments(&xs);
        let mut left = moments(&xs[..400]);
        let right = moments(&xs[400..]);
        left.merge(&right);
        assert_eq!(left.count(), all.count());
        assert_rel(left.mean().unwrap(), all.mean().unwrap(), 1e-15, "mean");
        assert_rel(left.stddev().unwrap(), all.stddev().unwrap(), 1e-15, "stddev");
        let mut with_inf = all;
        with_inf.add(f64::NEG_INFINITY);
        for state in [Moments::default(), all, with_inf] {
            let bytes = state.to_bytes();
            assert_eq!(bytes.len(), 1 + 8 + 32 + 24);
            assert_eq!(Moments::from_bytes(&bytes), Ok(state));
        }
        assert_eq!(Moments::from_bytes(&[]).unwrap_err().kind, Kind::InvalidText);
        assert!(Moments::from_bytes(&all.to_bytes()[..20]).is_err());
        let mut trailing = all.to_bytes();
        trailing.push(0);
        assert!(Moments::from_bytes(&trailing).is_err());
    }

    #[test]
    fn haversine_reference_values() {
        // Paris (48.8566, 2.3522) to London (51.5074, -0.1278): 343.5 km on a 6371.0088 km sphere
        // (reference computed independently with the same mean radius).
        let d = haversine_km(48.8566, 2.3522, 51.5074, -0.1278).unwrap();
        assert!((d - 343.56).abs() < 0.05, "{d}");
        // A quarter of a meridian and half the equator.
        assert_rel(
            haversine_km(0.0, 0.0, 90.0, 0.0).unwrap(),
            EARTH_RADIUS_KM * std::f64::consts::FRAC_PI_2,
            1e-15,
            "q",
        );
        assert_rel(haversine_km(0.0, -90.0, 0.0, 90.0).unwrap(), EARTH_RADIUS_KM * std::f64::consts::PI, 1e-15, "h");
        assert_eq!(haversine_km(10.0, 20.0, 10.0, 20.0), Ok(0.0));
        // Antipodes: rounding must not push asin's argument above 1.
        assert!(haversine_km(45.0, 30.0, -45.0, -150.0).unwrap().is_finite());
        for bad in [(91.0, 0.0, 0.0, 0.0), (0.0, 0.0, -90.5, 0.0), (0.0, 180.1, 0.0, 0.0), (0.0, 0.0, 0.0, f64::NAN)] {
            let e = haversine_km(bad.0, bad.1, bad.2, bad.3).unwrap_err();
            assert_eq!(e.kind, Kind::InvalidParameter);
        }
        assert_eq!(haversine_km(91.0, 0.0, 0.0, 0.0).unwrap_err().message, "lat1 must be between -90 and 90 degrees");
    }

    #[test]
    fn cyclical_encoding() {
        assert_eq!(cyclical(0.0, 24.0), Ok((0.0, 1.0)));
        assert_eq!(cyclical(6.0, 24.0), Ok((1.0, 0.0)));
        assert_eq!(cyclical(12.0, 24.0), Ok((0.0, -1.0)));
        assert_eq!(cyclical(18.0, 24.0), Ok((-1.0, 0.0)));
        assert_eq!(cyclical(-6.0, 24.0), Ok((-1.0, 0.0)));
        for h in [0.0, 6.0, 12.0, 18.0] {
            let (s, c) = cyclical(h, 24.0).unwrap();
            assert!(s.is_sign_positive() || s != 0.0, "-0 at {h}");
            assert!(c.is_sign_positive() || c != 0.0, "-0 at {h}");
        }
        assert_eq!(cyclical(30.0, 24.0), Ok((1.0, 0.0)));
        for x in [0.3, 1.7, 5.5, 9.25, 13.0, 23.9, -4.2, 100.1] {
            let (s, c) = cyclical(x, 24.0).unwrap();
            let a = 2.0 * std::f64::consts::PI * x / 24.0;
            assert!((s - a.sin()).abs() < 1e-14 && (c - a.cos()).abs() < 1e-14, "{x}: {s} {c}");
        }
        let (s, c) = cyclical(f64::INFINITY, 7.0).unwrap();
        assert!(s.is_nan() && c.is_nan());
        for p in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(cyclical(1.0, p).unwrap_err().kind, Kind::InvalidParameter);
        }
        assert_eq!(cyclical(1.0, f64::NEG_INFINITY).unwrap_err().detail.unwrap(), "The value given was -Infinity.");
    }

    #[test]
    fn zscore_values() {
        assert_eq!(zscore(15.0, 10.0, 2.5), Some(2.0));
        assert_eq!(zscore(5.0, 10.0, 2.5), Some(-2.0));
        assert_eq!(zscore(5.0, 10.0, 0.0), None);
        assert_eq!(zscore(5.0, 10.0, f64::NAN), None);
        assert_eq!(zscore(5.0, 10.0, f64::INFINITY), None);
    }
}
