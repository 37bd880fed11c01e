//! Time-decayed aggregates: `feature_decayed_sum` and `feature_ewma`.
//!
//! A row (value v, time ts) gets weight `w = 2^((ts − r) / h)` relative to a reference time `r`
//! that is a whole multiple of the half-life `h` (timestamps are integer microseconds). Splitting
//! `(ts − r) / h` into an integer part `q` and a fraction `f = (ts mod h) / h` makes
//! `w = 2^f · 2^q` with `2^f` in [1, 2) independent of the reference, and `2^q` an exact power of
//! two. Moving the reference forward by `k` half-lives ("rebasing", done when a row lands more
//! than [`REBASE_HALF_LIVES`] ahead, so `2^q` never overflows over any time span) multiplies the
//! double-double sums by exactly `2^−k`. Every row's term is therefore bit-for-bit the same
//! whichever reference it is computed against, and the inverse transition subtracts exactly what
//! was added, across rebases and across parallel workers.
use super::{corrupt_state, DoubleDouble, NonFinite, Reader, Writer};
use crate::error::{PulseError, Result};

/// Rebase when a new row is more than this many half-lives ahead of the reference: weights stay
/// below 2^257 (values up to ~1e230 cannot overflow).
pub const REBASE_HALF_LIVES: i64 = 256;

/// Below this the remaining weights have underflowed relative to the reference (only possible
/// when a window removes its newest rows first); the inverse then asks for a restart.
const DEGENERATE_WEIGHT: f64 = 1e-270;

const DECAY_TAG: u8 = 0x44; // 'D', format version 1

const MICROS_PER_DAY: i128 = 86_400_000_000;

/// The half-life of an interval in microseconds. Days count as 24 hours; months are refused
/// because they have no fixed length.
pub fn half_life_micros(months: i32, days: i32, micros: i64) -> Result<i64> {
    if months != 0 {
        return Err(PulseError::invalid("half_life must not have a months or years component")
            .hint("Months have no fixed length; use days or hours instead, e.g. interval '30 days'."));
    }
    let total = i128::from(days) * MICROS_PER_DAY + i128::from(micros);
    if total <= 0 {
        return Err(PulseError::invalid("half_life must be positive")
            .hint("Use a positive interval such as interval '1 hour'."));
    }
    // Bounded by i32::MAX days, so it fits in i64.
    i64::try_from(total).map_err(|_| PulseError::invalid("half_life is too large"))
}

/// Postgres encodes ±infinity timestamps as i64::MIN / i64::MAX.
fn finite_ts(ts: i64, name: &str) -> Result<i64> {
    if ts == i64::MIN || ts == i64::MAX {
        Err(PulseError::invalid(format!("{name} must be a finite timestamp"))
            .hint("Use a real point in time instead of 'infinity' or '-infinity'."))
    } else {
        Ok(ts)
    }
}

/// What the inverse transition achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Done,
    /// The state cannot represent the smaller frame exactly: recompute it from scratch.
    Restart,
}

/// State shared by the decayed sum and the EWMA.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Decay {
    /// Half-life in microseconds; 0 until the first row fixes it.
    pub half_life: i64,
    /// Reference time in half-lives: `r = ref_k · half_life` microseconds since 2000-01-01.
    ref_k: i64,
    /// Finite values in the sums.
    n: u64,
    sum_vw: DoubleDouble,
    sum_w: DoubleDouble,
    non_finite: NonFinite,
    /// Decayed sum only: the latest `as_of` among the rows, and how many rows carry it.
    as_of: Option<(i64, u64)>,
    /// Decayed sum only: rows that set the evaluation time (including rows with a NULL value).
    as_of_rows: u64,
}

impl Decay {
    fn set_half_life(&mut self, h: i64) -> Result<()> {
        if self.half_life == 0 {
            self.half_life = h;
            Ok(())
        } else if self.half_life == h {
            Ok(())
        } else {
            Err(PulseError::invalid("half_life must be the same for all rows of an aggregate").detail(format!(
                "The aggregate started with a half-life of {} seconds and a row gave {} seconds.",
                self.half_life as f64 / 1e6,
                h as f64 / 1e6
            )))
        }
    }

