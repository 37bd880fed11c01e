//! The `payments` topic: authorisations, declines and chargebacks v1, keyed by order id, landed in
//! `raw.payments`. Chargebacks arrive 1–60 days after the order and are the fraud label.
use super::{check_currency, check_header, check_texts, check_time, money, Family, Limits, Rejection};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::types::{ToSql, Type};

pub const EVENT_TYPES: [&str; 3] = ["payment_authorized", "payment_declined", "chargeback"];
pub const EVENT_VERSION: i32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentEvent {
    pub event_type: String,
    pub event_version: i32,
    /// Unique per payment event.
    pub payment_id: String,
    pub order_id: String,
    pub occurred_at: DateTime<Utc>,
    pub amount: serde_json::Number,
    pub currency: String,
    pub card_fingerprint: Option<String>,
    /// Required for payment_declined, e.g. `insufficient_funds`.
    pub decline_reason: Option<String>,
    /// Required for chargeback, e.g. `fraudulent`.
    pub chargeback_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRow {
    pub event: PaymentEvent,
    pub amount: Decimal,
}

pub const COLUMNS: [(&str, Type); 10] = [
    ("payment_id", Type::TEXT),
    ("event_type", Type::TEXT),
    ("order_id", Type::TEXT),
    ("occurred_at", Type::TIMESTAMPTZ),
    ("amount", Type::NUMERIC),
    ("currency", Type::TEXT),
    ("card_fingerprint", Type::TEXT),
    ("decline_reason", Type::TEXT),
    ("chargeback_reason", Type::TEXT),
    ("event_version", Type::INT4),
];

impl PaymentRow {
    pub fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        let e = &self.event;
        vec![
            &e.payment_id,
            &e.event_type,
            &e.order_id,
            &e.occurred_at,
            &self.amount,
            &e.currency,
            &e.card_fingerprint,
            &e.decline_reason,
            &e.chargeback_reason,
            &e.event_version,
        ]
    }
}

pub(super) fn validate(e: PaymentEvent, limits: &Limits, now: DateTime<Utc>) -> Result<PaymentRow, Rejection> {
    check_header(Family::Payments, &e.event_type, e.event_version, EVENT_VERSION)?;
    check_texts(
        [("payment_id", e.payment_id.as_str()), ("order_id", e.order_id.as_str())],
        [&e.card_fingerprint, &e.decline_reason, &e.chargeback_reason],
    )?;
    let amount = money("amount", &e.amount)?;
    check_currency(&e.currency)?;
    let has = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.is_empty());
    let (declined, chargeback) = (e.event_type == "payment_declined", e.event_type == "chargeback");
    if declined != has(&e.decline_reason) {
        return Err(Rejection::violation("decline_reason is required for payment_declined and only there"));
    }
    if chargeback != has(&e.chargeback_reason) {
        return Err(Rejection::violation("chargeback_reason is required for chargeback and only there"));
    }
    check_time("occurred_at", e.occurred_at, limits, now)?;
    Ok(PaymentRow { event: e, amount })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Event;
    use super::*;

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "event_type": "chargeback", "event_version": 1, "payment_id": "p-1", "order_id": "o-1",
            "occurred_at": "2026-11-01T00:00:00Z", "amount": 99.9, "currency": "EUR",
            "card_fingerprint": "fp-1", "decline_reason": null, "chargeback_reason": "fraudulent"
        })
    }

    fn code(v: &serde_json::Value) -> &'static str {
        code_of(Family::Payments, v)
    }

    #[test]
    fn valid_chargeback_decodes() {
        let Event::Payment(r) = decode_json(Family::Payments, &valid()).unwrap() else { panic!() };
        assert_eq!(r.amount, Decimal::new(999, 1));
        assert_eq!(r.values().len(), COLUMNS.len());
    }

    #[test]
    fn reasons_must_match_the_event_type() {
        let mut v = valid();
        v["chargeback_reason"] = serde_json::Value::Null;
        assert_eq!(code(&v), "contract_violation");
        let mut v = valid();
        v["event_type"] = "payment_authorized".into();
        assert_eq!(code(&v), "contract_violation", "an authorisation with a chargeback reason");
        v["chargeback_reason"] = serde_json::Value::Null;
        assert!(decode_json(Family::Payments, &v).is_ok());
        v["event_type"] = "payment_declined".into();
        assert_eq!(code(&v), "contract_violation");
        v["decline_reason"] = "insufficient_funds".into();
        assert!(decode_json(Family::Payments, &v).is_ok());
        v["event_type"] = "refund".into();
        assert_eq!(code(&v), "unknown_event_type");
        let mut v = valid();
        v["amount"] = serde_json::json!("99.90");
        assert_eq!(code(&v), "contract_violation", "amount as a string");
    }
}
