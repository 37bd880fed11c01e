//! Tests of the SciPy port against reference values computed with SciPy 1.17.1 / NumPy 2.4.6
//! (`/work/main/.venv-ml/bin/python`, x86-64); each table says which scipy call produced it.
//! Tolerance: 1e-9 relative, or 1e-300 absolute for values that underflow.
use super::*;

fn close(got: f64, want: f64) -> bool {
    got == want || (want.abs() < 1e-300 && (got - want).abs() <= 1e-300) || ((got - want) / want).abs() <= 1e-9
}

fn rel(got: f64, want: f64) -> f64 {
    if got == want || want.abs() < 1e-300 {
        (got - want).abs()
    } else {
        ((got - want) / want).abs()
    }
}

/// A deterministic sample, generated identically with numpy for the references: kind 0 is
/// uniform on [0, 1) from a multiplicative hash, kind k > 0 the integers 0..k (ties); plus a shift.
/// numpy: h = (i * 2654435761 + seed * 40503 + 12345) % 2**32 over uint64 i = arange(n);
/// x = h / 2**32 (kind 0) or h % kind; x + shift.
fn sample(&(kind, n, seed, shift): &Sample) -> Vec<f64> {
    (0..n as u64)
        .map(|i| {
            let h = (i * 2654435761 + seed * 40503 + 12345) % 4294967296;
            let x = if kind == 0 { h as f64 / 4294967296.0 } else { (h % kind) as f64 };
            x + shift
        })
        .collect()
}