    /// Rows in the state, finite or not.
    pub fn included(&self) -> u64 {
        self.n + self.non_finite.total()
    }

    /// `(q, 2^f)` of `ts`: its weight is `2^f · 2^q` against the current reference.
    #[inline]
    fn split(&self, ts: i64) -> (i64, f64) {
        let h = self.half_life;
        let q = ts.div_euclid(h).saturating_sub(self.ref_k);
        (q, (ts.rem_euclid(h) as f64 / h as f64).exp2())
    }

    fn rebase_to(&mut self, k: i64) {
        let shift = k.saturating_sub(self.ref_k);
        self.sum_vw = self.sum_vw.scale2(-shift);
        self.sum_w = self.sum_w.scale2(-shift);
        self.ref_k = k;
    }

    fn reset_sums(&mut self) {
        self.sum_vw = DoubleDouble::ZERO;
        self.sum_w = DoubleDouble::ZERO;
    }

    fn add_point(&mut self, v: f64, ts: i64) {
        if self.non_finite.add(v) {
            return;
        }
        let k = ts.div_euclid(self.half_life);
        if self.n == 0 {
            self.reset_sums();
            self.ref_k = k;
        } else if k.saturating_sub(self.ref_k) > REBASE_HALF_LIVES {
            self.rebase_to(k);
        }
        self.n += 1;
        let (q, base) = self.split(ts);
        self.sum_vw = self.sum_vw.plus(DoubleDouble::product(v, base).scale2(q));
        self.sum_w = self.sum_w.add_f64(super::scale2(base, q));
    }

    fn remove_point(&mut self, v: f64, ts: i64) {
        if self.non_finite.remove(v) {
            return;
        }
        self.n = self.n.saturating_sub(1);
        if self.n == 0 {
            self.reset_sums();
            return;
        }
        let (q, base) = self.split(ts);
        self.sum_vw = self.sum_vw.minus(DoubleDouble::product(v, base).scale2(q));
        self.sum_w = self.sum_w.add_f64(-super::scale2(base, q));
    }

    fn degenerate(&self) -> bool {
        self.n > 0 && self.sum_w.hi < DEGENERATE_WEIGHT
    }

    /// Decayed-sum transition. Rows stamped after their own `as_of` are ignored (no leakage). A
    /// row with a NULL value adds nothing but still moves the evaluation time to its `as_of`, so
    /// "as of the current row" holds for a current row without a value too.
    pub fn add_decayed(&mut self, v: Option<f64>, ts: i64, half_life: i64, as_of: i64) -> Result<()> {
        self.set_half_life(half_life)?;
        let (ts, as_of) = (finite_ts(ts, "ts")?, finite_ts(as_of, "as_of")?);
        if ts > as_of {
            return Ok(());
        }
        if let Some(v) = v {
            self.add_point(v, ts);
        }
        self.as_of_rows += 1;
        self.as_of = match self.as_of {
            Some((m, c)) if m == as_of => Some((m, c + 1)),
            Some((m, c)) if m > as_of => Some((m, c)),
            _ => Some((as_of, 1)),
        };
        Ok(())
    }

    /// Decayed-sum inverse transition. Asks for a restart when the last row carrying the latest
    /// `as_of` leaves while others remain (the evaluation time would move backwards).
    pub fn remove_decayed(&mut self, v: Option<f64>, ts: i64, half_life: i64, as_of: i64) -> Result<Removal> {
        self.set_half_life(half_life)?;
        let (ts, as_of) = (finite_ts(ts, "ts")?, finite_ts(as_of, "as_of")?);
        if ts > as_of {
            return Ok(Removal::Done);
        }
        if let Some(v) = v {
            self.remove_point(v, ts);
        }
        self.as_of_rows = self.as_of_rows.saturating_sub(1);
        let mut lost_latest = false;
        if let Some((m, c)) = self.as_of.as_mut() {
            if *m == as_of {
                *c = c.saturating_sub(1);
                lost_latest = *c == 0;
            }
        }
        if self.as_of_rows == 0 {
            self.as_of = None;
            return Ok(Removal::Done);
        }
        Ok(if lost_latest || self.degenerate() { Removal::Restart } else { Removal::Done })
    }

