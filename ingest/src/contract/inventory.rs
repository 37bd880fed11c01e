//! The `inventory` topic: stock changes v1, keyed by product id, landed in `raw.inventory`.
use super::{check_header, check_texts, check_time, Family, Limits, Rejection};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::{ToSql, Type};

pub const EVENT_TYPE: &str = "stock_changed";
pub const EVENT_VERSION: i32 = 1;
pub const REASONS: [&str; 4] = ["restock", "sale", "return", "adjustment"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryEvent {
    pub event_type: String,
    pub event_version: i32,
    pub event_id: String,
    pub product_id: String,
    pub occurred_at: DateTime<Utc>,
    /// Units added (> 0) or removed (< 0); never 0.
    pub delta: i32,
    /// One of restock, sale, return, adjustment.
    pub reason: String,
    /// Units on hand after the change, >= 0.
    pub stock_after: i32,
}

pub const COLUMNS: [(&str, Type); 7] = [
    ("event_id", Type::TEXT),
    ("product_id", Type::TEXT),
    ("occurred_at", Type::TIMESTAMPTZ),
    ("delta", Type::INT4),
    ("reason", Type::TEXT),
    ("stock_after", Type::INT4),
    ("event_version", Type::INT4),
];

impl InventoryEvent {
    pub fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.event_id,
            &self.product_id,
            &self.occurred_at,
            &self.delta,
            &self.reason,
            &self.stock_after,
            &self.event_version,
        ]
    }
}

pub(super) fn validate(e: InventoryEvent, limits: &Limits, now: DateTime<Utc>) -> Result<InventoryEvent, Rejection> {
    check_header(Family::Inventory, &e.event_type, e.event_version, EVENT_VERSION)?;
    check_texts([("event_id", e.event_id.as_str()), ("product_id", e.product_id.as_str())], [])?;
    if !REASONS.contains(&e.reason.as_str()) {
        return Err(Rejection::violation(format!("reason \"{}\" is not one of {REASONS:?}", e.reason)));
    }
    if e.delta == 0 || e.stock_after < 0 {
        return Err(Rejection::violation(format!(
            "delta must be non-zero and stock_after >= 0, got delta {} stock_after {}",
            e.delta, e.stock_after
        )));
    }
    check_time("occurred_at", e.occurred_at, limits, now)?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "event_type": "stock_changed", "event_version": 1, "event_id": "i-1", "product_id": "sku-1",
            "occurred_at": "2026-11-21T11:00:00Z", "delta": -2, "reason": "sale", "stock_after": 40
        })
    }

    #[test]
    fn rules() {
        assert!(decode_json(Family::Inventory, &valid()).is_ok());
        for (field, value) in [("delta", 0.into()), ("stock_after", (-1).into()), ("reason", "theft".into())] {
            let mut v = valid();
            v[field] = value;
            assert_eq!(code_of(Family::Inventory, &v), "contract_violation", "{field}");
        }
        let mut v = valid();
        v["delta"] = serde_json::json!(1.5);
        assert_eq!(code_of(Family::Inventory, &v), "contract_violation");
    }
}