/// kstwo_sf grid: (n, x, scipy.stats.kstwo.sf(x, n), branch taken). Branches: "support" x <= 0.5/n
/// and "x>=1" (rv_continuous.sf); in _kolmogn(cdf=False), with t = n x: "RG-low-prod"/"RG-low-stirling"
/// t <= 1 with n <= 140 / n > 140, "RG-high" t >= n - 1, "2smirnov(x>=.5)", then for n <= 140
/// "DMTW(n<=140)" n x^2 <= 0.754693, "Pomeranz" <= 4, "2smirnov(n<=140)"; for n > 140 "zero(nx2>=370)",
/// "2smirnov" n x^2 >= 2.2 (the exact sum; "2smirnov-approx" when n > 10^6), "DMTW(n>140)" n <= 10^5
/// and n x^1.5 <= 1.4, else "PelzGood".
const KSTWO_SF: &[(f64, f64, f64, &str)] = &[
    (1.0, 0.3, 1.0, "support"),
    (1.0, 0.75, 0.5, "RG-low-prod"),
    (1.0, 1.0, 0.0, "x>=1"),
    (1.0, 0.5477225575051661, 0.9045548849896679, "RG-low-prod"),
    (1.0, 0.8366600265340756, 0.3266799469318489, "RG-low-prod"),
    (5.0, 0.06, 1.0, "support"),
    (5.0, 0.15, 0.9988, "RG-low-prod"),
    (5.0, 0.2, 0.9616, "RG-low-prod"),
    (5.0, 0.3, 0.664, "DMTW(n<=140)"),
    (5.0, 0.6, 0.03008000000000001, "2smirnov(x>=.5)"),
    (5.0, 0.2449489742783178, 0.8598890846719871, "DMTW(n<=140)"),
    (5.0, 0.3741657386773941, 0.3853143578417575, "DMTW(n<=140)"),
    (5.0, 0.4472135954999579, 0.19951883851095398, "Pomeranz"),
    (5.0, 0.6324555320336759, 0.018398335644137166, "2smirnov(x>=.5)"),
    (5.0, 0.8831760866327847, 4.3519985939646516e-05, "RG-high"),
    (5.0, 0.8944271909999159, 2.6229522294832813e-05, "RG-high"),
    (5.0, 0.9486832980505138, 7.117437812558601e-07, "RG-high"),
    (5.0, 1.2649110640673518, 0.0, "x>=1"),
    (5.0, 0.6618156843109719, 0.011260107954639326, "2smirnov(x>=.5)"),
    (5.0, 0.42756699723380576, 0.24140905052891903, "Pomeranz"),
    (5.0, 0.4284229872182578, 0.23947682367305567, "Pomeranz"),
    (50.0, 0.006, 1.0, "support"),
    (50.0, 0.015, 1.0, "RG-low-prod"),
    (50.0, 0.02, 1.0, "RG-low-prod"),
    (50.0, 0.03, 0.9999999991521389, "DMTW(n<=140)"),
    (50.0, 0.06, 0.9889221625382869, "DMTW(n<=140)"),
    (50.0, 0.03162277660168379, 0.9999999926938434, "DMTW(n<=140)"),
    (50.0, 0.1414213562373095, 0.24581239735690597, "Pomeranz"),
    (50.0, 0.2, 0.03143877776953241, "Pomeranz"),
    (50.0, 0.2792848008753788, 0.0006099842255534726, "Pomeranz"),
    (50.0, 0.3, 0.00017353260202718738, "2smirnov(n<=140)"),
    (50.0, 0.4, 9.86356336441006e-08, "2smirnov(n<=140)"),
    (50.0, 0.4898979485566356, 1.3721873482046479e-11, "2smirnov(n<=140)"),
    (50.0, 0.7745966692414834, 4.1119269309171896e-32, "2smirnov(x>=.5)"),
    (50.0, std::f64::consts::SQRT_2, 0.0, "x>=1"),
    (50.0, 0.98, 2.251799813685348e-85, "RG-high"),
    (50.0, 0.99, 2.0000000000000889e-100, "RG-high"),
    (50.0, 0.5, 4.392853499119748e-12, "2smirnov(x>=.5)"),
    (50.0, 0.6, 9.634070456142374e-18, "2smirnov(x>=.5)"),
    (50.0, 0.999, 2.0000000000000887e-150, "RG-high"),
    (140.0, 0.002142857142857143, 1.0, "support"),
    (140.0, 0.005357142857142857, 1.0, "RG-low-prod"),
    (140.0, 0.007142857142857143, 1.0, "RG-low-prod"),
    (140.0, 0.010714285714285714, 1.0, "DMTW(n<=140)"),
    (140.0, 0.02142857142857143, 0.9999997514300274, "DMTW(n<=140)"),
    (140.0, 0.01889822365046136, 0.999999997572741, "DMTW(n<=140)"),
    (140.0, 0.08451542547285165, 0.25530484459737574, "Pomeranz"),
    (140.0, 0.11952286093343936, 0.03360006627137182, "Pomeranz"),
    (140.0, 0.16690459207925604, 0.0007063168988356589, "Pomeranz"),
    (140.0, 0.17928429140015903, 0.00020792131745815754, "2smirnov(n<=140)"),
    (140.0, 0.23904572186687872, 1.5932390437372547e-07, "2smirnov(n<=140)"),
    (140.0, 0.29277002188455997, 3.9827295753871927e-11, "2smirnov(n<=140)"),
    (140.0, 0.8451542547285166, 2.052246954673804e-113, "2smirnov(x>=.5)"),
    (140.0, 0.9928571428571429, 6.967949600041781e-301, "RG-high"),
    (140.0, 0.9964285714285714, 0.0, "RG-high"),
    (140.0, 0.5, 6.869300438276986e-33, "2smirnov(x>=.5)"),
    (140.0, 0.6, 1.0052268370224967e-48, "2smirnov(x>=.5)"),
    (140.0, 0.999, 0.0, "RG-high"),
    (140.0, 1.0, 0.0, "x>=1"),
    (141.0, 0.002127659574468085, 1.0, "support"),
    (141.0, 0.005319148936170213, 1.0, "RG-low-stirling"),
    (141.0, 0.0070921985815602835, 1.0, "RG-low-stirling"),
    (141.0, 0.010638297872340425, 1.0, "DMTW(n>140)"),
    (141.0, 0.02127659574468085, 0.9999997797795211, "DMTW(n>140)"),
    (141.0, 0.018831089428867735, 0.9999999975890553, "DMTW(n>140)"),
    (141.0, 0.07045948486252364, 0.4648186842971528, "PelzGood"),
    (141.0, 0.07312672377794902, 0.4179863698912213, "PelzGood"),
    (141.0, 0.08421519210665189, 0.2553544927215675, "PelzGood"),
    (141.0, 0.16631167868819408, 0.0007067881152885068, "2smirnov"),
    (141.0, 0.16843038421330378, 0.0005765489591390147, "2smirnov"),
    (141.0, 0.1786474002526241, 0.00020808841393952387, "2smirnov"),
    (141.0, 0.8421519210665189, 5.325671079908681e-113, "2smirnov(x>=.5)"),
    (141.0, 0.9929078014184397, 1.8244632139623947e-303, "RG-high"),
    (141.0, 0.9964539007092199, 0.0, "RG-high"),
    (141.0, 0.5, 4.034017661079683e-33, "2smirnov(x>=.5)"),
    (141.0, 0.6, 4.550154415759682e-49, "2smirnov(x>=.5)"),
    (141.0, 0.999, 0.0, "RG-high"),
    (141.0, 1.0, 0.0, "x>=1"),
    (1000.0, 0.0003, 1.0, "support"),
    (1000.0, 0.00075, 1.0, "RG-low-stirling"),
    (1000.0, 0.001, 1.0, "RG-low-stirling"),
    (1000.0, 0.0015, 1.0, "DMTW(n>140)"),
    (1000.0, 0.003, 1.0, "DMTW(n>140)"),
    (1000.0, 0.007071067811865475, 0.9999999993892217, "DMTW(n>140)"),
    (1000.0, 0.017320508075688773, 0.9198987616045818, "PelzGood"),
    (1000.0, 0.026457513110645904, 0.4777422207351657, "PelzGood"),
    (1000.0, 0.027459060435491962, 0.43025901431195623, "PelzGood"),
    (1000.0, 0.06244997998398398, 0.0007820671769207941, "2smirnov"),
    (1000.0, 0.06324555320336758, 0.0006397648803336532, "2smirnov"),
    (1000.0, 0.0670820393249937, 0.00023436059483063407, "2smirnov"),
    (1000.0, 0.6074537019394977, 0.0, "2smirnov(x>=.5)"),
    (1000.0, 0.6082762530298219, 0.0, "2smirnov(x>=.5)"),
    (1000.0, 0.6324555320336759, 0.0, "2smirnov(x>=.5)"),
    (1000.0, 0.999, 0.0, "RG-high"),
    (1000.0, 0.9995, 0.0, "RG-high"),
    (1000.0, 0.999, 0.0, "RG-high"),
    (1000.0, 1.0, 0.0, "x>=1"),
    (100000.0, 3e-06, 1.0, "support"),
    (100000.0, 7.5e-06, 1.0, "RG-low-stirling"),
    (100000.0, 1e-05, 1.0, "RG-low-stirling"),
    (100000.0, 1.5e-05, 1.0, "DMTW(n>140)"),
    (100000.0, 3e-05, 1.0, "DMTW(n>140)"),
    (100000.0, 0.0007071067811865475, 0.9999999997585386, "PelzGood"),
    (100000.0, 0.0017320508075688774, 0.9245650684435813, "PelzGood"),
    (100000.0, 0.0026457513110645908, 0.484988281163684, "PelzGood"),
    (100000.0, 0.03162277660168379, 2.5933180791541517e-87, "2smirnov"),
    (100000.0, 0.06074537019394976, 3.122e-321, "2smirnov"),
    (100000.0, 0.0608276253029822, 0.0, "zero(nx2>=370)"),
    (100000.0, 0.06324555320336758, 0.0, "zero(nx2>=370)"),
    (100000.0, 0.99999, 0.0, "RG-high"),
    (100000.0, 0.999995, 0.0, "RG-high"),
    (100000.0, 0.5, 0.0, "2smirnov(x>=.5)"),
    (100000.0, 0.6, 0.0, "2smirnov(x>=.5)"),
    (100000.0, 0.9, 0.0, "2smirnov(x>=.5)"),
    (100000.0, 1.0, 0.0, "x>=1"),
    (100000.0, 0.0005802976947830142, 0.9999999999999979, "DMTW(n>140)"),
    (1000000.0, 3e-07, 1.0, "support"),
    (1000000.0, 7.5e-07, 1.0, "RG-low-stirling"),
    (1000000.0, 1e-06, 1.0, "RG-low-stirling"),
    (1000000.0, 1.5e-06, 1.0, "PelzGood"),
    (1000000.0, 3e-06, 1.0, "PelzGood"),
    (1000000.0, 0.00022360679774997898, 0.9999999997764255, "PelzGood"),
    (1000000.0, 0.019209372712298545, 5.504e-321, "2smirnov"),
    (1000000.0, 0.019235384061671346, 0.0, "zero(nx2>=370)"),
    (1000000.0, 0.02, 0.0, "zero(nx2>=370)"),
    (1000000.0, 0.999999, 0.0, "RG-high"),
    (1000000.0, 0.9999995, 0.0, "RG-high"),
    (1000000.0, 0.5, 0.0, "2smirnov(x>=.5)"),
    (1000000.0, 0.6, 0.0, "2smirnov(x>=.5)"),
    (1000000.0, 0.9, 0.0, "2smirnov(x>=.5)"),
    (1000000.0, 1.0, 0.0, "x>=1"),
    (5000000.0, 6e-08, 1.0, "support"),
    (5000000.0, 1.5e-07, 1.0, "RG-low-stirling"),
    (5000000.0, 2e-07, 1.0, "RG-low-stirling"),
    (5000000.0, 3e-07, 1.0, "PelzGood"),
    (5000000.0, 6e-07, 1.0, "PelzGood"),
    (5000000.0, 0.0001, 0.9999999997808164, "PelzGood"),
    (5000000.0, 0.0008831760866327847, 0.0008189876000262416, "2smirnov-approx"),
    (5000000.0, 0.0008944271909999159, 0.0006705253050786921, "2smirnov-approx"),
    (5000000.0, 0.0009486832980505138, 0.0002466635523595653, "2smirnov-approx"),
    (5000000.0, 0.008602325267042627, 0.0, "zero(nx2>=370)"),
    (5000000.0, 0.00894427190999916, 0.0, "zero(nx2>=370)"),
    (5000000.0, 0.9999998, 0.0, "RG-high"),
    (5000000.0, 0.9999999, 0.0, "RG-high"),
    (5000000.0, 0.5, 0.0, "2smirnov(x>=.5)"),
    (5000000.0, 0.6, 0.0, "2smirnov(x>=.5)"),
    (5000000.0, 0.9, 0.0, "2smirnov(x>=.5)"),
    (5000000.0, 1.0, 0.0, "x>=1"),
];

