//! GrowthBook-compatible hashing and assignment, pure Rust.
//!
//! GrowthBook's SDKs hash with 32-bit FNV-1a over the characters of a string. The Python SDK
//! uses each character's Unicode code point (`ord(c)`), which is what we follow; hashing UTF-8
//! bytes would give different buckets for any non-ASCII unit id. Hand-written because the
//! `fnv` crate hashes bytes and exposes only the 64-bit variant.
//!
//! Assignment follows the SDK's `getBucketRanges` / `chooseVariation` / `inNamespace` with the
//! same floating-point operations in the same order, so a unit lands in the same variant as in
//! any GrowthBook SDK. Two deliberate differences, both errors instead of silent clamping:
//! coverage outside [0, 1] and negative (or non-finite) weights.
use crate::error::{PulseError, Result};

pub mod stats;

const FNV32_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// `h` extended with the Unicode code points of `s`. ASCII text (the usual unit id) is hashed
/// byte by byte, which gives the same code points without decoding UTF-8.
#[inline]
fn fnv1a32_extend(h: u32, s: &str) -> u32 {
    if s.is_ascii() {
        s.bytes().fold(h, |h, b| (h ^ u32::from(b)).wrapping_mul(FNV32_PRIME))
    } else {
        s.chars().fold(h, |h, c| (h ^ c as u32).wrapping_mul(FNV32_PRIME))
    }
}

/// 32-bit FNV-1a over the Unicode code points of `s`.
pub fn fnv1a32(s: &str) -> u32 {
    fnv1a32_extend(FNV32_OFFSET_BASIS, s)
}

fn fnv1a32_concat(a: &str, b: &str) -> u32 {
    fnv1a32_extend(fnv1a32(a), b)
}

/// FNV-1a 32 of the decimal digits of `x`, without allocating a string (the v2 outer hash).
fn fnv1a32_decimal(mut x: u32) -> u32 {
    let mut digits = [0u8; 10];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (x % 10) as u8;
        len += 1;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    digits[..len].iter().rev().fold(FNV32_OFFSET_BASIS, |h, &d| (h ^ u32::from(d)).wrapping_mul(FNV32_PRIME))
}

