//! Versioned event contracts, one module per event family, and the checks every payload goes
//! through. A message that fails any check becomes a dead letter with a stable error code
//! instead of stopping ingestion.
//!
//! Contracts are typed serde structs with `deny_unknown_fields`: a producer that adds, renames or
//! retypes a field is caught at the door, and its messages wait in `raw.dead_letters` until the
//! contract is extended and `pulse-ingest dlq replay` lands them.
pub mod cdc;
pub mod clickstream;
pub mod exposures;
pub mod inventory;
pub mod orders;
pub mod payments;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use std::str::FromStr;
use tokio_postgres::types::{ToSql, Type};

pub use cdc::{CdcChange, Entity};
pub use clickstream::ClickEvent;
pub use exposures::ExposureEvent;
pub use inventory::InventoryEvent;
pub use orders::{OrderEvent, OrderRow, ORDER_EVENT_TYPE, ORDER_EVENT_VERSION};
pub use payments::{PaymentEvent, PaymentRow};

/// An event family: one topic, one contract, one raw table (or, for CDC, a mirror table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Family {
    Clickstream,
    Orders,
    Payments,
    Inventory,
    Exposures,
    CdcCustomers,
    CdcProducts,
}

impl Family {
    pub const ALL: [Family; 7] = [
        Family::Clickstream,
        Family::Orders,
        Family::Payments,
        Family::Inventory,
        Family::Exposures,
        Family::CdcCustomers,
        Family::CdcProducts,
    ];

    /// The name used in configuration and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Family::Clickstream => "clickstream",
            Family::Orders => "orders",
            Family::Payments => "payments",
            Family::Inventory => "inventory",
            Family::Exposures => "exposures",
            Family::CdcCustomers => "cdc_customers",
            Family::CdcProducts => "cdc_products",
        }
    }

    /// The topic name when none is configured (Debezium's `<prefix>.<table>` style for CDC).
    pub fn default_topic(self) -> &'static str {
        match self {
            Family::CdcCustomers => "cdc.customers",
            Family::CdcProducts => "cdc.products",
            other => other.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The `event_type` values this family's topic carries (empty for CDC, which has `op`).
    pub fn event_types(self) -> &'static [&'static str] {
        match self {
            Family::Clickstream => &clickstream::EVENT_TYPES,
            Family::Orders => &[ORDER_EVENT_TYPE],
            Family::Payments => &payments::EVENT_TYPES,
            Family::Inventory => &[inventory::EVENT_TYPE],
            Family::Exposures => &[exposures::EVENT_TYPE],
            Family::CdcCustomers | Family::CdcProducts => &[],
        }
    }
}

/// A decoded, validated message.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Order(OrderRow),
    Click(ClickEvent),
    Payment(PaymentRow),
    Inventory(InventoryEvent),
    Exposure(ExposureEvent),
    Change(CdcChange),
    /// A Kafka tombstone on a CDC topic (Debezium writes one after each delete for log
    /// compaction): it carries no change, so it only advances the offset.
    Tombstone,
}

impl Event {
    /// The raw table an append-only event lands in (CDC changes and tombstones have none).
    pub fn table(&self) -> Option<Table> {
        match self {
            Event::Order(_) => Some(Table::Orders),
            Event::Click(_) => Some(Table::Clickstream),
            Event::Payment(_) => Some(Table::Payments),
            Event::Inventory(_) => Some(Table::Inventory),
            Event::Exposure(_) => Some(Table::Exposures),
            Event::Change(_) | Event::Tombstone => None,
        }
    }

    /// The day-partitioned table the event's row goes to: its raw table, or the CDC history.
    pub fn partitioned_table(&self) -> Option<&'static str> {
        match self {
            Event::Change(_) => Some("raw.cdc_changes"),
            other => other.table().map(Table::name),
        }
    }

    /// The UTC day whose partition holds the row.
    pub fn day(&self) -> Option<NaiveDate> {
        let ts = match self {
            Event::Order(r) => r.event.created_at,
            Event::Click(e) => e.occurred_at,
            Event::Payment(r) => r.event.occurred_at,
            Event::Inventory(e) => e.occurred_at,
            Event::Exposure(e) => e.occurred_at,
            Event::Change(c) => c.source_ts,
            Event::Tombstone => return None,
        };
        Some(ts.date_naive())
    }

    /// Column values in the order of `table().columns()` (without the ingest metadata).
    pub fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        match self {
            Event::Order(r) => r.values(),
            Event::Click(e) => e.values(),
            Event::Payment(r) => r.values(),
            Event::Inventory(e) => e.values(),
            Event::Exposure(e) => e.values(),
            Event::Change(_) | Event::Tombstone => Vec::new(),
        }
    }
}

