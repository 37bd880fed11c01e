//! SQL wrappers for experiment assignment.
use pgrx::prelude::*;

/// GrowthBook-compatible bucket in [0, 1) for `unit_id` under `seed`; NULL for unknown versions.
#[pg_extern(immutable, strict, parallel_safe)]
fn ab_hash(seed: &str, unit_id: &str, hash_version: default!(i32, 2)) -> Option<f64> {
    super::core::ab_hash(seed, unit_id, hash_version)
}

extension_sql!(
    r#"
comment on function ab_hash(text, text, integer) is
'GrowthBook-compatible FNV-1a 32 bucket in [0, 1) for unit_id under seed. hash_version 2 (default): fnv1a32(decimal string of fnv1a32(seed || unit_id)) mod 10000 / 10000; 1: fnv1a32(unit_id || seed) mod 1000 / 1000; other versions return NULL. Hashes Unicode code points, like the GrowthBook SDKs.';
"#,
    name = "ab_hash_comment",
    requires = [ab_hash]
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
