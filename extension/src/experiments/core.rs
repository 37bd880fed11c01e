//! GrowthBook-compatible hashing, pure Rust.
//!
//! GrowthBook's SDKs hash with 32-bit FNV-1a over the characters of a string. The Python SDK
//! uses each character's Unicode code point (`ord(c)`), which is what we follow; hashing UTF-8
//! bytes would give different buckets for any non-ASCII unit id. Hand-written because the
//! `fnv` crate hashes bytes and exposes only the 64-bit variant.

const FNV32_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// 32-bit FNV-1a over the Unicode code points of `s`.
pub fn fnv1a32(s: &str) -> u32 {
    s.chars().fold(FNV32_OFFSET_BASIS, |h, c| (h ^ c as u32).wrapping_mul(FNV32_PRIME))
}

fn fnv1a32_concat(a: &str, b: &str) -> u32 {
    b.chars().fold(fnv1a32(a), |h, c| (h ^ c as u32).wrapping_mul(FNV32_PRIME))
}

/// GrowthBook's `hash(seed, value, version)`: a number in [0, 1), or `None` for an unknown version.
///
/// - v1: `fnv1a32(value ‖ seed) mod 1000 / 1000` (legacy; correlates across experiments).
/// - v2: `fnv1a32(decimal(fnv1a32(seed ‖ value))) mod 10000 / 10000`.
pub fn ab_hash(seed: &str, unit_id: &str, hash_version: i32) -> Option<f64> {
    match hash_version {
        1 => Some(f64::from(fnv1a32_concat(unit_id, seed) % 1000) / 1000.0),
        2 => {
            let inner = fnv1a32_concat(seed, unit_id).to_string();
            Some(f64::from(fnv1a32(&inner) % 10_000) / 10_000.0)
        }
        _ => None,
    }
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

    #[test]
    fn unknown_versions_are_none() {
        for v in [0, 3, -1, i32::MAX] {
            assert_eq!(ab_hash("seed", "a", v), None);
        }
    }
}
