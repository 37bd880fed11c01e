//! Reference values from scipy 1.17 (`ttest_ind(equal_var=False)`, `chisquare`, `norm`, `t`),
//! computed once and pasted here; the e2e oracle suite checks many more data sets live.
use super::*;

fn summary_of(values: &[f64]) -> Summary {
    let mut a = Accumulator::default();
    values.iter().for_each(|&v| a.add(v).unwrap());
    a.summary().unwrap()
}

/// Two-pass mean and sample variance, the reference for the one-pass sums.
fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0))
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}

const CONTROL: [f64; 5] = [1.0, 2.0, 3.0, 4.0, 5.5];
const TREATMENT: [f64; 4] = [2.0, 4.0, 4.5, 7.0];

#[test]
fn welch_matches_scipy() {
    let c = compare(&summary_of(&CONTROL), &summary_of(&TREATMENT), 0.05, Method::Welch, 5000.0).unwrap();
    assert!(close(c.statistic.unwrap(), 0.9874256283314167, 1e-12), "{c:?}");
    assert!(close(c.df.unwrap(), 5.969891702518459, 1e-12));
    assert!(close(c.p_value, 0.36174833842563797, 1e-10));
    assert!(close(c.ci_low, -1.888408499276895, 1e-10));
    assert!(close(c.ci_high, 4.438408499276894, 1e-10));
    assert_eq!(c.lift, 4.375 - 3.1);
    // Delta method by hand: V_t / m_c² + m_t² V_c / m_c⁴ with the t quantile.
    let (vc, vt) = (mean_var(&CONTROL).1 / 5.0, mean_var(&TREATMENT).1 / 4.0);
    let var_r = vt / 3.1f64.powi(2) + 4.375f64.powi(2) * vc / 3.1f64.powi(4);
    let q = (c.ci_high - c.ci_low) / 2.0 / (vc + vt).sqrt();
    assert!(close(c.relative_lift.unwrap(), 4.375 / 3.1 - 1.0, 1e-15));
    assert!(close(c.relative_ci_high.unwrap() - c.relative_lift.unwrap(), q * var_r.sqrt(), 1e-12));
}

#[test]
fn ztest_matches_the_textbook() {
    let arm = |k: usize, n: usize| summary_of(&(0..n).map(|i| if i < k { 1.0 } else { 0.0 }).collect::<Vec<_>>());
    let (c, t) = (arm(120, 1000), arm(150, 1000));
    assert!(c.binary && t.binary);
    let r = compare(&c, &t, 0.05, Method::ZTest, 5000.0).unwrap();
    assert!(close(r.statistic.unwrap(), 1.963049807622355, 1e-12));
    assert!(close(r.p_value, 0.04964038686536878, 1e-10));
    let se = (0.12 * 0.88 / 1000.0 + 0.15 * 0.85 / 1000.0f64).sqrt();
    assert!(
        close(r.ci_high - r.lift, 1.959963984540054 * se, 1e-12),
        "{} vs {}",
        r.ci_high - r.lift,
        1.959963984540054 * se
    );
    assert_eq!(r.df, None);
    let not_binary = summary_of(&[0.0, 2.0, 1.0]);
    assert_eq!(
        compare(&not_binary, &t, 0.05, Method::ZTest, 5000.0).unwrap_err().kind,
        crate::error::Kind::InvalidParameter
    );
}

#[test]
fn cuped_without_correlation_is_welch_and_with_it_narrows() {
    let with = |ys: &[f64], xs: &[f64]| {
        let mut a = Accumulator::default();
        ys.iter().zip(xs).for_each(|(&y, &x)| a.add_with_covariate(y, x).unwrap());
        a.summary().unwrap()
    };
    // A constant covariate: theta = 0, CUPED equals Welch.
    let c = with(&CONTROL, &[1.0; 5]);
    let t = with(&TREATMENT, &[1.0; 4]);
    let welch = compare(&c, &t, 0.05, Method::Welch, 5000.0).unwrap();
    let cuped = compare(&c, &t, 0.05, Method::Cuped, 5000.0).unwrap();
    assert!(close(cuped.p_value, welch.p_value, 1e-14) && close(cuped.lift, welch.lift, 1e-14));
    // A covariate equal to the value up to the treatment effect removes all variance.
    let shifted = |v: &[f64]| v.iter().map(|y| y - 1.0).collect::<Vec<_>>();
    let c = with(&CONTROL, &shifted(&CONTROL));
    let t = with(&TREATMENT, &shifted(&TREATMENT));
    let cuped = compare(&c, &t, 0.05, Method::Cuped, 5000.0).unwrap();
    assert!(cuped.ci_high - cuped.ci_low < 1e-9, "{cuped:?}");
    let no_cov = summary_of(&CONTROL);
    assert!(compare(&no_cov, &no_cov, 0.05, Method::Cuped, 5000.0).is_err());
}

