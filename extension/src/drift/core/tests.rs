//! Profiles and comparisons on data whose answers are worked out by hand or by construction.
use super::compare::{self, Cells, Test};
use super::*;

fn numeric(values: &[f64]) -> Profile {
    let mut s = NumericState::default();
    values.iter().for_each(|&x| s.add(x));
    Profile::Numeric(s.profile())
}

fn categorical(values: &[&str]) -> Profile {
    let mut s = CategoricalState::default();
    values.iter().for_each(|v| s.add(v).unwrap());
    Profile::Categorical(s.profile(true))
}

fn as_numeric(p: &Profile) -> &Numeric {
    match p {
        Profile::Numeric(n) => n,
        _ => panic!("not numeric"),
    }
}

/// A deterministic spread of values over many binades (a cheap LCG, no rand dependency).
fn spread(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            (u - 0.3) * 1000.0 * u.powi(3)
        })
        .collect()
}

#[test]
fn keys_order_like_the_floats() {
    let xs = [f64::MIN, -1e300, -2.5, -1.0, -1e-310, 0.0, 1e-310, 1.0, 2.5, 1e300, f64::MAX];
    for w in xs.windows(2) {
        assert!(key(w[0]) < key(w[1]), "{} < {}", w[0], w[1]);
    }
    assert_eq!(key(-0.0), key(0.0));
    for x in xs {
        assert_eq!(value(key(x)), x);
    }
}

