//! Two-sample Kolmogorov–Smirnov test, ported from SciPy 1.17.
//!
//! `scipy.stats.ks_2samp` (two-sided, `method='auto'`) needs two distributions that no Rust crate
//! provides: the exact null distribution of the two-sample statistic (Hodges' lattice-path
//! counting, `_compute_prob_outside_square` / `_compute_outer_prob_inside_method`), and for large
//! samples `scipy.stats.kstwo`, the two-sided one-sample distribution D_n computed with Simard and
//! L'Ecuyer's choice of algorithms (`_ksstats._kolmogn`: Ruben–Gambino, Durbin/Marsaglia–Tsang–Wang,
//! Pomeranz, Pelz–Good and the exact one-sided Smirnov sum of cephes/xsf `kolmogorov.h`). The
//! asymptotic Kolmogorov limit, the usual shortcut, gives different p-values, so this is a
//! faithful port with SciPy's branches, cut-offs and order of operations: the two-sample exact
//! p-values and most kstwo branches agree with SciPy to the last bit, the rest to ~1e-12 relative.
//!
//! References are those of SciPy's sources: Hodges (1958), Viehmann (arXiv:2102.08037), Simard &
//! L'Ecuyer (2011, JSS 39(11)), Marsaglia, Tsang & Wang (2003), Pomeranz (1974), Pelz & Good
//! (1976), van Mulbregt (arXiv:1802.06966).

use std::f64::consts::{LN_2, PI};

/// `ks_2samp`'s MAX_AUTO_N: 'auto' is exact when both sizes are at most this.
const MAX_AUTO_N: u64 = 10_000;

/// Two-sided two-sample KS statistic of two samples (any order; values finite or ±inf, no NaN;
/// both non-empty — the caller validates), as scipy.stats.ks_2samp computes it: the largest
/// |ECDF_a - ECDF_b| over the pooled values, each ECDF a float quotient count / n. (On its exact
/// path scipy then reports this rounded to h / lcm(n1, n2); [`ks_2samp`] does the same.)
/// NaN when a sample is empty or holds a NaN (scipy's nan_policy='propagate').
pub fn statistic(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() || a.iter().chain(b).any(|x| x.is_nan()) {
        return f64::NAN;
    }
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    // total_cmp puts -0.0 just before 0.0; the `<=` merge below still treats them as ties.
    a.sort_unstable_by(f64::total_cmp);
    b.sort_unstable_by(f64::total_cmp);
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let (mut max_s, mut min_s) = (f64::NEG_INFINITY, f64::INFINITY);
    // Merge: at each distinct pooled value v, i and j are searchsorted(side='right') counts.
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while a.get(i).is_some_and(|&x| x <= v) {
            i += 1;
        }
        while b.get(j).is_some_and(|&y| y <= v) {
            j += 1;
        }
        let diff = i as f64 / n1 - j as f64 / n2;
        max_s = max_s.max(diff);
        min_s = min_s.min(diff);
    }
    let min_s = (-min_s).clamp(0.0, 1.0);
    if min_s > max_s {
        min_s
    } else {
        max_s
    }
}

/// Two-sided p-value for statistic `d` of samples of sizes n1, n2, with scipy's method='auto'
/// rule when `exact_allowed`: exact when max(n1, n2) <= 10_000 (falling back to asymp when the
/// exact computation fails, as scipy does), else asymp = kstwo_sf(d, round(n1*n2/(n1+n2))).
/// When `exact_allowed` is false, always asymp. Clipped to [0, 1]. NaN when asymp meets
/// n1 = n2 = 1 (effective size round(0.5) = 0), as scipy.
pub fn p_value(n1: u64, n2: u64, d: f64, exact_allowed: bool) -> f64 {
    two_sided(n1, n2, d, exact_allowed).1
}

/// (statistic, p_value) equal to scipy.stats.ks_2samp(a, b) (two-sided, method='auto').
pub fn ks_2samp(a: &[f64], b: &[f64]) -> (f64, f64) {
    let d = statistic(a, b);
    if d.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    two_sided(a.len() as u64, b.len() as u64, d, true)
}

