//! Experiments: GrowthBook-compatible deterministic bucketing (and, later, experiment statistics).
pub mod core;
mod sql;