#[test]
fn sequential_interval_is_wider_and_agrees_with_its_p_value() {
    let (c, t) = (summary_of(&CONTROL), summary_of(&TREATMENT));
    let welch = compare(&c, &t, 0.05, Method::Welch, 5000.0).unwrap();
    for tuning in [5.0, 100.0, 5000.0] {
        let s = compare(&c, &t, 0.05, Method::Sequential, tuning).unwrap();
        assert!(s.ci_high - s.ci_low > welch.ci_high - welch.ci_low);
        assert_eq!(s.p_value <= 0.05, s.ci_low > 0.0 || s.ci_high < 0.0);
        // At the interval's edge the mixture likelihood ratio is exactly 1 / alpha.
        let edge = (s.ci_high - s.lift).powi(2);
        let (v, n) = (mean_var(&CONTROL).1 / 5.0 + mean_var(&TREATMENT).1 / 4.0, 9.0);
        let l = -2.0 * 0.05f64.ln();
        let tau2 = v * n * (l + (l + 1.0).ln()) / tuning;
        let lambda = (v / (v + tau2)).sqrt() * (edge * tau2 / (2.0 * v * (v + tau2))).exp();
        assert!(close(lambda, 20.0, 1e-12), "{lambda}");
    }
}

#[test]
fn zero_variance_follows_the_documented_convention() {
    let five = summary_of(&[5.0; 4]);
    let six = summary_of(&[6.0; 3]);
    let same = compare(&five, &five, 0.05, Method::Welch, 5000.0).unwrap();
    assert_eq!((same.statistic, same.p_value, same.prob_beat_control), (None, 1.0, 0.5));
    let up = compare(&five, &six, 0.05, Method::Welch, 5000.0).unwrap();
    assert_eq!((up.statistic, up.p_value, up.prob_beat_control, up.ci_low, up.ci_high), (None, 0.0, 1.0, 1.0, 1.0));
    // One constant arm: df is n - 1 of the other (Welch–Satterthwaite).
    let one = compare(&five, &summary_of(&TREATMENT), 0.05, Method::Welch, 5000.0).unwrap();
    assert!(close(one.df.unwrap(), 3.0, 1e-12));
}

#[test]
fn bad_arguments_are_errors() {
    let (c, t) = (summary_of(&CONTROL), summary_of(&TREATMENT));
    for alpha in [0.0, 1.0, -0.1, f64::NAN] {
        assert!(compare(&c, &t, alpha, Method::Welch, 5000.0).is_err());
    }
    assert!(compare(&summary_of(&[1.0]), &t, 0.05, Method::Welch, 5000.0).is_err());
    assert!(compare(&c, &t, 0.05, Method::Sequential, 0.0).is_err());
    assert!(Method::parse("bayes").is_err());
    assert!(Accumulator::default().add(f64::NAN).is_err());
    assert!(Accumulator::default().add_with_covariate(1.0, f64::INFINITY).is_err());
}

#[test]
fn shifted_sums_keep_the_variance_of_large_values() {
    let values: Vec<f64> = (0..1000).map(|i| 1e9 + ((i * 7919) % 1000) as f64 / 1000.0).collect();
    let s = summary_of(&values);
    // Two-pass reference in exact-ish arithmetic: deviations of i/1000 around their mean.
    let mean = values.iter().map(|v| v - 1e9).sum::<f64>() / 1000.0;
    let sxx: f64 = values.iter().map(|v| (v - 1e9 - mean).powi(2)).sum();
    assert!(close(s.sxx, sxx, 1e-9), "{} vs {sxx}", s.sxx);
}