/// smirnov(n, x) = scipy.special.smirnov(n, x), including branches kstwo never reaches (x <= 1/n,
/// x >= 1 - 1/n, the upper sum, n x an exact integer).
const SMIRNOV: &[(u64, f64, f64)] = &[
    (1, 0.3, 0.7),
    (2, 0.25, 0.6875),
    (5, 0.1, 0.85359),
    (8, 0.25, 0.3147287368774414),
    (8, 0.125, 0.7149128317832947),
    (10, 0.05, 0.9224335892010742),
    (10, 0.95, 9.765625000000086e-14),
    (10, 0.92, 1.0737418239999946e-11),
    (40, 0.02, 0.9567051046350029),
    (40, 0.06, 0.7214915433229728),
    (100, 0.015, 0.9467292220990107),
    (100, 0.021, 0.903023997280624),
    (100, 0.04, 0.707480642336499),
    (1000, 0.0012, 0.996316510336951),
    (1000, 0.05, 0.006506037390545166),
    (1000, 0.2, 7.764314602125269e-36),
    (1000, 0.7, 0.0),
    (20, 0.5, 1.893797620269516e-05),
    (7, 0.42857142857142855, 0.05531344447102339),
    (1000001, 0.001, 0.1352448117787778),
    (1000001, 0.0001, 0.9801332548522448),
    (3, 0.0, 1.0),
    (3, 1.0, 0.0),
];