/// The tail of `ks_2samp` after the statistic: (reported statistic, p-value). The reported
/// statistic is `d` rounded to the h / lcm(n1, n2) lattice when the exact path is taken.
pub fn two_sided(n1: u64, n2: u64, d: f64, exact_allowed: bool) -> (f64, f64) {
    if n1 == 0 || n2 == 0 || d.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    // Statistics outside [0, 1] cannot occur; clamping keeps the lattice arithmetic in range.
    let mut d = d.clamp(0.0, 1.0);
    if exact_allowed && n1.max(n2) <= MAX_AUTO_N {
        let (rounded, prob) = attempt_exact(n1, n2, d);
        // On failure scipy keeps the rounded d for the asymptotic p-value too.
        d = rounded;
        if let Some(p) = prob {
            return (d, p);
        }
    }
    // Asymptotic: kstwo with the effective size, rounded half to even like np.round.
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = m * n / (m + n);
    (d, kstwo_sf(en.round_ties_even(), d).clamp(0.0, 1.0))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// scipy `_attempt_exact_2kssamp` (two-sided): d rounded to h / lcm, and the exact p-value, or
/// None when the computation left [0, 1] (scipy then switches to 'asymp').
fn attempt_exact(n1: u64, n2: u64, d: f64) -> (f64, Option<f64>) {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even() as u64;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return (d, Some(1.0));
    }
    let prob = if n1 == n2 { prob_outside_square(n1, h) } else { outer_prob_inside(n1, n2, g, h) };
    (d, (0.0..=1.0).contains(&prob).then_some(prob))
}

/// scipy `_compute_prob_outside_square(n, h)`: Pr(D_{n,n} >= h/n), the alternating sum
/// 2 Σ_k (-1)^k C(2n, n-kh) / C(2n, n) evaluated as a Horner-like product to avoid cancellation.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as i64, h as i64);
    let mut p = 0.0;
    let mut k = n / h;
    while k >= 0 {
        let mut p1 = 1.0;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// scipy `_stats_pythran._compute_outer_prob_inside_method(m, n, g, h)`: the proportion of
/// lattice paths from (0, 0) to (m, n) leaving the band |x/m - y/n| < h/lcm(m, n), with Viehmann's
/// recursion that carries 1 - p directly (one sliding column of the path-count matrix).
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n as i64, m as i64) } else { (m as i64, n as i64) };
    let (g, h) = (g as i64, h as i64);
    let (mg, ng) = (m / g, n / g);
    // Window bounds use float division then floor/ceil, as the Python source does.
    let mut minj: i64 = 0;
    let mut maxj = ((h as f64 / mg as f64).ceil() as i64).min(n + 1);
    let mut curlen = maxj - minj;
    // scipy sizes the column min(2 maxj + 2, n + 1); n + 1 bounds every index below, so the
    // larger buffer changes no value read and indexing cannot go out of range.
    let mut a = vec![1.0; (n + 1) as usize];
    a[..maxj as usize].fill(0.0);
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        minj = ((((ng * i - h) as f64 / mg as f64).floor() as i64) + 1).max(0).min(n);
        maxj = (((ng * i + h) as f64 / mg as f64).ceil() as i64).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        // minj never decreases, so jj + minj - lastminj >= 0.
        let shift = (minj - lastminj) as usize;
        for jj in 0..(maxj - minj) as usize {
            let j = jj as i64 + minj;
            val = (a[jj + shift] * i as f64 + val * j as f64) / (i + j) as f64;
            a[jj] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            // Entries carried over past the new window are set back to 1.
            a[curlen as usize..lastlen as usize].fill(1.0);
        }
    }
    a[(maxj - minj - 1) as usize]
}

// ---------------------------------------------------------------------------------------------
// kstwo: two-sided one-sample KS distribution (scipy.stats._ksstats)
// ---------------------------------------------------------------------------------------------

/// 2^128 and 2^-128: the rescaling steps of `_kolmogn_DMTW` and `_kolmogn_Pomeranz` (_EP128, _EM128).
const E128: i64 = 128;
const EP128: f64 = 340282366920938463463374607431768211456.0;
const EM128: f64 = 1.0 / EP128;
/// The constants of `_ksstats.py`, as the literals numpy evaluates them to (np.pi**4 is
/// pow(pi, 4), one ulp away from (pi*pi)**2).
const PI_SQUARED: f64 = 9.869604401089358;
const PI_FOUR: f64 = 97.40909103400242;
const PI_SIX: f64 = 961.3891935753043;
const SQRT2PI: f64 = 2.5066282746310002;
const LOG_2PI: f64 = 1.8378770664093453;
const SQRT3: f64 = 1.7320508075688772;
const MIN_LOG: f64 = -708.0;
/// B_{2j} / (2j (2j-1)) for j = 8, ..., 1 (`_STIRLING_COEFFS`, as the f64s its literals parse to).
const STIRLING_COEFFS: [f64; 8] = [
    -0.029550653594771242,
    0.00641025641025641,
    -0.0019175269175269176,
    0.0008417508417508417,
    -0.0005952380952380953,
    0.0007936507936507937,
    -0.002777777777777778,
    0.08333333333333333,
];

