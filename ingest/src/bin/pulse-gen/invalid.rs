//! Malformed messages for dead-letter testing: a plausible event of the family, broken so the
//! ingester must reject it with one specific code.
use crate::generator::{cdc_key, envelope};
use crate::world::{money, timestamp};
use pulse_ingest::contract::{ClickEvent, Entity, ExposureEvent, Family, InventoryEvent, OrderEvent, PaymentEvent};
use serde_json::{json, Value};

/// Every code `build` can aim for, in the order --invalid cycles through them.
pub const CODES: [&str; 7] = [
    "malformed_json",
    "invalid_utf8",
    "unknown_event_type",
    "contract_violation",
    "absurd_timestamp",
    "missing_payload",
    "oversize_payload",
];

/// Oversize payloads are padded to this length: over a 4096-byte --max-payload-bytes, far under
/// the ingester's default limit (1 MiB), under which they are valid events.
pub const OVERSIZE_BYTES: usize = 8192;

/// A message of `family` the ingester must dead-letter with `code`; `id` keeps its ids apart
/// from real ones, `source` is the (LSN, txId) for CDC families. Returns key and payload.
pub fn build(family: Family, code: &str, id: &str, at_ms: i64, source: (i64, i64)) -> (Vec<u8>, Option<Vec<u8>>) {
    let (key, mut event) = sample(family, id, at_ms, source);
    let cdc = matches!(family, Family::CdcCustomers | Family::CdcProducts);
    let payload = match code {
        "missing_payload" => None,
        "malformed_json" => {
            // Cut off mid-object, as a producer crashing mid-write would leave it.
            let text = event.to_string();
            Some(text.as_bytes()[..text.len() / 2].to_vec())
        }
        "invalid_utf8" => {
            let mut bytes = event.to_string().into_bytes();
            let at = bytes.windows(id.len()).position(|w| w == id.as_bytes()).unwrap_or(0);
            bytes.splice(at..at, [0xff, 0xfe]);
            Some(bytes)
        }
        "unknown_event_type" => {
            if cdc {
                event["source"]["table"] = "orders".into();
            } else {
                event["event_type"] = foreign_event_type(family).into();
            }
            Some(event.to_string().into_bytes())
        }
        "contract_violation" => {
            break_contract(family, &mut event);
            Some(event.to_string().into_bytes())
        }
        "absurd_timestamp" => {
            let year_1999 = "1999-06-01T00:00:00Z";
            match family {
                Family::Orders => event["created_at"] = year_1999.into(),
                Family::CdcCustomers | Family::CdcProducts => event["source"]["ts_ms"] = 928_195_200_000i64.into(),
                _ => event["occurred_at"] = year_1999.into(),
            }
            Some(event.to_string().into_bytes())
        }
        _ => {
            // oversize_payload: whitespace before the closing brace keeps it a valid event.
            let mut bytes = event.to_string().into_bytes();
            let close = bytes.len() - 1;
            bytes.splice(close..close, std::iter::repeat_n(b' ', OVERSIZE_BYTES.saturating_sub(bytes.len())));
            Some(bytes)
        }
    };
    (key, payload)
}

/// An event type that belongs on no topic of the family.
fn foreign_event_type(family: Family) -> &'static str {
    match family {
        Family::Orders => "order_cancelled",
        Family::Payments => "refund_issued",
        Family::Clickstream => "purchase",
        Family::Inventory => "stock_reserved",
        _ => "feature_flag_evaluated",
    }
}

/// A missing required field, a negative amount or stock, or a column the source table lacks.
fn break_contract(family: Family, event: &mut Value) {
    let remove = |event: &mut Value, field: &str| {
        if let Some(object) = event.as_object_mut() {
            object.remove(field);
        }
    };
    match family {
        Family::Orders => event["amount"] = json!(-12.5),
        Family::Payments => event["amount"] = json!(-1),
        Family::Clickstream => remove(event, "session_id"),
        Family::Inventory => event["stock_after"] = json!(-3),
        Family::Exposures => remove(event, "unit_id"),
        Family::CdcCustomers => event["after"]["phone"] = json!("+49 30 1234567"),
        Family::CdcProducts => event["after"]["price"] = json!(-1),
    }
}