/// Generated samples: (case, sample a, sample b, statistic(a, b), ks_2samp(a, b).statistic,
/// ks_2samp(a, b).pvalue); a sample is (kind, n, seed, shift), see `sample`.
type Sample = (u64, usize, u64, f64);
const KS_2SAMP: &[(&str, Sample, Sample, f64, f64, f64)] = &[
    ("equal sizes, square", (0, 50, 1, 0.0), (0, 50, 2, 0.2), 0.22000000000000003, 0.22, 0.17858668181221732),
    ("equal sizes, square", (0, 2000, 3, 0.0), (0, 2000, 4, 0.05), 0.051000000000000045, 0.051, 0.011000567452742057),
    (
        "unequal sizes, inside method",
        (0, 40, 5, 0.0),
        (0, 67, 6, 0.2),
        0.2522388059701492,
        0.25223880597014925,
        0.06623150617720257,
    ),
    (
        "unequal sizes, inside method",
        (0, 300, 7, 0.0),
        (0, 450, 8, 0.1),
        0.10666666666666669,
        0.10666666666666667,
        0.03157764406979246,
    ),
    (
        "unequal sizes at the exact limit",
        (0, 10000, 1, 0.0),
        (0, 9999, 2, 0.02),
        0.020315091509150895,
        0.020315091509150916,
        0.03179647316782438,
    ),
    (
        "ties across samples",
        (7, 80, 9, 0.0),
        (7, 120, 10, 0.0),
        0.06666666666666665,
        0.06666666666666667,
        0.9770721915292914,
    ),
    (
        "ties across samples, equal sizes",
        (3, 25, 11, 0.0),
        (3, 25, 12, 1.0),
        0.36000000000000004,
        0.36,
        0.07789836549197329,
    ),
    ("identical samples", (0, 100, 13, 0.0), (0, 100, 13, 0.0), 0.0, 0.0, 1.0),
    ("large shift, equal sizes", (0, 300, 14, 0.0), (0, 300, 15, 5.0), 1.0, 1.0, 1.4802978791996799e-179),
    ("large shift, unequal sizes", (0, 500, 16, 0.0), (0, 700, 17, 5.0), 1.0, 1.0, 5e-324),
    ("large shift, p underflows", (0, 1000, 18, 0.0), (0, 1000, 19, 5.0), 1.0, 1.0, 0.0),
    (
        "just above 10,000: asymp",
        (0, 10001, 20, 0.0),
        (0, 10001, 21, 0.02),
        0.020297970202979743,
        0.020297970202979743,
        0.032043515978778414,
    ),
    (
        "just above 10,000: asymp",
        (0, 10001, 22, 0.0),
        (0, 500, 23, 0.1),
        0.10235076492350764,
        0.10235076492350764,
        8.551606322213308e-05,
    ),
    (
        "asymp, large",
        (0, 20000, 24, 0.0),
        (0, 15000, 25, 0.01),
        0.010200000000000098,
        0.010200000000000098,
        0.3322855763827901,
    ),
];