#[test]
fn few_distinct_values_are_exact() {
    let p = numeric(&[3.0, 1.0, 2.0, 2.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
    let n = as_numeric(&p);
    assert_eq!(n.level, 0);
    assert_eq!(n.buckets, vec![(key(1.0), 1), (key(2.0), 2), (key(3.0), 1)]);
    assert_eq!((n.n, n.nans, n.pos_inf, n.neg_inf), (4, 1, 1, 1));
    assert_eq!((n.min, n.max, n.mean), (Some(1.0), Some(3.0), 2.0));
    assert!((n.m2 - 2.0).abs() < 1e-12);
}

#[test]
fn bucket_level_depends_only_on_the_values() {
    let xs = spread(50_000, 7);
    let whole = numeric(&xs);
    assert!(as_numeric(&whole).level > 0 && as_numeric(&whole).buckets.len() <= MAX_BUCKETS);
    // Parallel-style: uneven slices, merged in another order, give the same buckets.
    let mut merged = NumericState::default();
    for chunk in xs.rchunks(7_919) {
        let mut s = NumericState::default();
        chunk.iter().for_each(|&x| s.add(x));
        merged.merge(&s).unwrap();
    }
    let merged = merged.profile();
    let w = as_numeric(&whole);
    assert_eq!(
        (merged.level, &merged.buckets, merged.n, merged.min, merged.max),
        (w.level, &w.buckets, w.n, w.min, w.max)
    );
    assert!((merged.mean - w.mean).abs() <= 1e-12 * w.mean.abs().max(1.0));
    assert!((merged.m2 - w.m2).abs() <= 1e-10 * w.m2);
    // And one level finer would not fit.
    let finer: std::collections::HashSet<u64> = xs.iter().map(|&x| key(x) >> (w.level - 1)).collect();
    assert!(finer.len() > MAX_BUCKETS);
}

#[test]
fn text_round_trip_and_validation() {
    let p = numeric(&spread(10_000, 3));
    assert_eq!(Profile::parse(&p.to_text()).unwrap(), p);
    let c = categorical(&["a", "b", "a"]);
    assert_eq!(Profile::parse(&c.to_text()).unwrap(), c);
    for bad in [
        r#"{"kind":"x"}"#,
        r#"{"kind":"categorical","n":3,"nulls":0,"other":0,"categories":[["a",2]]}"#,
        r#"{"kind":"numeric","n":1,"nulls":0,"nans":0,"pos_inf":0,"neg_inf":0,"mean":1,"m2":0,"min":1,"max":1,"level":0,"buckets":[[1,1]]}"#,
    ] {
        assert_eq!(Profile::parse(bad).unwrap_err().kind, crate::error::Kind::InvalidText, "{bad}");
    }
}

#[test]
fn categories_are_capped_with_other() {
    let values: Vec<String> = (0..1500).flat_map(|i| std::iter::repeat(format!("c{i:04}")).take(1 + (i % 3))).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let Profile::Categorical(p) = categorical(&refs) else { panic!() };
    assert_eq!(p.categories.len(), MAX_CATEGORIES);
    assert_eq!(p.n, values.len() as u64);
    assert_eq!(p.other + p.categories.iter().map(|c| c.1).sum::<u64>(), p.n);
    // The most frequent (count 3) come first, ties in value order.
    assert_eq!(p.categories[0], ("c0002".to_owned(), 3));
}

#[test]
fn ks_and_wasserstein_of_exact_profiles() {
    let (a, b) = (numeric(&[1.0, 2.0, 3.0, 4.0]), numeric(&[3.0, 4.0, 5.0, 6.0]));
    let (d, exact) = compare::ks_statistic(as_numeric(&a), as_numeric(&b));
    assert_eq!((d, exact), (0.5, true));
    // F_a − F_b is 1/4, 1/2, 1/2, 1/2, 1/4 on [1,2), ..., [5,6): the integral is 2, as
    // scipy.stats.wasserstein_distance([1,2,3,4], [3,4,5,6]) says.
    assert!((compare::wasserstein(&a, &b, false).unwrap() - 2.0).abs() < 1e-12);
    // Normalised by the reference's population std sqrt(1.25).
    assert!((compare::wasserstein(&a, &b, true).unwrap() - 2.0 / 1.25f64.sqrt()).abs() < 1e-12);
}

#[test]
fn sketched_statistics_stay_close() {
    let (xs, ys) = (spread(60_000, 11), spread(60_000, 12).iter().map(|y| y + 5.0).collect::<Vec<_>>());
    let (a, b) = (numeric(&xs), numeric(&ys));
    assert!(as_numeric(&a).level > 0);
    let exact_ks = {
        let (mut s, mut t) = (xs.clone(), ys.clone());
        s.sort_by(f64::total_cmp);
        t.sort_by(f64::total_cmp);
        let all: Vec<f64> = s.iter().chain(&t).copied().collect();
        all.iter()
            .map(|&x| {
                let f = s.partition_point(|&v| v <= x) as f64 / s.len() as f64;
                let g = t.partition_point(|&v| v <= x) as f64 / t.len() as f64;
                (f - g).abs()
            })
            .fold(0.0, f64::max)
    };
    let (d, _) = compare::ks_statistic(as_numeric(&a), as_numeric(&b));
    assert!(d <= exact_ks + 1e-12 && exact_ks - d <= 0.01, "sketch {d} exact {exact_ks}");
    // W1 is at least the difference of the means (Jensen), whatever the buckets.
    let n = xs.len() as f64;
    let mean_gap = (xs.iter().sum::<f64>() / n - ys.iter().sum::<f64>() / n).abs();
    let w = compare::wasserstein(&a, &b, false).unwrap();
    assert!(w >= mean_gap * (1.0 - 1e-3), "W1 {w}, mean gap {mean_gap}");
}

#[test]
fn bins_psi_js_chi2_by_hand() {
    // Reference 0..99, current 50..149: deciles of the reference, the last bin open-ended.
    let a: Vec<f64> = (0..100).map(f64::from).collect();
    let b: Vec<f64> = (50..150).map(f64::from).collect();
    let (pa, pb) = (numeric(&a), numeric(&b));
    let bins = compare::bins(&pa, &pb, 10).unwrap();
    assert_eq!(bins.len(), 10);
    assert_eq!(bins[0].lower, f64::NEG_INFINITY);
    assert_eq!(bins[0].upper, f64::from_bits(9f64.to_bits() + 1), "x < next float after 9 means x <= 9");
    assert!(bins.iter().all(|b| b.reference == 10));
    let cur: Vec<u64> = bins.iter().map(|b| b.current).collect();
    assert_eq!(cur, vec![0, 0, 0, 0, 0, 10, 10, 10, 10, 60]);
    let cells = Cells::of(&pa, &pb, 10).unwrap();
    let psi: f64 = cur
        .iter()
        .map(|&c| {
            let c = if c == 0 { 1e-4 } else { c as f64 / 100.0 };
            (0.1 - c) * (0.1 / c).ln()
        })
        .sum();
    assert!((cells.psi() - psi).abs() < 1e-12);
    // chi2_contingency([[10]*10, cur], correction=False): statistic by hand.
    let (stat, p) = cells.chi2();
    let expected: f64 = cur
        .iter()
        .map(|&c| {
            let col = 10.0 + c as f64;
            let e = col / 2.0;
            (10.0 - e).powi(2) / e + (c as f64 - e).powi(2) / e
        })
        .sum();
    assert!((stat - expected).abs() < 1e-9 && p > 0.0 && p < 1e-10, "{stat} {expected} {p}");
    assert!(cells.js() > 0.0 && cells.js() <= std::f64::consts::LN_2.sqrt());
}

#[test]
fn test_choice_follows_evidently() {
    let small: Vec<f64> = (0..500).map(|i| f64::from(i) * 0.37).collect();
    let big: Vec<f64> = (0..5000).map(|i| f64::from(i) * 0.37).collect();
    let (s, b) = (numeric(&small), numeric(&big));
    assert_eq!(compare::default_test(&s, &s).unwrap(), ("numeric", Test::Ks));
    assert_eq!(compare::default_test(&b, &b).unwrap(), ("numeric", Test::Wasserstein));
    let few = numeric(&[1.0, 2.0, 3.0, 1.0]);
    assert_eq!(compare::default_test(&few, &few).unwrap(), ("categorical", Test::Chi2));
    let binary = categorical(&["yes", "no", "no"]);
    assert_eq!(compare::default_test(&binary, &binary).unwrap(), ("categorical", Test::Ztest));
    let o = compare::run_test(&b, &b, None, |_| Ok(None)).unwrap();
    assert_eq!((o.statistic, o.drifted, o.threshold), (0.0, false, 0.1));
}

#[test]
fn overflowing_moments_round_trip_as_null() {
    let p = numeric(&[1e200, -1e200, 3.0]);
    let text = p.to_text();
    assert!(text.contains("\"m2\":null"), "{text}");
    let back = Profile::parse(&text).unwrap();
    assert!(as_numeric(&back).m2.is_nan() && as_numeric(&back).buckets == as_numeric(&p).buckets);
    // A normalised test cannot divide by it, and says so; the unnormalised ones still work.
    assert_eq!(compare::wasserstein(&back, &back, true).unwrap_err().kind, crate::error::Kind::InvalidParameter);
    assert_eq!(compare::ks_test(&back, &back).unwrap().0, 0.0);
}

#[test]
fn counts_that_overflow_are_refused() {
    let big = format!(r#"{{"kind":"categorical","n":{m},"nulls":0,"other":0,"categories":[["a",{m}]]}}"#, m = u64::MAX);
    let p = Profile::parse(&big).unwrap();
    let mut m = MergeState::default();
    m.add(&p).unwrap();
    assert_eq!(m.add(&p).unwrap_err().kind, crate::error::Kind::InvalidParameter);
}

#[test]
fn a_constant_reference_still_gets_a_verdict() {
    // Evidently divides by max(std, 0.001): a column that was constant and now varies drifts.
    let (constant, varying) =
        (numeric(&vec![0.0; 2000]), numeric(&(0..2000).map(|i| f64::from(i % 10)).collect::<Vec<_>>()));
    assert!(compare::wasserstein(&constant, &varying, true).is_err());
    let o = compare::run_test(&constant, &varying, Some(Test::Wasserstein), |_| Ok(None)).unwrap();
    assert!((o.statistic - 4.5 / 0.001).abs() < 1e-6 && o.drifted, "{o:?}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let empty = Profile::Numeric(Numeric::default());
    let some = numeric(&[1.0, 2.0]);
    let cat = categorical(&["a"]);
    for e in [
        compare::ks_test(&empty, &some).unwrap_err(),
        compare::ks_test(&some, &cat).unwrap_err(),
        compare::wasserstein(&numeric(&[1.0, 1.0]), &some, true).unwrap_err(),
        compare::bins(&some, &some, 0).unwrap_err(),
        Test::parse("t-test").unwrap_err(),
        Cells::of(&categorical(&["a", "b", "c"]), &cat, 10).unwrap().ztest().unwrap_err(),
        compare::ztest(&numeric(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), &some).unwrap_err(),
        compare::run_test(&numeric(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), &some, Some(Test::Ztest), |_| Ok(None))
            .unwrap_err(),
    ] {
        assert_eq!(e.kind, crate::error::Kind::InvalidParameter, "{e:?}");
    }
    let mut m = MergeState::default();
    m.add(&some).unwrap();
    assert!(m.add(&cat).is_err());
}
