//! Features: windowed aggregates (moments, time decay, distinct counts) and scalar encodings
//! (`core` + `sql`); the feature registry, online store and point-in-time training sets built on
//! them (`plan`, pure Rust SQL generation, + `store` and `training`, the SQL layer).
pub mod core;
pub mod plan;
mod sql;
pub mod store;
pub mod training;