/// The append-only raw tables, partitioned by UTC day of their event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Clickstream,
    Orders,
    Payments,
    Inventory,
    Exposures,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Clickstream => "raw.clickstream",
            Table::Orders => "raw.orders",
            Table::Payments => "raw.payments",
            Table::Inventory => "raw.inventory",
            Table::Exposures => "raw.exposures",
        }
    }

    /// Contract columns and their wire types; the sink appends the ingest metadata columns.
    pub fn columns(self) -> &'static [(&'static str, Type)] {
        match self {
            Table::Clickstream => &clickstream::COLUMNS,
            Table::Orders => &orders::COLUMNS,
            Table::Payments => &payments::COLUMNS,
            Table::Inventory => &inventory::COLUMNS,
            Table::Exposures => &exposures::COLUMNS,
        }
    }
}

/// Decodes and validates one message of `family`.
pub fn decode(family: Family, payload: Option<&[u8]>, limits: &Limits, now: DateTime<Utc>) -> Result<Event, Rejection> {
    let text = match (family, payload) {
        (Family::CdcCustomers | Family::CdcProducts, None) => return Ok(Event::Tombstone),
        _ => payload_text(payload, limits)?,
    };
    match family {
        Family::Orders => orders::validate(parse(text, family)?, limits, now).map(Event::Order),
        Family::Clickstream => clickstream::validate(parse(text, family)?, limits, now).map(Event::Click),
        Family::Payments => payments::validate(parse(text, family)?, limits, now).map(Event::Payment),
        Family::Inventory => inventory::validate(parse(text, family)?, limits, now).map(Event::Inventory),
        Family::Exposures => exposures::validate(parse(text, family)?, limits, now).map(Event::Exposure),
        Family::CdcCustomers => cdc::decode(Entity::Customers, text, limits, now).map(Event::Change),
        Family::CdcProducts => cdc::decode(Entity::Products, text, limits, now).map(Event::Change),
    }
}

/// Why a message was dead-lettered. `code` is stable; dashboards and alerts key on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

impl Rejection {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        // Messages quote the offending input, and a NUL in a text column would make the dead
        // letter itself unstorable (and stall its partition), so it is spelled out.
        Rejection { code, message: message.into().replace('\0', "\\u0000") }
    }

    pub fn violation(message: impl Into<String>) -> Self {
        Rejection::new("contract_violation", message)
    }
}

/// Every dead-letter code pulse-ingest writes, for documentation and tests.
pub const ERROR_CODES: [&str; 8] = [
    "missing_payload",
    "oversize_payload",
    "invalid_utf8",
    "malformed_json",
    "unknown_event_type",
    "contract_violation",
    "absurd_timestamp",
    "db_rejected",
];

/// Limits applied before and after a payload is parsed.
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

/// The payload as UTF-8 text, after the checks that need no parsing.
fn payload_text<'a>(payload: Option<&'a [u8]>, limits: &Limits) -> Result<&'a str, Rejection> {
    let bytes = payload.ok_or_else(|| Rejection::new("missing_payload", "message has no payload (tombstone)"))?;
    if bytes.len() > limits.max_payload_bytes {
        return Err(Rejection::new(
            "oversize_payload",
            format!("payload is {} bytes, limit is {}", bytes.len(), limits.max_payload_bytes),
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| Rejection::new("invalid_utf8", format!("payload is not valid UTF-8: {e}")))
}

/// Parses JSON into the family's contract, telling a foreign event type from a broken event.
fn parse<T: DeserializeOwned>(text: &str, family: Family) -> Result<T, Rejection> {
    use serde_json::error::Category;
    serde_json::from_str(text).map_err(|e| match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Rejection::new("malformed_json", format!("payload is not JSON: {e}"))
        }
        Category::Data => {
            // Only on the error path: look at event_type to tell a foreign event from a broken one.
            let event_type = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("event_type").and_then(|t| t.as_str()).map(str::to_owned));
            match event_type {
                Some(t) if !family.event_types().contains(&t.as_str()) => unknown_event_type(&t, family),
                _ => Rejection::violation(format!("{} event does not match its contract: {e}", family.name())),
            }
        }
    })
}

fn unknown_event_type(event_type: &str, family: Family) -> Rejection {
    Rejection::new(
        "unknown_event_type",
        format!(
            "unknown event type \"{event_type}\" on the {} topic (expected one of {:?})",
            family.name(),
            family.event_types()
        ),
    )
}

/// Checks event_type and event_version, the two fields every non-CDC contract starts with.
fn check_header(family: Family, event_type: &str, version: i32, supported: i32) -> Result<(), Rejection> {
    if !family.event_types().contains(&event_type) {
        return Err(unknown_event_type(event_type, family));
    }
    if version != supported {
        return Err(Rejection::violation(format!(
            "unsupported event_version {version} for {event_type} (this build reads version {supported})"
        )));
    }
    Ok(())
}