/// GrowthBook's `hash(seed, value, version)`: a number in [0, 1), or `None` for an unknown version.
///
/// - v1: `fnv1a32(value ‖ seed) mod 1000 / 1000` (legacy; correlates across experiments).
/// - v2: `fnv1a32(decimal(fnv1a32(seed ‖ value))) mod 10000 / 10000`.
pub fn ab_hash(seed: &str, unit_id: &str, hash_version: i32) -> Option<f64> {
    match hash_version {
        1 => Some(f64::from(fnv1a32_concat(unit_id, seed) % 1000) / 1000.0),
        2 => Some(f64::from(fnv1a32_decimal(fnv1a32_concat(seed, unit_id)) % 10_000) / 10_000.0),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Assignment
// ---------------------------------------------------------------------------------------------

/// The most variants an experiment may have: far beyond any real test, and small enough that
/// ranges and weights for them fit in memory (an allocation failure would abort the backend).
pub const MAX_VARIANTS: usize = 10_000;

/// Checks a variant count against [`MAX_VARIANTS`].
pub fn check_variant_count(n: usize) -> Result<()> {
    if n <= MAX_VARIANTS {
        Ok(())
    } else {
        Err(PulseError::invalid(format!("{n} variants is more than the {MAX_VARIANTS} supported"))
            .hint("An experiment compares a handful of variants."))
    }
}

/// GrowthBook's `getEqualWeights(n)`: `n` weights of `1 / n` (empty for n <= 0).
pub fn equal_weights(n: usize) -> Vec<f64> {
    vec![1.0 / n as f64; n]
}

/// Checks coverage: finite and in [0, 1]. GrowthBook clamps silently; a typo such as 50 for 50 %
/// would then cover everyone, so Pulse refuses it.
pub fn check_coverage(coverage: f64) -> Result<()> {
    if (0.0..=1.0).contains(&coverage) {
        Ok(())
    } else {
        Err(PulseError::invalid(format!("coverage must be between 0 and 1, got {coverage}"))
            .hint("Coverage is the share of units in the experiment: 0.5 for half of them."))
    }
}

/// Checks weights: every weight finite and not negative.
pub fn check_weights(weights: &[f64]) -> Result<()> {
    match weights.iter().position(|w| !w.is_finite() || *w < 0.0) {
        None => Ok(()),
        Some(i) => Err(PulseError::invalid(format!(
            "weight {} is {}, weights must be finite and not negative",
            i + 1,
            weights[i]
        ))
        .hint("Give one weight per variant, summing to 1, or NULL for equal weights.")),
    }
}

/// Whether GrowthBook uses `weights` as given: one per variant, summing to 1 ± 0.01 (otherwise it
/// falls back to equal weights).
fn weights_apply(n: usize, weights: Option<&[f64]>) -> Option<&[f64]> {
    weights.filter(|w| w.len() == n && (0.99..=1.01).contains(&w.iter().sum::<f64>()))
}

/// The (start, end) of each variant's range, lazily, with GrowthBook's float operations.
fn ranges(n: usize, coverage: f64, weights: Option<&[f64]>) -> impl Iterator<Item = (f64, f64)> + '_ {
    let given = weights_apply(n, weights);
    let equal = 1.0 / n as f64;
    let mut cumulative = 0.0;
    (0..n).map(move |i| {
        let w = given.map_or(equal, |g| g[i]);
        let start = cumulative;
        cumulative += w;
        (start, start + coverage * w)
    })
}

/// GrowthBook's `getBucketRanges`: variant `i` gets `[c_i, c_i + coverage · w_i)` where `c_i` is
/// the cumulative weight before it. Errors for coverage outside [0, 1] or negative weights.
pub fn bucket_ranges(n: usize, coverage: f64, weights: Option<&[f64]>) -> Result<Vec<(f64, f64)>> {
    check_variant_count(n)?;
    check_coverage(coverage)?;
    if let Some(w) = weights {
        check_weights(w)?;
    }
    Ok(ranges(n, coverage, weights).collect())
}

/// GrowthBook's `chooseVariation`: the range holding `bucket`, or `None`.
pub fn choose_variation(bucket: f64, ranges: &[(f64, f64)]) -> Option<usize> {
    ranges.iter().position(|&(start, end)| bucket >= start && bucket < end)
}

/// GrowthBook's `inNamespace`: hash v1 of seed `"__" + namespace` in `[start, end)`.
pub fn in_namespace(unit_id: &str, namespace: &str, start: f64, end: f64) -> bool {
    let seed = format!("__{namespace}");
    ab_hash(&seed, unit_id, 1).is_some_and(|h| h >= start && h < end)
}

/// Checks a namespace range: within [0, 1] and not ending before it starts.
pub fn check_namespace_range(start: f64, end: f64) -> Result<()> {
    if (0.0..=1.0).contains(&start) && (0.0..=1.0).contains(&end) && start <= end {
        Ok(())
    } else {
        Err(PulseError::invalid(format!(
            "namespace range [{start}, {end}) must be within [0, 1] and not end before it starts"
        ))
        .hint("Give the share of the namespace the experiment takes, for example 0 and 0.5."))
    }
}

/// The unknown-version error of assignment functions (ab_hash itself returns NULL instead).
pub fn check_hash_version(hash_version: i32) -> Result<()> {
    if matches!(hash_version, 1 | 2) {
        Ok(())
    } else {
        Err(PulseError::invalid(format!("unknown hash_version {hash_version}"))
            .hint("Use 2 (GrowthBook's current hash) or 1 (its legacy hash)."))
    }
}

/// The variant index for `unit_id`, or `None` when it is not in the experiment: empty unit id,
/// fewer than 2 variants, or a bucket outside every range (coverage).
pub fn assign(
    unit_id: &str,
    n_variants: usize,
    weights: Option<&[f64]>,
    seed: &str,
    coverage: f64,
    hash_version: i32,
) -> Result<Option<usize>> {
    check_hash_version(hash_version)?;
    check_coverage(coverage)?;
    if let Some(w) = weights {
        check_weights(w)?;
    }
    if unit_id.is_empty() || n_variants < 2 {
        return Ok(None);
    }
    let Some(bucket) = ab_hash(seed, unit_id, hash_version) else { return Ok(None) };
    // No allocation per call: this runs once per row over millions of units.
    Ok(ranges(n_variants, coverage, weights).position(|(start, end)| bucket >= start && bucket < end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a32_reference_values() {
        // Landon Curt Noll's FNV test suite.
        assert_eq!(fnv1a32(""), 0x811c_9dc5);
        assert_eq!(fnv1a32("a"), 0xe40c_292c);
        assert_eq!(fnv1a32("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn growthbook_v1_cases() {
        // growthbook/packages/sdk-js/test/cases.json, "hash": [seed, value, version, expected].
        let cases = [
            ("", "a", 0.22),
            ("", "b", 0.077),
            ("b", "a", 0.946),
            ("ef", "d", 0.652),
            ("asdf", "8952klfjas09ujk", 0.549),
            ("", "123", 0.011),
            ("", "___)((*\":&", 0.563),
        ];
        for (seed, value, expected) in cases {
            assert_eq!(ab_hash(seed, value, 1), Some(expected), "v1 {seed:?} {value:?}");
        }
    }

    #[test]
    fn growthbook_v2_cases() {
        let cases = [
            ("seed", "a", 0.0505),
            ("seed", "b", 0.2696),
            ("foo", "ab", 0.2575),
            ("foo", "def", 0.2019),
            ("89123klj", "8952klfjas09ujkasdf", 0.124),
            ("90850943850283058242805", "123", 0.7516),
            ("()**(%$##$%#$#", "___)((*\":&", 0.0128),
            // GrowthBook's documentation example.
            ("feature", "123", 0.5231),
        ];
        for (seed, value, expected) in cases {
            assert_eq!(ab_hash(seed, value, 2), Some(expected), "v2 {seed:?} {value:?}");
        }
    }

    #[test]
    fn hashes_code_points_not_utf8_bytes() {
        // Reference values from the GrowthBook Python SDK algorithm (ord() per character):
        //   h = 0x811c9dc5; for c in s: h = ((h ^ ord(c)) * 0x01000193) % 2**32
        assert_eq!(fnv1a32("é"), 0x6c0b_6c44);
        // Hashing the UTF-8 bytes (0xc3 0xa9) instead would give 0x1e9de8c1.
        assert_ne!(fnv1a32("é"), 0x1e9d_e8c1);
        assert_eq!(fnv1a32("😀"), 0x0650_a71f);
        assert_eq!(ab_hash("exp-1", "用户-42", 2), Some(0.8753));
        assert_eq!(ab_hash("exp-1", "用户-42", 1), Some(0.662));
        assert_eq!(ab_hash("", "😀", 2), Some(0.5359));
    }

    /// GrowthBook's SDK test cases (growthbook_cases.json, transcribed from sdk-js cases.json).
    fn cases() -> serde_json::Value {
        serde_json::from_str(include_str!("growthbook_cases.json")).unwrap()
    }

    fn f(v: &serde_json::Value) -> f64 {
        v.as_f64().unwrap()
    }

    fn floats(v: &serde_json::Value) -> Option<Vec<f64>> {
        v.as_array().map(|a| a.iter().map(f).collect())
    }

    #[test]
    fn growthbook_hash_cases() {
        for case in cases()["hash"].as_array().unwrap() {
            let (seed, value, version) =
                (case[0].as_str().unwrap(), case[1].as_str().unwrap(), case[2].as_i64().unwrap());
            assert_eq!(ab_hash(seed, value, version as i32), case[3].as_f64(), "{case}");
        }
    }

    #[test]
    fn growthbook_bucket_range_cases() {
        let mut checked = 0;
        for case in cases()["getBucketRange"].as_array().unwrap() {
            let (n, coverage) = (case["num_variations"].as_u64().unwrap() as usize, f(&case["coverage"]));
            let weights = floats(&case["weights"]);
            let got = bucket_ranges(n, coverage, weights.as_deref());
            if !(0.0..=1.0).contains(&coverage) {
                // Deliberate difference: GrowthBook clamps coverage, Pulse refuses it.
                assert!(got.is_err(), "{case}");
                continue;
            }
            let got = got.unwrap();
            let want: Vec<(f64, f64)> =
                case["expected"].as_array().unwrap().iter().map(|r| (f(&r[0]), f(&r[1]))).collect();
            assert_eq!(got.len(), want.len(), "{case}");
            // The JS suite rounds both sides to 8 decimals (0.1 + 0.2 style sums).
            for (g, w) in got.iter().zip(&want) {
                assert!((g.0 - w.0).abs() < 1e-8 && (g.1 - w.1).abs() < 1e-8, "{case}: {got:?}");
            }
            checked += 1;
        }
        assert!(checked >= 10);
    }

    #[test]
    fn growthbook_choose_variation_cases() {
        for case in cases()["chooseVariation"].as_array().unwrap() {
            let ranges: Vec<(f64, f64)> =
                case["ranges"].as_array().unwrap().iter().map(|r| (f(&r[0]), f(&r[1]))).collect();
            let want = case["expected"].as_i64().unwrap();
            let got = choose_variation(f(&case["n"]), &ranges).map_or(-1, |i| i as i64);
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn growthbook_namespace_and_equal_weight_cases() {
        for case in cases()["inNamespace"].as_array().unwrap() {
            let got = in_namespace(
                case["id"].as_str().unwrap(),
                case["namespace"].as_str().unwrap(),
                f(&case["range_start"]),
                f(&case["range_end"]),
            );
            assert_eq!(got, case["expected"].as_bool().unwrap(), "{case}");
        }
        for case in cases()["getEqualWeights"].as_array().unwrap() {
            let n = case["n"].as_i64().unwrap().max(0) as usize;
            let want = floats(&case["expected"]).unwrap();
            let got = equal_weights(n);
            assert_eq!(got.len(), want.len());
            assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-8), "{case}");
        }
    }

    #[test]
    fn growthbook_run_cases() {
        let cases = cases();
        let runs = cases["run"].as_array().unwrap();
        assert!(runs.len() >= 40);
        for case in runs {
            let unit = case["unit_id"].as_str().unwrap();
            let key = case["key"].as_str().unwrap();
            // The SDK's defaults: seed = key (also for an empty seed), hash version 1, coverage 1.
            let seed = case["seed"].as_str().filter(|s| !s.is_empty()).unwrap_or(key);
            let version = case["hash_version"].as_i64().filter(|v| *v != 0).unwrap_or(1) as i32;
            let coverage = case["coverage"].as_f64().unwrap_or(1.0);
            let weights = floats(&case["weights"]);
            let n = case["num_variations"].as_u64().unwrap() as usize;
            let in_ns = match case["namespace"].as_array() {
                Some(ns) => in_namespace(unit, ns[0].as_str().unwrap(), f(&ns[1]), f(&ns[2])),
                None => true,
            };
            let got = if in_ns { assign(unit, n, weights.as_deref(), seed, coverage, version).unwrap() } else { None };
            let want = case["expected_index"].as_u64().map(|i| i as usize);
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn unknown_versions_are_none() {
        for v in [0, 3, -1, i32::MAX] {
            assert_eq!(ab_hash("seed", "a", v), None);
        }
    }
}