/// A valid event of `family` and its key.
fn sample(family: Family, id: &str, at_ms: i64, (lsn, tx_id): (i64, i64)) -> (Vec<u8>, Value) {
    let at = timestamp(at_ms);
    match family {
        Family::Orders => {
            let event = OrderEvent {
                event_type: "order_created".into(),
                event_version: 1,
                order_id: format!("o-{id}"),
                customer_id: format!("c-{id}"),
                created_at: at,
                amount: money(1999),
                currency: "EUR".into(),
                items: 1,
                payment_method: "card".into(),
                card_fingerprint: Some(format!("fp-{id}")),
                ip_country: Some("DE".into()),
                shipping_country: Some("DE".into()),
                billing_country: Some("DE".into()),
                device: Some("desktop".into()),
                email_domain: Some("example.com".into()),
            };
            (event.customer_id.clone().into_bytes(), json_of(&event))
        }
        Family::Clickstream => {
            let event = ClickEvent {
                event_type: "page_view".into(),
                event_version: 1,
                event_id: format!("e-{id}"),
                session_id: format!("s-{id}"),
                customer_id: None,
                occurred_at: at,
                page: Some("/".into()),
                product_id: None,
                query: None,
                quantity: None,
                device: Some("mobile".into()),
                ip_country: Some("DE".into()),
            };
            (event.session_id.clone().into_bytes(), json_of(&event))
        }
        Family::Payments => {
            let event = PaymentEvent {
                event_type: "payment_authorized".into(),
                event_version: 1,
                payment_id: format!("pay-{id}"),
                order_id: format!("o-{id}"),
                occurred_at: at,
                amount: money(1999),
                currency: "EUR".into(),
                card_fingerprint: Some(format!("fp-{id}")),
                decline_reason: None,
                chargeback_reason: None,
            };
            (event.order_id.clone().into_bytes(), json_of(&event))
        }
        Family::Inventory => {
            let event = InventoryEvent {
                event_type: "stock_changed".into(),
                event_version: 1,
                event_id: format!("i-{id}"),
                product_id: format!("p-{id}"),
                occurred_at: at,
                delta: 5,
                reason: "adjustment".into(),
                stock_after: 5,
            };
            (event.product_id.clone().into_bytes(), json_of(&event))
        }
        Family::Exposures => {
            let event = ExposureEvent {
                event_type: "experiment_exposure".into(),
                event_version: 1,
                event_id: format!("x-{id}"),
                experiment_key: "ranking-v2".into(),
                variant: "control".into(),
                unit_id: format!("v-{id}"),
                occurred_at: at,
                source: Some("web".into()),
            };
            (event.unit_id.clone().into_bytes(), json_of(&event))
        }
        Family::CdcCustomers => {
            let key = format!("c-{id}");
            let after = json!({"customer_id": key, "email": format!("{id}@example.com"), "country": "DE",
                               "segment": "new", "created_at": "2024-01-01T00:00:00.000Z"});
            let event = envelope(Entity::Customers, 'c', None, Some(after), at_ms, lsn, tx_id);
            (cdc_key(Entity::Customers, &key), event)
        }
        Family::CdcProducts => {
            let key = format!("p-{id}");
            let after = json!({"product_id": key, "name": "Test Product", "category": "home", "price": money(999),
                               "currency": "EUR", "active": true});
            let event = envelope(Entity::Products, 'c', None, Some(after), at_ms, lsn, tx_id);
            (cdc_key(Entity::Products, &key), event)
        }
    }
}

fn json_of<T: serde::Serialize>(event: &T) -> Value {
    serde_json::to_value(event).expect("contract structs serialize")
}