    /// Σ v · 2^(−(as_of_max − ts) / half_life); 0 for an empty state.
    pub fn decayed_sum(&self) -> f64 {
        let Some((m, _)) = self.as_of else { return 0.0 };
        if let Some(forced) = self.non_finite.forced() {
            return forced;
        }
        if self.n == 0 || self.sum_w.hi == 0.0 {
            return 0.0;
        }
        let (q, base) = self.split(m);
        super::scale2(self.sum_vw.value() / base, -q)
    }

    pub fn add_ewma(&mut self, v: f64, ts: i64, half_life: i64) -> Result<()> {
        self.set_half_life(half_life)?;
        self.add_point(v, finite_ts(ts, "ts")?);
        Ok(())
    }

    pub fn remove_ewma(&mut self, v: f64, ts: i64, half_life: i64) -> Result<Removal> {
        self.set_half_life(half_life)?;
        self.remove_point(v, finite_ts(ts, "ts")?);
        Ok(if self.degenerate() { Removal::Restart } else { Removal::Done })
    }

    /// Σ v·w / Σ w with w = 2^(ts / half_life); None for an empty state.
    pub fn ewma(&self) -> Option<f64> {
        if self.included() == 0 {
            return None;
        }
        Some(self.non_finite.forced().unwrap_or_else(|| self.sum_vw.value() / self.sum_w.value()))
    }

    pub fn merge(&mut self, other: &Decay) -> Result<()> {
        if other.half_life != 0 {
            self.set_half_life(other.half_life)?;
        }
        if other.included() == 0 && other.as_of_rows == 0 {
            return Ok(());
        }
        if self.included() == 0 && self.as_of_rows == 0 {
            *self = *other;
            return Ok(());
        }
        if other.n > 0 {
            let mut other = *other;
            if self.n == 0 {
                self.reset_sums();
                self.ref_k = other.ref_k;
            }
            let k = self.ref_k.max(other.ref_k);
            self.rebase_to(k);
            other.rebase_to(k);
            self.sum_vw = self.sum_vw.plus(other.sum_vw);
            self.sum_w = self.sum_w.plus(other.sum_w);
        }
        self.n += other.n;
        self.as_of_rows += other.as_of_rows;
        self.non_finite.merge(&other.non_finite);
        self.as_of = match (self.as_of, other.as_of) {
            (Some((a, ca)), Some((b, cb))) if a == b => Some((a, ca + cb)),
            (Some((a, ca)), Some((b, cb))) => Some(if a > b { (a, ca) } else { (b, cb) }),
            (a, b) => a.or(b),
        };
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(DECAY_TAG, 112);
        w.i64(self.half_life);
        w.i64(self.ref_k);
        w.u64(self.n);
        w.dd(self.sum_vw);
        w.dd(self.sum_w);
        self.non_finite.write(&mut w);
        let (flag, m, c) = self.as_of.map_or((0, 0, 0), |(m, c)| (1, m, c));
        w.u8(flag);
        w.i64(m);
        w.u64(c);
        w.u64(self.as_of_rows);
        w.0
    }