/// scipy.stats.kstwo.sf(x, n): survival function of the two-sided one-sample KS statistic
/// D_n (scipy _kolmogn(n, x, cdf=False)). NaN unless n is a whole number >= 1.
pub fn kstwo_sf(n: f64, x: f64) -> f64 {
    // rv_continuous.sf: bad shape or NaN x -> NaN; x at or below the support (0.5/n, 1) -> 1;
    // x >= 1 -> 0.
    if x.is_nan() || !n.is_finite() || n < 1.0 || n != n.round() {
        return f64::NAN;
    }
    if x <= 0.5 / n {
        return 1.0;
    }
    if x >= 1.0 {
        return 0.0;
    }
    kolmogn_sf(n as u64, x)
}

/// scipy `_kolmogn(n, x, cdf=False)`, Simard & L'Ecuyer's choice of method per (n, n x^2).
/// Its x >= 1 and x <= 0 cases are [`kstwo_sf`]'s support checks.
fn kolmogn_sf(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        // Ruben–Gambino: Pr(D_n <= x) = n!/n^n (2t - 1)^n for 1/2n <= x <= 1/n.
        if t <= 0.5 {
            return 1.0;
        }
        let prob = if n <= 140 {
            (1..=n).map(|i| i as f64 * (1.0 / nf) * (2.0 * t - 1.0)).product::<f64>()
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return (1.0 - prob).clamp(0.0, 1.0);
    }
    if t >= nf - 1.0 {
        // Ruben–Gambino: Pr(D_n >= x) = 2 (1 - x)^n for x >= 1 - 1/n.
        return (2.0 * (1.0 - x).powf(nf)).clamp(0.0, 1.0);
    }
    if x >= 0.5 {
        // D_n^+ >= x and D_n^- >= x are disjoint, so the two-sided sf is exactly 2 smirnov.
        return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
    }
    let nxsquared = t * x;
    if n <= 140 {
        if nxsquared <= 0.754693 {
            return (1.0 - kolmogn_dmtw_cdf(n, x)).clamp(0.0, 1.0);
        }
        if nxsquared <= 4.0 {
            return kolmogn_pomeranz_sf(n, x).clamp(0.0, 1.0);
        }
        // Miller's approximation: the intersection term is negligible this far out.
        return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
    }
    // scipy splits CDF and SF: these cut-offs are the SF's.
    if nxsquared >= 370.0 {
        return 0.0;
    }
    if nxsquared >= 2.2 {
        return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
    }
    // (scipy's next cut, nxsquared >= 18 -> cdf = 1, is for the CDF only: the sf never gets there.)
    let cdf =
        if n <= 100_000 && nf * x.powf(1.5) <= 1.4 { kolmogn_dmtw_cdf(n, x) } else { kolmogn_pelz_good_cdf(nf, x) };
    (1.0 - cdf).clamp(0.0, 1.0)
}

/// scipy `_log_nfactorial_div_n_pow_n`: log(n!/n^n) by Stirling's series with n log n removed.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    let rn = 1.0 / n;
    // np.polyval: Horner from the highest-degree coefficient.
    let poly = STIRLING_COEFFS.iter().fold(0.0, |y, &c| y * (rn / n) + c);
    n.ln() / 2.0 - n + LOG_2PI / 2.0 + rn * poly
}

/// scipy `_kolmogn_DMTW(n, d, cdf=True)`: Durbin's matrix method as Marsaglia, Tsang and Wang
/// evaluate it — the (k, k) entry of H^n (by squaring, rescaled by 2^128) times n!/n^n.
/// (scipy's rescaling turns the tail of the n!/n^n loop into a numpy long double; f64 moves the
/// sf by < 2e-15 relative.)
fn kolmogn_dmtw_cdf(n: u64, d: f64) -> f64 {
    // (scipy's d >= 1 guard is dropped: callers pass d < 1/2.)
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    // v[j] = (1 - h^(j+1)) / (j+1)!, w[j] = 1/j!; v is H's first column and reversed last row.
    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powf(j as f64)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powf(m as f64) - 2.0 * h.powf(m as f64);
    v[m - 1] = (1.0 + tt) * fac;
    // H (row-major): column i > 0 holds w shifted down by i - 1; first column v, last row v reversed.
    let mut hm = vec![0.0; m * m];
    for i in 1..m {
        for r in i - 1..m {
            hm[r * m + i] = w[r + 1 - i];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
        hm[(m - 1) * m + r] = v[m - 1 - r];
    }

    let kk = (k - 1) * m + k - 1;
    let mut hpwr: Vec<f64> = (0..m * m).map(|i| if i % (m + 1) == 0 { 1.0 } else { 0.0 }).collect();
    let (mut nn, mut expnt, mut hexpnt) = (n, 0i64, 0i64);
    while nn > 0 {
        if nn % 2 == 1 {
            hpwr = matmul(&hpwr, &hm, m);
            expnt += hexpnt;
        }
        hm = matmul(&hm, &hm, m);
        hexpnt *= 2;
        if hm[kk].abs() > EP128 {
            hm.iter_mut().for_each(|x| *x *= EM128);
            hexpnt += E128;
        }
        nn /= 2;
    }
    let mut p = hpwr[kk];
    // Multiply by n!/n^n.
    let nf = n as f64;
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < EM128 {
            p *= EP128;
            expnt -= E128;
        }
    }
    if expnt != 0 {
        p = ldexp(p, expnt);
    }
    p.clamp(0.0, 1.0)
}