#[test]
fn merging_equals_one_pass_and_round_trips_as_text() {
    let all: Vec<(f64, f64)> =
        (0..500).map(|i| ((i as f64).sin() * 10.0 + 3.0, (i as f64).cos() * 4.0 + i as f64 / 50.0)).collect();
    let acc = |rows: &[(f64, f64)]| {
        let mut a = Accumulator::default();
        rows.iter().for_each(|&(y, x)| a.add_with_covariate(y, x).unwrap());
        a
    };
    let whole = acc(&all).summary().unwrap();
    let mut parts = acc(&all[..123]);
    parts.merge(&acc(&all[123..400])).unwrap();
    parts.merge(&acc(&all[400..])).unwrap();
    parts.merge(&Accumulator::default()).unwrap();
    let merged = parts.summary().unwrap();
    assert_eq!(merged.n, 500);
    let c = (whole.covariate.unwrap(), merged.covariate.unwrap());
    for (a, b) in [(whole.sum, merged.sum), (whole.sxx, merged.sxx), (c.0.sum_x, c.1.sum_x), (c.0.sxx_x, c.1.sxx_x)] {
        assert!(close(a, b, 1e-12), "{a} vs {b}");
    }
    // The cross product can be small next to its scale sqrt(sxx · sxx_x); compare at that scale.
    let scale = (whole.sxx * c.0.sxx_x).sqrt();
    assert!((c.0.sxy - c.1.sxy).abs() <= 1e-12 * scale, "{} vs {}", c.0.sxy, c.1.sxy);
    assert_eq!(Summary::parse(&merged.to_text()).unwrap(), merged);
    assert!(Summary::parse(r#"{"n":0,"sum":0,"sxx":0,"binary":true}"#).is_err());
    assert!(Summary::parse(r#"{"n":2,"sum":1,"sxx":-1,"binary":false}"#).is_err());
    assert!(Summary::parse(r#"{"n":2,"sum":1,"sxx":1,"binary":false,"extra":1}"#).is_err());
    assert!(
        Summary::parse(r#"{"n":3,"sum":6,"sxx":2,"binary":false,"sum_x":1,"sxx_x":1}"#).is_err(),
        "partial covariate"
    );
    assert!(Summary::parse(r#"{"n":2,"sum":5,"sxx":0,"binary":true}"#).is_err(), "more 1s than units");
    assert!(Summary::parse(r#"{"n":2,"sum":0.5,"sxx":0,"binary":true}"#).is_err(), "a fraction of a 1");
    assert!(whole.merge(&summary_of(&CONTROL)).is_err(), "with and without a covariate");
}

#[test]
fn srm_matches_scipy_chisquare() {
    assert!(close(srm_p_value(&[5010, 4990], None).unwrap(), 0.841480581121794, 1e-10));
    assert!(close(srm_p_value(&[5000, 5300], Some(&[1.0, 1.0])).unwrap(), 0.003116693839866867, 1e-10));
    assert!(close(srm_p_value(&[100, 120, 80], Some(&[0.5, 0.3, 0.2])).unwrap(), 5.7777485194191284e-08, 1e-8));
    assert!(srm_p_value(&[1], None).is_err());
    assert!(srm_p_value(&[1, 2], Some(&[1.0])).is_err());
    assert!(srm_p_value(&[1, 2], Some(&[1.0, 0.0])).is_err());
    assert!(srm_p_value(&[-1, 2], None).is_err());
    assert!(srm_p_value(&[0, 0], None).is_err());
}

#[test]
fn holm_by_hand() {
    // m = 4: sorted 0.01, 0.02, 0.03, 0.5 → 0.04, 0.06, 0.06 (monotone), 0.5.
    let got = holm(&[Some(0.03), None, Some(0.01), Some(0.5), Some(0.02)]).unwrap();
    let want = [Some(0.06), None, Some(0.04), Some(0.5), Some(0.06)];
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.is_some(), w.is_some());
        if let (Some(g), Some(w)) = (g, w) {
            assert!(close(*g, w, 1e-15), "{got:?}");
        }
    }
    assert_eq!(holm(&[Some(0.9), Some(0.8)]).unwrap(), vec![Some(1.0), Some(1.0)]);
    assert!(holm(&[Some(1.5)]).is_err());
}

#[test]
fn quantiles_match_scipy() {
    // scipy.stats.norm.ppf(0.975), t.ppf(0.975, 3.5), t.ppf(0.995, 120.7)
    let z = upper_quantile(&standard_normal(), 0.025);
    assert!(close(z, 1.959963984540054, 1e-14), "{z:.17}");
    let t = t_upper_quantile(&students_t(3.5).unwrap(), 0.025);
    assert!(close(t, 2.9400886379827282, 1e-12), "{t:.17}");
    // scipy.stats.t.ppf(0.995, 39000): where statrs's own inverse is off by ~1e-8.
    let t = t_upper_quantile(&students_t(39000.0).unwrap(), 0.005);
    assert!(close(t, 2.5759553746806687, 1e-11), "{t:.17}");
}

#[test]
fn welch_is_scale_free_down_to_tiny_values() {
    // Values near 1e-80: the variances of the means are ~1e-161, whose squares underflow; the
    // test must still equal the same test on the values scaled up by 1e80.
    let scaled = |v: &[f64], k: f64| v.iter().map(|x| x * k).collect::<Vec<_>>();
    let (c, t) = ([1.0, 2.0, 3.0, 4.5], [2.0, 3.0, 5.0]);
    let tiny =
        compare(&summary_of(&scaled(&c, 1e-80)), &summary_of(&scaled(&t, 1e-80)), 0.05, Method::Welch, 5000.0).unwrap();
    let unit = compare(&summary_of(&c), &summary_of(&t), 0.05, Method::Welch, 5000.0).unwrap();
    assert!(close(tiny.df.unwrap(), unit.df.unwrap(), 1e-12), "{tiny:?}");
    assert!(close(tiny.p_value, unit.p_value, 1e-10), "{tiny:?}");
}