    pub fn from_bytes(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, DECAY_TAG, "decay")?;
        let mut d = Decay {
            half_life: r.i64()?,
            ref_k: r.i64()?,
            n: r.u64()?,
            sum_vw: r.dd()?,
            sum_w: r.dd()?,
            non_finite: NonFinite::read(&mut r)?,
            as_of: None,
            as_of_rows: 0,
        };
        let (flag, m, c) = (r.u8()?, r.i64()?, r.u64()?);
        d.as_of_rows = r.u64()?;
        r.finish("decay")?;
        d.as_of = match flag {
            0 => None,
            1 => Some((m, c)),
            _ => return Err(corrupt_state("decay")),
        };
        if d.half_life < 0 || (d.half_life == 0 && d.included() > 0) {
            return Err(corrupt_state("decay"));
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{assert_rel, SplitMix};
    use super::*;
    use crate::error::Kind;

    const MIN: i64 = 60_000_000;
    const HOUR: i64 = 60 * MIN;
    const T0: i64 = 800_000_000 * 1_000_000; // 2025-05-08, in µs since 2000-01-01

    fn naive_decayed(rows: &[(f64, i64)], h: i64, as_of: i64) -> f64 {
        rows.iter().map(|&(v, ts)| v * (-((as_of - ts) as f64) / h as f64).exp2()).sum()
    }

    fn naive_ewma(rows: &[(f64, i64)], h: i64) -> f64 {
        let last = rows.iter().map(|r| r.1).max().unwrap();
        let w = |ts: i64| (-((last - ts) as f64) / h as f64).exp2();
        rows.iter().map(|&(v, ts)| v * w(ts)).sum::<f64>() / rows.iter().map(|&(_, ts)| w(ts)).sum::<f64>()
    }

    #[test]
    fn hand_derived_decayed_sums() {
        let mut d = Decay::default();
        d.add_decayed(Some(1.0), T0 - HOUR, HOUR, T0).unwrap();
        assert_eq!(d.decayed_sum(), 0.5);
        let mut d = Decay::default();
        d.add_decayed(Some(1.0), T0 - 2 * HOUR, HOUR, T0).unwrap();
        assert_eq!(d.decayed_sum(), 0.25);
        d.add_decayed(Some(3.0), T0, HOUR, T0).unwrap();
        assert_eq!(d.decayed_sum(), 3.25);
        // Half an hour: 2^-0.5.
        let mut d = Decay::default();
        d.add_decayed(Some(2.0), T0 - HOUR / 2, HOUR, T0).unwrap();
        assert_rel(d.decayed_sum(), 2f64.sqrt(), 1e-15, "half hour");
        assert_eq!(Decay::default().decayed_sum(), 0.0);
    }

    #[test]
    fn rows_after_their_as_of_are_ignored_and_latest_as_of_wins() {
        let mut d = Decay::default();
        d.add_decayed(Some(100.0), T0 + MIN, HOUR, T0).unwrap(); // stamped after its as_of: leakage
        assert_eq!((d.included(), d.decayed_sum()), (0, 0.0));
        d.add_decayed(Some(1.0), T0, HOUR, T0).unwrap();
        assert_eq!(d.decayed_sum(), 1.0);
        // A row evaluated as of one hour later moves the evaluation time for everyone.
        d.add_decayed(Some(1.0), T0 + HOUR, HOUR, T0 + HOUR).unwrap();
        assert_eq!(d.decayed_sum(), 1.5);
        // Removing the row that carries the latest as_of needs a restart.
        assert_eq!(d.remove_decayed(Some(1.0), T0 + HOUR, HOUR, T0 + HOUR), Ok(Removal::Restart));
        // ... but removing the oldest one does not.
        let mut d = Decay::default();
        d.add_decayed(Some(1.0), T0, HOUR, T0).unwrap();
        d.add_decayed(Some(1.0), T0 + HOUR, HOUR, T0 + HOUR).unwrap();
        assert_eq!(d.remove_decayed(Some(1.0), T0, HOUR, T0), Ok(Removal::Done));
        assert_eq!(d.decayed_sum(), 1.0);
        assert_eq!(d.remove_decayed(Some(1.0), T0 + HOUR, HOUR, T0 + HOUR), Ok(Removal::Done));
        assert_eq!((d.included(), d.decayed_sum()), (0, 0.0));
        // A row without a value still sets the evaluation time ("as of the current row").
        let mut d = Decay::default();
        d.add_decayed(Some(4.0), T0, HOUR, T0).unwrap();
        d.add_decayed(None, T0 + 2 * HOUR, HOUR, T0 + 2 * HOUR).unwrap();
        assert_eq!(d.decayed_sum(), 1.0);
        assert_eq!(d.remove_decayed(Some(4.0), T0, HOUR, T0), Ok(Removal::Done));
        assert_eq!(d.decayed_sum(), 0.0);
        assert_eq!(d.remove_decayed(None, T0 + 2 * HOUR, HOUR, T0 + 2 * HOUR), Ok(Removal::Done));
        assert_eq!(d.as_of, None);
    }

    /// A year of one-minute steps with a one-minute half-life: 2^525600 would overflow without
    /// rebasing. Window of the last 10 minutes, compared with a naive sum over the window.
    #[test]
    fn sliding_decayed_sum_over_a_year_of_minutes() {
        let mut rng = SplitMix(11);
        let steps = 366 * 24 * 60;
        let rows: Vec<(f64, i64)> = (0..steps).map(|i| (rng.unit() * 100.0 - 20.0, T0 + i * MIN)).collect();
        let mut d = Decay::default();
        let width = 10;
        for (i, &(v, ts)) in rows.iter().enumerate() {
            d.add_decayed(Some(v), ts, MIN, ts).unwrap();
            if i >= width {
                let (ov, ots) = rows[i - width];
                assert_eq!(d.remove_decayed(Some(ov), ots, MIN, ots), Ok(Removal::Done));
            }
            if i % 4999 == 0 || i == rows.len() - 1 {
                let window = &rows[i + 1 - width.min(i + 1)..=i];
                let mut fresh = Decay::default();
                window.iter().for_each(|&(v, ts)| fresh.add_decayed(Some(v), ts, MIN, ts).unwrap());
                assert_rel(d.decayed_sum(), fresh.decayed_sum(), 1e-12, "fresh");
                assert_rel(d.decayed_sum(), naive_decayed(window, MIN, ts), 1e-12, "naive");
            }
        }
    }

    #[test]
    fn sliding_ewma_equals_fresh_with_irregular_times() {
        let mut rng = SplitMix(5);
        let mut ts = T0;
        let rows: Vec<(f64, i64)> = (0..50_000)
            .map(|_| {
                ts += (rng.unit() * 3.0 * HOUR as f64) as i64;
                (rng.unit() * 1e3, ts)
            })
            .collect();
        let mut d = Decay::default();
        let width = 40;
        for (i, &(v, ts)) in rows.iter().enumerate() {
            d.add_ewma(v, ts, HOUR).unwrap();
            if i >= width {
                let (ov, ots) = rows[i - width];
                assert_eq!(d.remove_ewma(ov, ots, HOUR), Ok(Removal::Done));
            }
            if i % 997 == 0 {
                let window = &rows[i + 1 - (width).min(i + 1)..=i];
                let mut fresh = Decay::default();
                window.iter().for_each(|&(v, ts)| fresh.add_ewma(v, ts, HOUR).unwrap());
                assert_rel(d.ewma().unwrap(), fresh.ewma().unwrap(), 1e-12, "fresh");
                assert_rel(d.ewma().unwrap(), naive_ewma(window, HOUR), 1e-12, "naive");
            }
        }
    }

    #[test]
    fn hand_derived_ewma() {
        let mut d = Decay::default();
        assert_eq!(d.ewma(), None);
        d.add_ewma(10.0, T0, HOUR).unwrap();
        assert_eq!(d.ewma(), Some(10.0));
        d.add_ewma(40.0, T0 + HOUR, HOUR).unwrap();
        // weights 1 and 2: (10 + 80) / 3
        assert_rel(d.ewma().unwrap(), 30.0, 1e-15, "two rows");
        // Order does not matter, and a far-behind row weighs nothing.
        let mut e = Decay::default();
        e.add_ewma(40.0, T0 + HOUR, HOUR).unwrap();
        e.add_ewma(10.0, T0, HOUR).unwrap();
        assert_rel(e.ewma().unwrap(), 30.0, 1e-15, "reversed");
        e.add_ewma(1e6, T0 - 2000 * HOUR, HOUR).unwrap();
        assert_rel(e.ewma().unwrap(), 30.0, 1e-15, "ancient");
        // Removing the newer rows leaves only underflowed weights: ask for a restart.
        e.remove_ewma(40.0, T0 + HOUR, HOUR).unwrap();
        assert_eq!(e.remove_ewma(10.0, T0, HOUR), Ok(Removal::Restart));
    }

    #[test]
    fn non_finite_values() {
        let mut d = Decay::default();
        d.add_ewma(1.0, T0, HOUR).unwrap();
        d.add_ewma(f64::INFINITY, T0, HOUR).unwrap();
        assert_eq!(d.ewma(), Some(f64::INFINITY));
        d.add_ewma(f64::NEG_INFINITY, T0, HOUR).unwrap();
        assert!(d.ewma().unwrap().is_nan());
        d.remove_ewma(f64::INFINITY, T0, HOUR).unwrap();
        d.remove_ewma(f64::NEG_INFINITY, T0, HOUR).unwrap();
        assert_eq!(d.ewma(), Some(1.0));
        let mut s = Decay::default();
        s.add_decayed(Some(f64::NAN), T0, HOUR, T0).unwrap();
        assert!(s.decayed_sum().is_nan());
    }

    #[test]
    fn half_life_rules() {
        assert_eq!(half_life_micros(0, 0, HOUR), Ok(HOUR));
        assert_eq!(half_life_micros(0, 2, HOUR), Ok(49 * HOUR));
        let e = half_life_micros(1, 0, 0).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (Kind::InvalidParameter, "half_life must not have a months or years component")
        );
        assert!(e.hint.is_some());
        assert_eq!(half_life_micros(0, 0, 0).unwrap_err().message, "half_life must be positive");
        assert_eq!(half_life_micros(0, 1, -2 * 24 * HOUR).unwrap_err().kind, Kind::InvalidParameter);
        let mut d = Decay::default();
        d.add_ewma(1.0, T0, HOUR).unwrap();
        let e = d.add_ewma(1.0, T0, 2 * HOUR).unwrap_err();
        assert_eq!(e.message, "half_life must be the same for all rows of an aggregate");
        let mut other = Decay::default();
        other.add_ewma(1.0, T0, MIN).unwrap();
        assert_eq!(d.merge(&other).unwrap_err().kind, Kind::InvalidParameter);
        assert_eq!(d.add_ewma(1.0, i64::MAX, HOUR).unwrap_err().message, "ts must be a finite timestamp");
        assert_eq!(
            d.add_decayed(Some(1.0), T0, HOUR, i64::MIN).unwrap_err().message,
            "as_of must be a finite timestamp"
        );
    }

