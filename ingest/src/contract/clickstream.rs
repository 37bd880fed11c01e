//! The `clickstream` topic: storefront events v1, keyed by session id, landed in `raw.clickstream`.
use super::{check_header, check_texts, check_time, Family, Limits, Rejection};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::{ToSql, Type};

pub const EVENT_TYPES: [&str; 5] = ["page_view", "product_view", "search", "add_to_cart", "checkout_start"];
pub const EVENT_VERSION: i32 = 1;

/// One storefront interaction. `customer_id` is absent for anonymous visitors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickEvent {
    pub event_type: String,
    pub event_version: i32,
    /// Unique per event; producers retrying a send reuse it.
    pub event_id: String,
    pub session_id: String,
    pub customer_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// Page path, e.g. `/p/sku-123`.
    pub page: Option<String>,
    /// Required for product_view and add_to_cart.
    pub product_id: Option<String>,
    /// Required for search.
    pub query: Option<String>,
    /// Required (> 0) for add_to_cart, absent otherwise.
    pub quantity: Option<i32>,
    pub device: Option<String>,
    pub ip_country: Option<String>,
}

pub const COLUMNS: [(&str, Type); 12] = [
    ("event_id", Type::TEXT),
    ("event_type", Type::TEXT),
    ("session_id", Type::TEXT),
    ("customer_id", Type::TEXT),
    ("occurred_at", Type::TIMESTAMPTZ),
    ("page", Type::TEXT),
    ("product_id", Type::TEXT),
    ("query", Type::TEXT),
    ("quantity", Type::INT4),
    ("device", Type::TEXT),
    ("ip_country", Type::TEXT),
    ("event_version", Type::INT4),
];

impl ClickEvent {
    pub fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.event_id,
            &self.event_type,
            &self.session_id,
            &self.customer_id,
            &self.occurred_at,
            &self.page,
            &self.product_id,
            &self.query,
            &self.quantity,
            &self.device,
            &self.ip_country,
            &self.event_version,
        ]
    }
}

pub(super) fn validate(e: ClickEvent, limits: &Limits, now: DateTime<Utc>) -> Result<ClickEvent, Rejection> {
    check_header(Family::Clickstream, &e.event_type, e.event_version, EVENT_VERSION)?;
    check_texts(
        [("event_id", e.event_id.as_str()), ("session_id", e.session_id.as_str())],
        [&e.customer_id, &e.page, &e.product_id, &e.query, &e.device, &e.ip_country],
    )?;
    let needs_product = matches!(e.event_type.as_str(), "product_view" | "add_to_cart");
    if needs_product && e.product_id.as_deref().is_none_or(str::is_empty) {
        return Err(Rejection::violation(format!("{} needs a product_id", e.event_type)));
    }
    if e.event_type == "search" && e.query.as_deref().is_none_or(str::is_empty) {
        return Err(Rejection::violation("search needs a query"));
    }
    match (e.event_type.as_str(), e.quantity) {
        ("add_to_cart", Some(q)) if q > 0 => {}
        ("add_to_cart", q) => return Err(Rejection::violation(format!("add_to_cart needs quantity > 0, got {q:?}"))),
        (_, Some(_)) => return Err(Rejection::violation(format!("{} has no quantity", e.event_type))),
        _ => {}
    }
    check_time("occurred_at", e.occurred_at, limits, now)?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Event;
    use super::*;

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "event_type": "add_to_cart", "event_version": 1, "event_id": "e-1", "session_id": "s-1",
            "customer_id": null, "occurred_at": "2026-11-21T11:00:00Z", "page": "/p/sku-1",
            "product_id": "sku-1", "query": null, "quantity": 2, "device": "mobile", "ip_country": "DE"
        })
    }

    fn code(v: &serde_json::Value) -> &'static str {
        code_of(Family::Clickstream, v)
    }

    #[test]
    fn valid_events_decode() {
        let Event::Click(e) = decode_json(Family::Clickstream, &valid()).unwrap() else { panic!() };
        assert_eq!((e.quantity, e.values().len()), (Some(2), COLUMNS.len()));
        let mut v = valid();
        v["event_type"] = "search".into();
        v["query"] = "red shoes".into();
        v["quantity"] = serde_json::Value::Null;
        v["product_id"] = serde_json::Value::Null;
        assert!(decode_json(Family::Clickstream, &v).is_ok());
    }

    #[test]
    fn each_rule_is_enforced() {
        let mut v = valid();
        v["event_type"] = "purchase".into();
        assert_eq!(code(&v), "unknown_event_type");
        let mut v = valid();
        v["quantity"] = 0.into();
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["product_id"] = serde_json::Value::Null;
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["event_type"] = "search".into();
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["event_type"] = "page_view".into();
        assert_eq!(code(&v), "contract_violation", "page_view with a quantity");
        let mut v = valid();
        v["session_id"] = "".into();
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["occurred_at"] = "2031-01-01T00:00:00Z".into();
        assert_eq!(code(&v), "absurd_timestamp");
    }
}
