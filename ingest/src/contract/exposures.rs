//! The `exposures` topic: experiment exposures v1, keyed by unit id, landed in `raw.exposures`.
use super::{check_header, check_texts, check_time, Family, Limits, Rejection};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::{ToSql, Type};

pub const EVENT_TYPE: &str = "experiment_exposure";
pub const EVENT_VERSION: i32 = 1;

/// A unit (customer, session or device) saw a variant of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureEvent {
    pub event_type: String,
    pub event_version: i32,
    pub event_id: String,
    pub experiment_key: String,
    pub variant: String,
    pub unit_id: String,
    pub occurred_at: DateTime<Utc>,
    /// Where the assignment was made, e.g. `web`, `app`, `email`.
    pub source: Option<String>,
}

pub const COLUMNS: [(&str, Type); 7] = [
    ("event_id", Type::TEXT),
    ("experiment_key", Type::TEXT),
    ("variant", Type::TEXT),
    ("unit_id", Type::TEXT),
    ("occurred_at", Type::TIMESTAMPTZ),
    ("source", Type::TEXT),
    ("event_version", Type::INT4),
];

impl ExposureEvent {
    pub fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.event_id,
            &self.experiment_key,
            &self.variant,
            &self.unit_id,
            &self.occurred_at,
            &self.source,
            &self.event_version,
        ]
    }
}

pub(super) fn validate(e: ExposureEvent, limits: &Limits, now: DateTime<Utc>) -> Result<ExposureEvent, Rejection> {
    check_header(Family::Exposures, &e.event_type, e.event_version, EVENT_VERSION)?;
    check_texts(
        [
            ("event_id", e.event_id.as_str()),
            ("experiment_key", e.experiment_key.as_str()),
            ("variant", e.variant.as_str()),
            ("unit_id", e.unit_id.as_str()),
        ],
        [&e.source],
    )?;
    check_time("occurred_at", e.occurred_at, limits, now)?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn rules() {
        let v = serde_json::json!({
            "event_type": "experiment_exposure", "event_version": 1, "event_id": "x-1",
            "experiment_key": "ranking-v2", "variant": "treatment", "unit_id": "c-1",
            "occurred_at": "2026-11-21T11:00:00Z", "source": "web"
        });
        assert!(decode_json(Family::Exposures, &v).is_ok());
        let mut w = v.clone();
        w["variant"] = "".into();
        assert_eq!(code_of(Family::Exposures, &w), "contract_violation");
        let mut w = v.clone();
        w.as_object_mut().unwrap().remove("unit_id");
        assert_eq!(code_of(Family::Exposures, &w), "contract_violation");
    }
}
