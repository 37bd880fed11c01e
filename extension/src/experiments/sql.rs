//! SQL wrappers for experiment assignment (statistics in `sql/stats.rs`, the registry in
//! `registry.sql`).
use super::core as assignment;
use crate::error::{OrRaise, PulseError};
use pgrx::prelude::*;

mod assign;
mod stats;

/// GrowthBook-compatible bucket in [0, 1) for `unit_id` under `seed`; NULL for unknown versions.
#[pg_extern(immutable, strict, parallel_safe)]
fn ab_hash(seed: &str, unit_id: &str, hash_version: default!(i32, 2)) -> Option<f64> {
    assignment::ab_hash(seed, unit_id, hash_version)
}

extension_sql_file!(
    "registry.sql",
    name = "experiments_catalog",
    requires = ["bootstrap", "ab_assign_comments", ab_in_namespace, ab_hash, ab_equal_weights, "ab_compare_sql"]
);

/// The weights of a float8[] argument as a slice; NULL elements are an error.
fn weights_slice<'a>(weights: &'a Array<'a, f64>, function: &'static str) -> &'a [f64] {
    weights.as_slice().unwrap_or_else(|_| {
        PulseError::new(crate::error::Kind::NullValue, "weights cannot contain NULL")
            .hint("Give one weight per variant, or NULL for equal weights.")
            .raise(function)
    })
}

/// GrowthBook namespaces: whether `unit_id` falls in [range_start, range_end) of `namespace`.
#[pg_extern(immutable, strict, parallel_safe)]
fn ab_in_namespace(unit_id: &str, namespace: &str, range_start: f64, range_end: f64) -> bool {
    assignment::check_namespace_range(range_start, range_end).or_raise("ab_in_namespace");
    assignment::in_namespace(unit_id, namespace, range_start, range_end)
}

/// GrowthBook's bucket ranges: one row per variant with its [range_start, range_end).
#[pg_extern(immutable, parallel_safe)]
fn ab_bucket_ranges(
    variants: i32,
    coverage: default!(f64, 1.0),
    weights: default!(Option<Array<f64>>, "NULL"),
) -> TableIterator<'static, (name!(variant, i32), name!(range_start, f64), name!(range_end, f64))> {
    if variants < 0 {
        PulseError::invalid(format!("variants must not be negative, got {variants}"))
            .hint("Pass the number of variants.")
            .raise("ab_bucket_ranges");
    }
    let weights = weights.as_ref().map(|w| weights_slice(w, "ab_bucket_ranges"));
    let ranges = assignment::bucket_ranges(variants as usize, coverage, weights).or_raise("ab_bucket_ranges");
    TableIterator::new(ranges.into_iter().enumerate().map(|(i, (a, b))| (i as i32, a, b)))
}

/// GrowthBook's equal weights: `variants` weights of 1 / variants.
#[pg_extern(immutable, strict, parallel_safe)]
fn ab_equal_weights(variants: i32) -> Vec<f64> {
    let n = variants.max(0) as usize;
    assignment::check_variant_count(n).or_raise("ab_equal_weights");
    assignment::equal_weights(n)
}

extension_sql!(
    r#"
comment on function ab_hash(text, text, integer) is
'GrowthBook-compatible FNV-1a 32 bucket in [0, 1) for unit_id under seed. hash_version 2 (default): fnv1a32(decimal string of fnv1a32(seed || unit_id)) mod 10000 / 10000; 1: fnv1a32(unit_id || seed) mod 1000 / 1000; other versions return NULL. Hashes Unicode code points, like the GrowthBook SDKs.';
"#,
    name = "ab_hash_comment",
    requires = [ab_hash]
);

extension_sql!(
    r#"
create function ab_assign(unit_id text, variants text[], weights double precision[] default null,
                          seed text default '', coverage double precision default 1, hash_version integer default 2)
returns text language c immutable parallel safe as 'MODULE_PATHNAME', 'ab_assign_fast';
comment on function ab_assign(text, text[], double precision[], text, double precision, integer) is
'GrowthBook-compatible variant of unit_id: bucket = ab_hash(seed, unit_id, hash_version); variant i covers [c_i, c_i + coverage * w_i) where c_i is the sum of the weights before it. Weights that are NULL, of the wrong length or not summing to 1 +- 0.01 become equal weights. NULL when unit_id is empty, with fewer than 2 variants, or when the bucket falls outside coverage; NULL when unit_id, variants, seed, coverage or hash_version is NULL. Errors (22023): coverage outside [0, 1], a negative or non-finite weight, a hash_version other than 1 or 2; (22004) NULL elements.';
comment on function ab_in_namespace(text, text, double precision, double precision) is
'GrowthBook namespaces: true when ab_hash(''__'' || namespace, unit_id, 1) is in [range_start, range_end). Experiments in one namespace with disjoint ranges never share a unit. STRICT; 22023 when the range is not within [0, 1] or ends before it starts.';
comment on function ab_bucket_ranges(integer, double precision, double precision[]) is
'GrowthBook''s getBucketRanges: one row per variant (from 0) with its bucket range [range_start, range_end), as ab_assign uses them. Same weight rules and errors as ab_assign.';
comment on function ab_equal_weights(integer) is
'GrowthBook''s getEqualWeights: an array of n weights of 1 / n (empty for n <= 0).';
"#,
    name = "ab_assign_comments",
    requires = [ab_in_namespace, ab_bucket_ranges, ab_equal_weights]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn ab_hash_through_spi_uses_default_version() {
        let v = Spi::get_one::<f64>("select ab_hash('feature', '123')");
        assert_eq!(v, Ok(Some(0.5231)));
        let v1 = Spi::get_one::<f64>("select ab_hash('', '123', 1)");
        assert_eq!(v1, Ok(Some(0.011)));
        let none = Spi::get_one::<f64>("select ab_hash('seed', 'a', 99)");
        assert_eq!(none, Ok(None));
        let strict = Spi::get_one::<f64>("select ab_hash(null, 'a')");
        assert_eq!(strict, Ok(None));
    }

    #[pg_test]
    fn ab_hash_volatility_contract() {
        let flags = Spi::get_one::<String>(
            "select provolatile::text || proisstrict::text || proparallel::text
               from pg_proc where proname = 'ab_hash'",
        );
        assert_eq!(flags, Ok(Some("itrues".to_string())));
        let comment = Spi::get_one::<bool>(
            "select obj_description('ab_hash(text,text,integer)'::regprocedure, 'pg_proc') is not null",
        );
        assert_eq!(comment, Ok(Some(true)));
    }
}
