//! Models: training in the database (smartcore), a versioned registry, deployments with
//! champion/canary/shadow roles, scoring with a per-backend cache, and the decision log.
pub mod core;
pub mod decisions;
pub mod registry;
pub mod serve;
