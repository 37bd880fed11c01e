//! Drift: column profiles as parallel aggregates, PSI/KS/chi-square/Jensen–Shannon/Wasserstein
//! comparisons, Evidently-style reports and scheduled monitors.
pub mod core;
mod sql;

use pgrx::prelude::*;

// drift_report and the monitor catalog are plain SQL over drift_profile_query and drift_test.
extension_sql_file!(
    "registry.sql",
    name = "drift_catalog",
    requires = ["bootstrap", "drift_profile_aggregates", "drift_comments", "drift_profile_query_comment"]
);