/// Product of two row-major m x m matrices.
fn matmul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * m];
    for (row, a_row) in out.chunks_exact_mut(m).zip(a.chunks_exact(m)) {
        for (&x, b_row) in a_row.iter().zip(b.chunks_exact(m)) {
            row.iter_mut().zip(b_row).for_each(|(o, &y)| *o += x * y);
        }
    }
    out
}

/// scipy `_pomeranz_compute_j1j2`: the non-zero window of row i of Pomeranz's recursion.
fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let (ip1div2, ip1mod2) = ((i + 1) / 2, (i + 1) % 2);
        if ip1mod2 == 0 {
            if ip1div2 == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1)
            }
        } else {
            (ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// scipy `_kolmogn_Pomeranz(n, x, cdf=True)`: Pomeranz's recursion, each row a convolution of
/// the previous one with (almost) Poisson probabilities; n! times the final entry is the CDF.
/// Returns the sf, 1 - CDF.
fn kolmogn_pomeranz_sf(n: u64, x: f64) -> f64 {
    let (ni, nf) = (n as i64, n as f64);
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let (ceilf, roundf) = (i64::from(f > 0.0), i64::from(f > 0.5));
    let npwrs = (2 * (ll + 1)) as usize;
    // (g/n)^m/m!, (2g/n)^m/m!, ((1-2g)/n)^m/m!.
    let [gpower, twogpower, onem2gpower] = [g / nf, 2.0 * g / nf, (1.0 - 2.0 * g) / nf].map(|base| {
        let mut p = vec![1.0; npwrs];
        for m in 1..npwrs {
            p[m] = p[m - 1] * base / m as f64;
        }
        p
    });

    let (mut v0, mut v1) = (vec![0.0; npwrs], vec![0.0; npwrs]);
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut expnt = 0i64;
    let (mut j1, _) = pomeranz_j1j2(0, ni, ll, ceilf, roundf);
    for i in 1..2 * ni + 2 {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.fill(0.0);
        let (next_j1, j2) = pomeranz_j1j2(i, ni, ll, ceilf, roundf);
        j1 = next_j1;
        let pwrs = if i == 1 || i == 2 * ni + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            // V1[:conv_len] = convolve(V0[k1-V0s:][:ln2], pwrs[:ln2])[j1-k1:][:conv_len]. The
            // windows always lie inside the arrays (checked exhaustively for n <= 140 against
            // scipy); out-of-range terms would count as zeros here rather than panic.
            let (a0, conv_start, conv_len) = (k1 - v0s, j1 - k1, j2 - j1 + 1);
            let v0_at = |i: i64| if (0..ln2).contains(&i) { at(&v0, a0 + i) } else { 0.0 };
            let pw_at = |i: i64| if (0..ln2).contains(&i) { at(pwrs, i) } else { 0.0 };
            for (idx, out) in v1.iter_mut().enumerate().take(conv_len.max(0) as usize) {
                let c = conv_start + idx as i64;
                *out = (0..=c).map(|s| v0_at(s) * pw_at(c - s)).sum();
            }
            let vmax = v1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if 0.0 < vmax && vmax < EM128 {
                v1.iter_mut().for_each(|v| *v *= EP128);
                expnt -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    // Multiply by n!. scipy's product turns into a numpy long double once rescaled here; that is
    // not emulated: the sf = 1 - cdf with cdf close to 1 is ill-conditioned, and scipy's own value
    // is ~1e-11 off the exact one (checked with rational arithmetic), more than the long double
    // or the convolution's summation order move it. This f64 port stays within ~3e-12 of scipy.
    let mut ans = at(&v1, ni - v1s);
    for m in 1..=n {
        if ans.abs() > EP128 {
            ans *= EM128;
            expnt += E128;
        }
        ans *= m as f64;
    }
    1.0 - ldexp(ans, expnt).clamp(0.0, 1.0)
}

/// v[i], or 0 outside the vector.
fn at(v: &[f64], i: i64) -> f64 {
    usize::try_from(i).ok().and_then(|i| v.get(i)).copied().unwrap_or(0.0)
}

/// scipy `_kolmogn_PelzGood(n, x, cdf=True)`: the Li-Chien/Korolyuk expansion
/// K0 + K1/√n + K2/n + K3/n^1.5, each term rewritten by Pelz and Good through Jacobi theta
/// identities into a fast-converging series for small z = x√n. Called with 0 < x < 1/2 only (scipy's
/// guards for x outside (0, 1) are dropped).
fn kolmogn_pelz_good_cdf(n: f64, x: f64) -> f64 {
    let z = n.sqrt() * x;
    let (zsquared, zthree, zfour, zsix) = (z.powf(2.0), z.powf(3.0), z.powf(4.0), z.powf(6.0));
    let qlog = -PI_SQUARED / 8.0 / zsquared;
    if qlog < MIN_LOG {
        return 0.0;
    }
    let q = qlog.exp();

    // Coefficients of the terms in the sums for K1, K2 and K3.
    let k1a = -zsquared;
    let k1b = PI_SQUARED / 4.0;
    let k2a = 6.0 * zsix + 2.0 * zfour;
    let k2b = (2.0 * zfour - 5.0 * zsquared) * PI_SQUARED / 4.0;
    let k2c = PI_FOUR * (1.0 - 2.0 * zsquared) / 16.0;
    let k3d = PI_SIX * (5.0 - 30.0 * zsquared) / 64.0;
    let k3c = PI_FOUR * (-60.0 * zsquared + 212.0 * zfour) / 16.0;
    let k3b = PI_SQUARED * (135.0 * zfour - 96.0 * zsix) / 4.0;
    let k3a = -30.0 * zsix - 90.0 * z.powf(8.0);

    // Horner scheme for Σ c_i q^(i^2) over odd i = 2k - 1.
    let mut kk = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for k in (1..=maxk).rev() {
        let m = 2 * k - 1;
        let (msquared, mfour, msix) = ((m * m) as f64, (m * m * m * m) as f64, (m * m * m * m * m * m) as f64);
        let qpower = q.powf((8 * k) as f64);
        let coeffs = [
            1.0,
            k1a + k1b * msquared,
            k2a + k2b * msquared + k2c * mfour,
            k3a + k3b * msquared + k3c * mfour + k3d * msix,
        ];
        for (s, c) in kk.iter_mut().zip(coeffs) {
            *s *= qpower;
            *s += c;
        }
    }
    let divisors = [z, 6.0 * zfour, 72.0 * z.powf(7.0), 6480.0 * z.powf(10.0)];
    for (s, dv) in kk.iter_mut().zip(divisors) {
        *s *= q;
        *s *= SQRT2PI;
        *s /= dv;
    }

    // The remaining sums over all k: K2 gets (π² k²) q^(k²), K3 (3π² k² z² - π⁴ k⁴) q^(k²).
    let q = (-PI_SQUARED / 2.0 / zsquared).exp();
    let sqrt3z = SQRT3 * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for k in (1..=maxk).rev() {
        let ksquared = (k * k) as f64;
        let kspi = PI * k as f64;
        let qpwer = q.powf(ksquared);
        k2extra += ksquared * qpwer;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpwer;
    }
    kk[2] += k2extra * (PI_SQUARED * SQRT2PI / (-36.0 * zthree));
    kk[3] += k3extra * (PI_SQUARED * SQRT2PI / (216.0 * zsix));
    let powers_of_n = [1.0, n.powf(0.5), n, n.powf(1.5)];
    kk.iter().zip(powers_of_n).map(|(s, p)| s / p).sum()
}

// ---------------------------------------------------------------------------------------------
// smirnov: one-sided one-sample KS survival function (xsf/cephes kolmogorov.h)
// ---------------------------------------------------------------------------------------------

/// Above this n, `_smirnov` uses the closed-form approximation (SMIRNOV_MAX_COMPUTE_N).
const SMIRNOV_MAX_COMPUTE_N: i64 = 1_000_000;
/// Upper-sum limits of `_smirnov` (SM_UPPER_MAX_TERMS, SM_UPPERSUM_MIN_N).
const SM_UPPER_MAX_TERMS: i64 = 3;
const SM_UPPERSUM_MIN_N: i64 = 10;
/// pow2Scaled_D splits powers whose result would drop below 2^-960 (SM_MAX_EXPONENT).
const SM_MAX_EXPONENT: i64 = 960;
/// cephes MINLOG = log(2^-1075).
const MINLOG: f64 = -745.1332191019412;

/// scipy.special.smirnov(n, x) = xsf `_smirnov(n, x).sf`: Pr(D_n^+ >= x) by the Birnbaum–Tingey
/// sum Σ_v C(n, v) x (x + v/n)^(v-1) (1 - x - v/n)^(n-v), in double-double with the binomial
/// and the powers kept as (mantissa, exponent) pairs (van Mulbregt, arXiv:1802.06966).
/// Only the sf is computed: xsf's derivative terms feed the pdf alone.
fn smirnov(n: u64, x: f64) -> f64 {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    if x.is_nan() || !(n > 0 && (0.0..=1.0).contains(&x)) {
        return f64::NAN;
    }
    // xsf's three cases n == 1 (sf = 1 - x), x == 0 (sf = 1) and x == 1 (sf = 0) in one.
    if n == 1 || x == 0.0 || x == 1.0 {
        return 1.0 - x;
    }
    let (alpha, nxfl) = mod_nx(n, x);
    let mut n1mxfl = n - nxfl - i64::from(alpha != 0.0);
    let mut n1mxceil = n - nxfl;
    // With alpha == 0 the last term belongs to neither sum.
    if alpha == 0.0 {
        n1mxfl -= 1;
        n1mxceil += 1;
    }
    // x <= 1/n: cdf = x (1 + x)^(n-1).
    if nxfl == 0 || (nxfl == 1 && alpha == 0.0) {
        let t = pow_dd(Dd::ONE.add_f(x), n - 1).hi;
        return 1.0 - x * t;
    }
    // The sf underflows.
    if -2.0 * n as f64 * x * x < MINLOG {
        return 0.0;
    }
    // x >= 1 - 1/n: sf = (1 - x)^n.
    if nxfl >= n - 1 {
        return pow_dd(Dd::ONE.add_f(-x), n).hi;
    }
    if n > SMIRNOV_MAX_COMPUTE_N {
        // p ~ exp(-(6nx + 1)^2 / 18n).
        let y = 6.0 * n as f64 * x + 1.0;
        let logp = -y.powf(2.0) / 18.0 / n as f64;
        return if logp < -LN_2 { logp.exp() } else { 1.0 - -logp.exp_m1() };
    }
    // The upper sum only when it has few terms (it alternates in sign and loses ~1.6 bits a term).
    let n_upper_terms = n - n1mxceil + 1;
    let use_upper = (n_upper_terms <= 1 && x < 0.5)
        || (n >= SM_UPPERSUM_MIN_N && n_upper_terms <= SM_UPPER_MAX_TERMS && x <= 0.5 / (n as f64).sqrt());
    let (start, step, n_terms) = if use_upper { (n, -1, n - n1mxceil + 1) } else { (0, 1, n1mxfl + 1) };
    let vmid = n / 2;
    let mut cman = Dd::ONE;
    let mut cexpt = 0i64;
    // xsf's pow4_D(1, ±x, 1, 0, m) = ((1 ± x) / 1)^m: dividing a normalised double-double by 1 is exact.
    let first = if use_upper { pow_dd(Dd::ONE.add_f(x), n - 1) } else { pow_dd(Dd::ONE.add_f(-x), n).div(Dd::new(x)) };
    let mut aj_sum = Dd::ZERO.add(first);
    update_binomial(&mut cman, &mut cexpt, n, 0);
    for j in 1..n_terms {
        let v = start + j * step;
        let aj = compute_av(n, x, v, cman, cexpt);
        let nonzero = !aj.is_zero();
        if aj.hi.is_finite() && nonzero {
            aj_sum = aj_sum.add(aj);
        }
        // Stop once the remaining terms cannot reach the last bit.
        if nonzero {
            if 4.0 * (n_terms - j) as f64 * aj.hi.abs() < f64::EPSILON * aj_sum.hi && j != n_terms - 1 {
                break;
            }
        } else if j > vmid {
            break;
        }
        update_binomial(&mut cman, &mut cexpt, n, j);
    }
    let prob = aj_sum.mul_f(x).hi;
    let sf = if step < 0 { 1.0 - prob } else { prob };
    sf.clamp(0.0, 1.0)
}

/// xsf `modNX`: (frac(n x), floor(n x)) computed exactly in double-double; a fraction that
/// rounds to 1 carries into the floor.
fn mod_nx(n: i64, x: f64) -> (f64, i64) {
    let nxd = Dd::new(x).mul_f(n as f64);
    let nxfloord = nxd.floor();
    let alpha = nxd.sub(nxfloord).hi;
    let carry = alpha == 1.0;
    (if carry { 0.0 } else { alpha }, nxfloord.hi as i64 + i64::from(carry))
}

/// xsf `updateBinomial`: C(n, j+1) from C(n, j), kept as a mantissa in [0.5, 1) and an exponent.
fn update_binomial(cman: &mut Dd, cexpt: &mut i64, n: i64, j: i64) {
    let rat = Dd::new((n - j) as f64).div(Dd::new(j as f64 + 1.0));
    let (man, expt) = cman.mul(rat).frexp();
    *cexpt += expt;
    *cman = man;
}

/// xsf `pow_D`: a^m for a double-double, as pow(a.hi, m) corrected for a.lo. `smirnov` needs
/// m >= 1 only (xsf inverts a^-m for m < 0).
fn pow_dd(a: Dd, m: i64) -> Dd {
    if m == 0 {
        return Dd::ONE;
    }
    if a.is_zero() {
        return Dd::ZERO;
    }
    let ans = a.hi.powf(m as f64);
    let r = a.lo / a.hi;
    let mut adj = m as f64 * r;
    if adj.abs() > 1e-8 {
        if adj.abs() < 1e-4 {
            // First two terms of the Taylor series of (1 + r)^m.
            adj += (m as f64 * r) * ((m - 1) as f64 / 2.0 * r);
        } else {
            adj = (m as f64 * r.ln_1p()).exp_m1();
        }
    }
    Dd::new(ans).add_f(ans * adj)
}

/// xsf `pow2Scaled_D`: a^m as (mantissa, exponent), splitting the power when the result would
/// underflow a double.
/// `smirnov` never passes m < 0 (xsf inverts a^-m there); m == 0 occurs as a remainder.
fn pow2_scaled(a: Dd, m: i64) -> (Dd, i64) {
    if m == 0 {
        return (Dd::ONE, 0);
    }
    let (y, ye) = a.frexp();
    if m == 1 {
        return (y, ye);
    }
    if y.hi == 0.0 || !y.hi.is_finite() {
        // 0^m (never reached from `smirnov`, whose bases are strictly inside (0, 1]).
        return (Dd::new(y.hi), 0);
    }
    let mut max_expt = SM_MAX_EXPONENT;
    if m as f64 * (y.hi - 1.0) / y.hi < -(SM_MAX_EXPONENT as f64) * LN_2 {
        // Might underflow: check carefully with a log.
        let lg2y = y.hi.ln() / LN_2;
        if m as f64 * lg2y <= -(SM_MAX_EXPONENT as f64) {
            // xsf `nextPowerOf2(t)`, which for t > 1 is |t + t 2^-52|.
            let t = -(SM_MAX_EXPONENT as f64) / lg2y + 1.0;
            max_expt = (((ldexp(t, -52) + t).abs() / 2.0) as i64).max(1);
        }
    }
    if m <= max_expt {
        let (ans, e) = pow_dd(y, m).frexp();
        return (ans, e + m * ye);
    }
    // y^m = (y^maxExpt)^q * y^r
    let (q, r) = (m / max_expt, m % max_expt);
    let (y2r, y2r_e) = pow2_scaled(y, r);
    let (y2m, y2m_e) = pow2_scaled(y, max_expt);
    let (y2mq, y2mq_e) = pow2_scaled(y2m, q);
    let (ans, e) = y2r.mul(y2mq).frexp();
    (ans, e + y2mq_e + y2m_e * q + y2r_e + m * ye)
}

/// xsf `computeAv`: one term C(n, v) (1 - x - v/n)^(n-v) (x + v/n)^(v-1).
fn compute_av(n: i64, x: f64, v: i64, cman: Dd, cexpt: i64) -> Dd {
    let t2x = Dd::new((n - v) as f64).div(Dd::new(n as f64)).add_f(-x);
    let (t2, t2e) = pow2_scaled(t2x, n - v);
    let t1x = Dd::new(v as f64).div(Dd::new(n as f64)).add_f(x);
    let (t1, t1e) = pow2_scaled(t1x, v - 1);
    t1.mul(t2).mul(cman).ldexp(cexpt + t1e + t2e)
}

/// Double-double number hi + lo (xsf `dd_real.h`, from the QD library): only the operations
/// `_smirnov` uses, with the same error-free transformations so results agree bit for bit.
#[derive(Clone, Copy, Debug)]
struct Dd {
    hi: f64,
    lo: f64,
}

/// fl(a + b) and its error, assuming |a| >= |b|.
fn quick_two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    Dd { hi: s, lo: b - (s - a) }
}

/// fl(a + b) and its error.
fn two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    let (c, e) = (s - a, s - (s - a));
    Dd { hi: s, lo: (a - e) + (b - c) }
}

/// fl(a b) and its error (via a fused multiply-add).
fn two_prod(a: f64, b: f64) -> Dd {
    let p = a * b;
    Dd { hi: p, lo: a.mul_add(b, -p) }
}

impl Dd {
    const ONE: Dd = Dd { hi: 1.0, lo: 0.0 };
    const ZERO: Dd = Dd { hi: 0.0, lo: 0.0 };

    fn new(hi: f64) -> Dd {
        Dd { hi, lo: 0.0 }
    }
    fn is_zero(self) -> bool {
        self.hi == 0.0 && self.lo == 0.0
    }
    /// dd + dd, the IEEE-style accurate sum (Briggs and Kahan).
    fn add(self, o: Dd) -> Dd {
        let (s, t) = (two_sum(self.hi, o.hi), two_sum(self.lo, o.lo));
        let s = quick_two_sum(s.hi, s.lo + t.hi);
        quick_two_sum(s.hi, s.lo + t.lo)
    }
    /// dd + double.
    fn add_f(self, o: f64) -> Dd {
        let s = two_sum(self.hi, o);
        quick_two_sum(s.hi, s.lo + self.lo)
    }
    fn sub(self, o: Dd) -> Dd {
        self.add(Dd { hi: -o.hi, lo: -o.lo })
    }
    fn mul(self, o: Dd) -> Dd {
        let p = two_prod(self.hi, o.hi);
        quick_two_sum(p.hi, p.lo + (self.hi * o.lo + self.lo * o.hi))
    }
    /// dd * double (and double * dd, which xsf computes identically).
    fn mul_f(self, o: f64) -> Dd {
        let (p1, p2) = (two_prod(self.hi, o), two_prod(self.lo, o));
        quick_two_sum(p1.hi, p2.lo + p2.hi + p1.lo)
    }
    /// Long division in three double quotients; dd / double is dd / dd(double) in xsf.
    fn div(self, o: Dd) -> Dd {
        let q1 = self.hi / o.hi;
        let r = self.sub(o.mul_f(q1));
        let q2 = r.hi / o.hi;
        let r = r.sub(o.mul_f(q2));
        let q3 = r.hi / o.hi;
        quick_two_sum(q1, q2).add_f(q3)
    }
    fn floor(self) -> Dd {
        let hi = self.hi.floor();
        if hi == self.hi {
            // hi is already an integer: round the low word.
            quick_two_sum(hi, self.lo.floor())
        } else {
            Dd::new(hi)
        }
    }
    /// (b, e) with self = b 2^e, 0.5 <= |b.hi| < 1 (or |b.hi| == 1 with a low word of opposite sign).
    fn frexp(self) -> (Dd, i64) {
        let (mut man, mut e) = frexp(self.hi);
        let mut lo = ldexp(self.lo, -e);
        if man.abs() == 0.5 && man * lo < 0.0 {
            man *= 2.0;
            lo *= 2.0;
            e -= 1;
        }
        (Dd { hi: man, lo }, e)
    }
    fn ldexp(self, e: i64) -> Dd {
        Dd { hi: ldexp(self.hi, e), lo: ldexp(self.lo, e) }
    }
}

/// 2^k for k in the normal exponent range [-1022, 1023].
fn pow2i(k: i64) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// C frexp: x = m 2^e with 0.5 <= |m| < 1 (x itself, e = 0, for 0, ±inf and NaN).
fn frexp(x: f64) -> (f64, i64) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * pow2i(54));
        return (m, e - 54);
    }
    (f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52)), biased - 1022)
}

/// C ldexp: x 2^e, correctly rounded (one rounding even when the result is subnormal).
fn ldexp(x: f64, e: i64) -> f64 {
    if x == 0.0 || !x.is_finite() || e == 0 {
        return x;
    }
    let (m, ex) = frexp(x);
    // x 2^e = y 2^t with 1 <= |y| < 2.
    let (y, t) = (2.0 * m, ex.saturating_add(e) - 1);
    if t > 1023 {
        return f64::INFINITY.copysign(x);
    }
    if t >= -1022 {
        return y * pow2i(t);
    }
    if t < -1022 - 60 {
        return 0.0f64.copysign(x);
    }
    // Exact to a normal number, then a single rounding into the subnormal range.
    (y * pow2i(t + 1022)) * pow2i(-1022)
}

#[cfg(test)]
#[path = "ks/tests.rs"]
mod tests;
