//! The `orders` topic: `order_created` v1, keyed by customer id, landed in `raw.orders`.
use super::{check_currency, check_header, check_texts, check_time, money, Family, Limits, Rejection};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::types::{ToSql, Type};

/// The `orders` topic carries `order_created` events, version 1.
pub const ORDER_EVENT_TYPE: &str = "order_created";
pub const ORDER_EVENT_VERSION: i32 = 1;

/// An order event as produced to Kafka (JSON, keyed by customer id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderEvent {
    pub event_type: String,
    pub event_version: i32,
    pub order_id: String,
    pub customer_id: String,
    pub created_at: DateTime<Utc>,
    /// Order total in `currency`, at most two decimals.
    pub amount: serde_json::Number,
    /// ISO 4217 code, three upper-case letters.
    pub currency: String,
    pub items: i32,
    pub payment_method: String,
    pub card_fingerprint: Option<String>,
    pub ip_country: Option<String>,
    pub shipping_country: Option<String>,
    pub billing_country: Option<String>,
    pub device: Option<String>,
    pub email_domain: Option<String>,
}

/// A validated order, ready for `raw.orders`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRow {
    pub event: OrderEvent,
    pub amount: Decimal,
}

/// raw.orders contract columns and their wire types, in the order of `values`.
pub const COLUMNS: [(&str, Type); 14] = [
    ("order_id", Type::TEXT),
    ("customer_id", Type::TEXT),
    ("created_at", Type::TIMESTAMPTZ),
    ("amount", Type::NUMERIC),
    ("currency", Type::TEXT),
    ("items", Type::INT4),
    ("payment_method", Type::TEXT),
    ("card_fingerprint", Type::TEXT),
    ("ip_country", Type::TEXT),
    ("shipping_country", Type::TEXT),
    ("billing_country", Type::TEXT),
    ("device", Type::TEXT),
    ("email_domain", Type::TEXT),
    ("event_version", Type::INT4),
];

impl OrderRow {
    pub fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        let e = &self.event;
        vec![
            &e.order_id,
            &e.customer_id,
            &e.created_at,
            &self.amount,
            &e.currency,
            &e.items,
            &e.payment_method,
            &e.card_fingerprint,
            &e.ip_country,
            &e.shipping_country,
            &e.billing_country,
            &e.device,
            &e.email_domain,
            &e.event_version,
        ]
    }
}

pub(super) fn validate(event: OrderEvent, limits: &Limits, now: DateTime<Utc>) -> Result<OrderRow, Rejection> {
    check_header(Family::Orders, &event.event_type, event.event_version, ORDER_EVENT_VERSION)?;
    check_texts(
        [
            ("order_id", event.order_id.as_str()),
            ("customer_id", event.customer_id.as_str()),
            ("payment_method", event.payment_method.as_str()),
        ],
        [
            &event.card_fingerprint,
            &event.ip_country,
            &event.shipping_country,
            &event.billing_country,
            &event.device,
            &event.email_domain,
        ],
    )?;
    let amount = money("amount", &event.amount)?;
    check_currency(&event.currency)?;
    if event.items <= 0 {
        return Err(Rejection::violation(format!("items must be positive, got {}", event.items)));
    }
    check_time("created_at", event.created_at, limits, now)?;
    Ok(OrderRow { event, amount })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Event;
    use super::*;

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "event_type": "order_created", "event_version": 1, "order_id": "o-1", "customer_id": "c-1",
            "created_at": "2026-11-20T10:00:00.123Z", "amount": 123.45, "currency": "EUR", "items": 2,
            "payment_method": "card", "card_fingerprint": "fp-1", "ip_country": "DE",
            "shipping_country": "DE", "billing_country": "DE", "device": "mobile", "email_domain": "example.com"
        })
    }

    fn decode(v: &serde_json::Value) -> Result<OrderRow, Rejection> {
        match decode_json(Family::Orders, v)? {
            Event::Order(r) => Ok(r),
            other => panic!("not an order: {other:?}"),
        }
    }

    fn code(v: &serde_json::Value) -> &'static str {
        code_of(Family::Orders, v)
    }

    #[test]
    fn valid_event_decodes_with_exact_amount() {
        let row = decode(&valid()).unwrap();
        assert_eq!(row.amount, Decimal::new(12345, 2));
        assert_eq!(row.event.created_at.timestamp_millis(), 1_795_168_800_123);
        assert_eq!(row.values().len(), COLUMNS.len());
    }

    #[test]
    fn each_failure_has_its_code() {
        let mut v = valid();
        v["event_type"] = "page_view".into();
        assert_eq!(code(&v), "unknown_event_type");
        let mut v = valid();
        v["unexpected"] = 1.into();
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["event_version"] = 2.into();
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["amount"] = serde_json::json!(-1.0);
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["amount"] = serde_json::json!(1.234);
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["currency"] = "eur".into();
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["device"] = "mob\u{0}ile".into();
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["order_id"] = "".into();
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["items"] = 0.into();
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["created_at"] = "1970-01-01T00:00:00Z".into();
        assert_eq!(code(&v), "absurd_timestamp");
        let mut v = valid();
        v["created_at"] = "2026-11-23T12:00:01Z".into();
        assert_eq!(code(&v), "absurd_timestamp");
    }

    #[test]
    fn integral_amounts_are_accepted() {
        let mut v = valid();
        v["amount"] = serde_json::json!(100);
        assert_eq!(decode(&v).unwrap().amount, Decimal::new(100, 0));
        v["amount"] = serde_json::json!(100.0);
        assert_eq!(decode(&v).unwrap().amount, Decimal::new(100, 0));
    }
}
