//! Features: windowed aggregates (moments, time decay, distinct counts) and scalar encodings.
pub mod core;
mod sql;
