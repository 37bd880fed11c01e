//! Pulse: real-time e-commerce data and machine learning inside PostgreSQL.
//!
//! One folder per capability: `core.rs` holds the pure-Rust maths (tested with plain
//! `#[test]`s), `sql.rs` the thin `#[pg_extern]` layer. User-facing functions install into
//! the schema given to `CREATE EXTENSION`; catalog tables live in schema `pulse`.
use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod aggregate;
pub mod drift;
pub mod error;
pub mod experiments;
pub mod features;
pub mod models;

/// Runs once per backend when the library loads: defines the `pulse.*` settings.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    models::serve::init_gucs();
}

// Catalog tables of later capabilities (models, deployments, experiments, monitors) go in
// schema `pulse`, whatever schema the functions are installed into.
extension_sql!(
    r#"
create schema if not exists pulse;
comment on schema pulse is 'pulse catalog: models, deployments, experiments, monitors';
"#,
    name = "bootstrap",
    bootstrap
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn catalog_schema_exists() {
        let n = Spi::get_one::<i64>("select count(*) from pg_namespace where nspname = 'pulse'");
        assert_eq!(n, Ok(Some(1)));
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
