//! Features: registry, online store and point-in-time training sets.
pub mod plan;
pub mod store;
mod training;