/// PostgreSQL text cannot hold NUL, and ids must be present; checking here keeps such events
/// out of the slow row-by-row path.
fn check_texts<'a>(
    required: impl IntoIterator<Item = (&'static str, &'a str)>,
    optional: impl IntoIterator<Item = &'a Option<String>>,
) -> Result<(), Rejection> {
    for (name, value) in required {
        if value.is_empty() {
            return Err(Rejection::violation(format!("{name} must not be empty")));
        }
        if value.contains('\0') {
            return Err(Rejection::violation(format!("{name} must not contain NUL characters")));
        }
    }
    if optional.into_iter().flatten().any(|t| t.contains('\0')) {
        return Err(Rejection::violation("text fields must not contain NUL characters"));
    }
    Ok(())
}

/// Rejects event times no real event can have; late and early events within the limits land in
/// their own day partition (created on demand).
fn check_time(field: &str, ts: DateTime<Utc>, limits: &Limits, now: DateTime<Utc>) -> Result<(), Rejection> {
    if ts < now - limits.max_age || ts > now + limits.max_future {
        return Err(Rejection::new(
            "absurd_timestamp",
            format!(
                "{field} {} is outside [now - {} days, now + {} days]",
                ts.to_rfc3339(),
                limits.max_age.num_days(),
                limits.max_future.num_days()
            ),
        ));
    }
    Ok(())
}

/// A money amount: exact decimal, >= 0, at most two decimals and ten integer digits (numeric(12,2)).
fn money(field: &str, n: &serde_json::Number) -> Result<Decimal, Rejection> {
    let text = n.to_string();
    let amount = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| Rejection::violation(format!("{field} {text} is not a decimal number")))?;
    if amount.is_sign_negative() || amount.normalize().scale() > 2 || amount >= Decimal::from(10_000_000_000i64) {
        return Err(Rejection::violation(format!(
            "{field} {text} must be >= 0 with at most 2 decimals and 10 integer digits"
        )));
    }
    Ok(amount)
}

fn check_currency(code: &str) -> Result<(), Rejection> {
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Rejection::violation(format!("currency \"{code}\" is not an ISO 4217 code")));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn now() -> DateTime<Utc> {
        "2026-11-21T12:00:00Z".parse().unwrap()
    }

    pub fn decode_json(family: Family, v: &serde_json::Value) -> Result<Event, Rejection> {
        decode(family, Some(v.to_string().as_bytes()), &Limits::default(), now())
    }

    pub fn code_of(family: Family, v: &serde_json::Value) -> &'static str {
        decode_json(family, v).unwrap_err().code
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn byte_level_failures_have_their_codes_for_every_family() {
        let limits = Limits::default();
        for family in Family::ALL {
            let d = |p: Option<&[u8]>| decode(family, p, &limits, now());
            assert_eq!(d(Some(b"{not json")).unwrap_err().code, "malformed_json", "{family:?}");
            assert_eq!(d(Some(&[0xff, 0xfe])).unwrap_err().code, "invalid_utf8", "{family:?}");
            let big = vec![b' '; limits.max_payload_bytes + 1];
            assert_eq!(d(Some(&big)).unwrap_err().code, "oversize_payload", "{family:?}");
        }
    }

    #[test]
    fn null_payload_is_a_dead_letter_except_on_cdc_topics() {
        let limits = Limits::default();
        assert_eq!(decode(Family::Orders, None, &limits, now()).unwrap_err().code, "missing_payload");
        assert_eq!(decode(Family::Clickstream, None, &limits, now()).unwrap_err().code, "missing_payload");
        assert_eq!(decode(Family::CdcProducts, None, &limits, now()), Ok(Event::Tombstone));
    }

    #[test]
    fn an_event_of_another_family_is_an_unknown_event_type() {
        let order = serde_json::json!({"event_type": "order_created", "event_version": 1});
        assert_eq!(code_of(Family::Payments, &order), "unknown_event_type");
        assert_eq!(code_of(Family::Clickstream, &order), "unknown_event_type");
    }

    #[test]
    fn rejection_messages_never_carry_nul() {
        let bad = serde_json::json!({"event_type": "x\u{0}y", "event_version": 1});
        let r = decode_json(Family::Orders, &bad).unwrap_err();
        assert_eq!(r.code, "unknown_event_type");
        assert!(!r.message.contains('\0') && r.message.contains("x\\u0000y"), "{}", r.message);
        let key = format!("{{\"event_type\": \"order_created\", \"k\u{0}\": 1}}");
        let r = decode(Family::Orders, Some(key.as_bytes()), &Limits::default(), now()).unwrap_err();
        assert!(!r.message.contains('\0'), "{}", r.message);
    }

    #[test]
    fn family_names_round_trip() {
        for f in Family::ALL {
            assert_eq!(Family::from_name(f.name()), Some(f));
        }
        assert_eq!(Family::from_name("nope"), None);
    }
}
