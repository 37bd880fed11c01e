//! Versioned event contracts and their validation. A message that fails any check becomes a
//! dead letter with a stable error code instead of stopping ingestion.
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

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

/// Why a message was dead-lettered. `code` is stable; dashboards and alerts key on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

impl Rejection {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Rejection { code, message: message.into() }
    }
}

/// Limits applied before a payload is parsed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_payload_bytes: usize,
    /// Events older than this, relative to ingest time, are rejected as absurd.
    pub max_age: Duration,
    /// Events further than this in the future are rejected as absurd (clock skew allowance).
    pub max_future: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_payload_bytes: 1 << 20, max_age: Duration::days(3 * 366), max_future: Duration::days(1) }
    }
}

/// Decodes and validates one `orders` message payload.
pub fn decode_order(payload: Option<&[u8]>, limits: &Limits, now: DateTime<Utc>) -> Result<OrderRow, Rejection> {
    let bytes = payload.ok_or_else(|| Rejection::new("missing_payload", "message has no payload (tombstone)"))?;
    if bytes.len() > limits.max_payload_bytes {
        return Err(Rejection::new(
            "oversize_payload",
            format!("payload is {} bytes, limit is {}", bytes.len(), limits.max_payload_bytes),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Rejection::new("invalid_utf8", format!("payload is not valid UTF-8: {e}")))?;
    let event: OrderEvent = serde_json::from_str(text).map_err(|e| classify_json_error(text, e))?;
    validate(event, limits, now)
}

fn classify_json_error(text: &str, e: serde_json::Error) -> Rejection {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Rejection::new("malformed_json", format!("payload is not JSON: {e}"))
        }
        Category::Data => {
            // Only on the error path: look at event_type to tell a foreign event from a broken one.
            let event_type = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("event_type").and_then(|t| t.as_str()).map(str::to_owned));
            match event_type {
                Some(t) if t != ORDER_EVENT_TYPE => {
                    Rejection::new("unknown_event_type", format!("unknown event type \"{t}\" on the orders topic"))
                }
                _ => Rejection::new("contract_violation", format!("order event does not match contract v1: {e}")),
            }
        }
    }
}

fn validate(event: OrderEvent, limits: &Limits, now: DateTime<Utc>) -> Result<OrderRow, Rejection> {
    let violation = |m: String| Rejection::new("contract_violation", m);
    if event.event_type != ORDER_EVENT_TYPE {
        return Err(Rejection::new(
            "unknown_event_type",
            format!("unknown event type \"{}\" on the orders topic", event.event_type),
        ));
    }
    if event.event_version != ORDER_EVENT_VERSION {
        return Err(violation(format!("unsupported event_version {}", event.event_version)));
    }
    // PostgreSQL text cannot hold NUL; catching it here keeps such events out of the slow path.
    let texts = [&event.order_id, &event.customer_id, &event.currency, &event.payment_method];
    let optional = [
        &event.card_fingerprint,
        &event.ip_country,
        &event.shipping_country,
        &event.billing_country,
        &event.device,
        &event.email_domain,
    ];
    if texts.into_iter().chain(optional.into_iter().flatten()).any(|t| t.contains('\0')) {
        return Err(violation("text fields must not contain NUL characters".into()));
    }
    if event.order_id.is_empty() || event.customer_id.is_empty() {
        return Err(violation("order_id and customer_id must not be empty".into()));
    }
    let amount_text = event.amount.to_string();
    let amount = Decimal::from_str(&amount_text)
        .or_else(|_| Decimal::from_scientific(&amount_text))
        .map_err(|_| violation(format!("amount {amount_text} is not a decimal number")))?;
    if amount.is_sign_negative() || amount.normalize().scale() > 2 || amount >= Decimal::from(10_000_000_000i64) {
        return Err(violation(format!(
            "amount {amount_text} must be >= 0 with at most 2 decimals and 10 integer digits"
        )));
    }
    if event.currency.len() != 3 || !event.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(violation(format!("currency \"{}\" is not an ISO 4217 code", event.currency)));
    }
    if event.items <= 0 {
        return Err(violation(format!("items must be positive, got {}", event.items)));
    }
    if event.created_at < now - limits.max_age || event.created_at > now + limits.max_future {
        return Err(Rejection::new(
            "absurd_timestamp",
            format!(
                "created_at {} is outside [now - {} days, now + {} days]",
                event.created_at.to_rfc3339(),
                limits.max_age.num_days(),
                limits.max_future.num_days()
            ),
        ));
    }
    Ok(OrderRow { event, amount })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-21T12:00:00Z".parse().unwrap()
    }

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "event_type": "order_created", "event_version": 1, "order_id": "o-1", "customer_id": "c-1",
            "created_at": "2026-11-20T10:00:00.123Z", "amount": 123.45, "currency": "EUR", "items": 2,
            "payment_method": "card", "card_fingerprint": "fp-1", "ip_country": "DE",
            "shipping_country": "DE", "billing_country": "DE", "device": "mobile", "email_domain": "example.com"
        })
    }

    fn decode(v: &serde_json::Value) -> Result<OrderRow, Rejection> {
        decode_order(Some(v.to_string().as_bytes()), &Limits::default(), now())
    }

    fn code_of(v: &serde_json::Value) -> &'static str {
        decode(v).unwrap_err().code
    }

    #[test]
    fn valid_event_decodes_with_exact_amount() {
        let row = decode(&valid()).unwrap();
        assert_eq!(row.amount, Decimal::new(12345, 2));
        assert_eq!(row.event.created_at.timestamp_millis(), 1_795_168_800_123);
    }

    #[test]
    fn each_failure_has_its_code() {
        let limits = Limits::default();
        assert_eq!(decode_order(None, &limits, now()).unwrap_err().code, "missing_payload");
        assert_eq!(decode_order(Some(b"{not json"), &limits, now()).unwrap_err().code, "malformed_json");
        assert_eq!(decode_order(Some(&[0xff, 0xfe]), &limits, now()).unwrap_err().code, "invalid_utf8");
        let big = vec![b' '; limits.max_payload_bytes + 1];
        assert_eq!(decode_order(Some(&big), &limits, now()).unwrap_err().code, "oversize_payload");

        let mut v = valid();
        v["event_type"] = "page_view".into();
        assert_eq!(code_of(&v), "unknown_event_type");
        let mut v = valid();
        v["unexpected"] = 1.into();
        assert_eq!(code_of(&v), "contract_violation");
        let mut v = valid();
        v["amount"] = serde_json::json!(-1.0);
        assert_eq!(code_of(&v), "contract_violation");
        let mut v = valid();
        v["amount"] = serde_json::json!(1.234);
        assert_eq!(code_of(&v), "contract_violation");
        let mut v = valid();
        v["currency"] = "eur".into();
        assert_eq!(code_of(&v), "contract_violation");
        let mut v = valid();
        v["device"] = "mob\u{0}ile".into();
        assert_eq!(code_of(&v), "contract_violation");
        let mut v = valid();
        v["items"] = 0.into();
        assert_eq!(code_of(&v), "contract_violation");
        let mut v = valid();
        v["created_at"] = "1970-01-01T00:00:00Z".into();
        assert_eq!(code_of(&v), "absurd_timestamp");
        let mut v = valid();
        v["created_at"] = "2026-11-23T12:00:01Z".into();
        assert_eq!(code_of(&v), "absurd_timestamp");
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