/// Literal samples: (case, a, b, ks_2samp(a, b).statistic, ks_2samp(a, b).pvalue).
type Literal = (&'static str, &'static [f64], &'static [f64], f64, f64);
const KS_LITERAL: &[Literal] = &[
    ("1 vs 1", &[1.0], &[2.0], 1.0, 1.0),
    ("1 vs 3", &[1.0], &[0.0, 2.0, 3.0], 0.6666666666666666, 1.0),
    ("2 vs 2", &[1.0, 2.0], &[1.5, 3.0], 0.5, 1.0),
    ("2 vs 2 identical", &[2.0, 1.0], &[1.0, 2.0], 0.0, 1.0),
    ("1 vs 1 equal", &[0.0], &[0.0], 0.0, 1.0),
    ("-0.0 ties 0.0", &[-0.0, 1.0, 3.0], &[0.0, 2.0], 0.3333333333333333, 1.0),
    ("infinities", &[f64::NEG_INFINITY, 0.0, 1.0, f64::INFINITY], &[0.5, f64::INFINITY, 2.0], 0.5, 0.6571428571428571),
    ("3 vs 5 with ties", &[1.0, 1.0, 2.0], &[1.0, 2.0, 2.0, 3.0, 3.0], 0.4666666666666667, 0.6785714285714286),
];

/// p_value(n1, n2, d, exact_allowed): (n1, n2, d, with exact allowed (scipy _attempt_exact_2kssamp, else
/// kstwo.sf(d, round(n1 n2 / (n1 + n2)))), asymptotic only (that kstwo.sf)).
const P_VALUE: &[(u64, u64, f64, f64, f64)] = &[
    (100, 80, 0.2, 0.04985661008315778, 0.05103104925991764),
    (100, 100, 0.17, 0.11119526053829192, 0.0985837557925674),
    (7, 13, 0.5, 0.11127450980392158, 0.112),
    (5000, 12000, 0.03, 0.0034138016680478993, 0.0034138016680478993),
    (10001, 10001, 0.015, 0.20846142096186204, 0.20846142096186204),
    (30, 30, 1.0, 1.6911233892144742e-17, 0.0),
];

#[test]
fn kstwo_sf_matches_scipy_on_every_branch() {
    let mut worst: Vec<(&str, f64)> = Vec::new();
    for &(n, x, want, branch) in KSTWO_SF {
        let got = kstwo_sf(n, x);
        assert!(close(got, want), "kstwo_sf({n}, {x:e}) [{branch}] = {got:e}, scipy {want:e}");
        match worst.iter_mut().find(|(b, _)| *b == branch) {
            Some(w) => w.1 = w.1.max(rel(got, want)),
            None => worst.push((branch, rel(got, want))),
        }
    }
    // Every branch of _kolmogn(cdf=False) and of kstwo.sf's support checks is in the table.
    let branches = [
        "support",
        "x>=1",
        "RG-low-prod",
        "RG-low-stirling",
        "RG-high",
        "2smirnov(x>=.5)",
        "DMTW(n<=140)",
        "Pomeranz",
        "2smirnov(n<=140)",
        "zero(nx2>=370)",
        "2smirnov",
        "2smirnov-approx",
        "DMTW(n>140)",
        "PelzGood",
    ];
    for b in branches {
        assert!(worst.iter().any(|(w, _)| *w == b), "no reference point for branch {b}");
    }
    for (b, e) in worst {
        println!("kstwo_sf {b:18} max rel err {e:.2e}");
    }
}

#[test]
fn smirnov_matches_scipy() {
    for &(n, x, want) in SMIRNOV {
        let got = smirnov(n, x);
        assert!(close(got, want), "smirnov({n}, {x:e}) = {got:e}, scipy {want:e}");
    }
}

#[test]
fn ks_2samp_matches_scipy_on_generated_samples() {
    for (case, a, b, raw, want_d, want_p) in KS_2SAMP {
        let (a, b) = (sample(a), sample(b));
        assert_eq!(statistic(&a, &b), *raw, "{case}: statistic");
        assert_eq!(statistic(&b, &a), *raw, "{case}: statistic, samples swapped");
        let (d, p) = ks_2samp(&a, &b);
        assert_eq!(d, *want_d, "{case}: statistic as ks_2samp reports it");
        assert!(close(p, *want_p), "{case}: p = {p:e}, scipy {want_p:e}");
        println!("ks_2samp {case:34} p {p:.6e} rel err {:.2e}", rel(p, *want_p));
    }
}

#[test]
fn ks_2samp_matches_scipy_on_small_and_special_samples() {
    for (case, a, b, want_d, want_p) in KS_LITERAL {
        let (d, p) = ks_2samp(a, b);
        assert_eq!(d, *want_d, "{case}: statistic");
        assert!(close(p, *want_p), "{case}: p = {p:e}, scipy {want_p:e}");
    }
}

#[test]
fn failed_exact_computation_falls_back_to_asymp() {
    // 60 vs 60 with d = 2/60: _compute_prob_outside_square returns 1 + 2^-52, so scipy warns
    // "Exact calculation unsuccessful" and uses kstwo.sf(2/60, 30) (Ruben–Gambino).
    // scipy: ks_2samp(np.arange(60.0), np.arange(60.0) + 1.5)
    let a: Vec<f64> = (0..60).map(f64::from).collect();
    let b: Vec<f64> = a.iter().map(|x| x + 1.5).collect();
    let (d, p) = ks_2samp(&a, &b);
    assert_eq!(d, 0.03333333333333333);
    assert!(close(p, 0.9999999999987117), "p = {p:e}");
    assert_eq!(prob_outside_square(60, 2), 1.0000000000000002);
}

#[test]
fn p_value_matches_scipy() {
    for &(n1, n2, d, exact, asymp) in P_VALUE {
        for (x, y) in [(n1, n2), (n2, n1)] {
            let (e, a) = (p_value(x, y, d, true), p_value(x, y, d, false));
            assert!(close(e, exact), "p_value({x}, {y}, {d}, true) = {e:e}, scipy {exact:e}");
            assert!(close(a, asymp), "p_value({x}, {y}, {d}, false) = {a:e}, scipy {asymp:e}");
        }
    }
    // An already rounded statistic rounds to itself.
    let (d, _) = two_sided(10000, 9999, 0.020315091509150895, true);
    assert_eq!(d, 0.020315091509150916);
    assert_eq!(two_sided(10000, 9999, d, true).0, d);
}

#[test]
fn invalid_input_is_nan_not_a_panic() {
    assert!(statistic(&[], &[1.0]).is_nan());
    assert!(statistic(&[1.0, f64::NAN], &[1.0]).is_nan());
    let (d, p) = ks_2samp(&[f64::NAN], &[1.0]);
    assert!(d.is_nan() && p.is_nan());
    assert!(p_value(0, 5, 0.5, true).is_nan());
    // scipy: ks_2samp([1.], [2.], method='asymp') -> nan (kstwo with n = round(0.5) = 0), [1.] vs [2., 3.] -> 0.
    assert!(p_value(1, 1, 1.0, false).is_nan());
    assert_eq!(p_value(1, 2, 1.0, false), 0.0);
    assert!(p_value(5, 5, f64::NAN, true).is_nan());
    assert_eq!(p_value(5, 7, -3.0, true), 1.0);
    assert!(p_value(5, 7, 7.0, true) >= 0.0);
    for n in [0.0, 0.5, 2.5, -3.0, f64::NAN, f64::INFINITY] {
        assert!(kstwo_sf(n, 0.3).is_nan(), "kstwo_sf({n}, 0.3)");
    }
    assert!(kstwo_sf(10.0, f64::NAN).is_nan());
    assert_eq!(kstwo_sf(10.0, -1.0), 1.0);
    assert_eq!(kstwo_sf(10.0, f64::INFINITY), 0.0);
    assert!(smirnov(5, 1.5).is_nan());
}

#[test]
fn frexp_and_ldexp_behave_like_c() {
    assert_eq!(frexp(8.0), (0.5, 4));
    assert_eq!(frexp(-0.75), (-0.75, 0));
    assert_eq!(frexp(f64::from_bits(1)), (0.5, -1073));
    assert_eq!(ldexp(0.5, -1073), f64::from_bits(1));
    assert_eq!(ldexp(0.75, -1074), f64::from_bits(1)); // 1.5 * 2^-1075 rounds to 2^-1074
    assert_eq!(ldexp(0.5, -1074), 0.0); // exactly half the smallest subnormal: ties to even
    assert_eq!(ldexp(1.0, 1024), f64::INFINITY);
    assert_eq!(ldexp(-1.0, 1023), -f64::MAX / (2.0 - f64::EPSILON));
    assert_eq!(ldexp(3.0, -1030), f64::from_bits(3 << 44)); // 3 * 2^-1030, subnormal
    for x in [1.0, 0.1, 123456.789, 1e-310, -2.5e300] {
        let (m, e) = frexp(x);
        assert!((0.5..1.0).contains(&m.abs()));
        assert_eq!(ldexp(m, e), x);
    }
}