    #[test]
    fn merge_equals_sequential_across_rebases_and_bytes_round_trip() {
        let mut rng = SplitMix(9);
        // Two clusters 1000 half-lives apart: each worker has its own reference.
        let rows: Vec<(f64, i64, i64)> = (0..400)
            .map(|i| {
                let ts = T0 + if i < 200 { i * MIN } else { 1000 * HOUR + i * MIN };
                (rng.unit() * 10.0, ts, ts + 5 * MIN)
            })
            .collect();
        let fill = |rs: &[(f64, i64, i64)]| {
            let mut d = Decay::default();
            rs.iter().for_each(|&(v, ts, a)| d.add_decayed(Some(v), ts, HOUR, a).unwrap());
            d
        };
        let all = fill(&rows);
        for split in [0, 1, 150, 200, 399, 400] {
            // later half first, to merge into a state with the larger reference
            let mut left = fill(&rows[split..]);
            left.merge(&fill(&rows[..split])).unwrap();
            assert_rel(left.decayed_sum(), all.decayed_sum(), 1e-13, &format!("split {split}"));
            assert_eq!(left.as_of, all.as_of);
        }
        let expected = naive_decayed(
            &rows.iter().map(|&(v, ts, _)| (v, ts)).collect::<Vec<_>>(),
            HOUR,
            rows.iter().map(|r| r.2).max().unwrap(),
        );
        assert_rel(all.decayed_sum(), expected, 1e-12, "naive");
        let mut ewma = Decay::default();
        ewma.add_ewma(f64::INFINITY, T0, HOUR).unwrap();
        for state in [Decay::default(), all, ewma] {
            let bytes = state.to_bytes();
            assert_eq!(Decay::from_bytes(&bytes), Ok(state));
        }
        assert!(Decay::from_bytes(&all.to_bytes()[1..]).is_err());
    }
}
