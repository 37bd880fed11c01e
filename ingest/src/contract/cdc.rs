//! Debezium change events for the `customers` and `products` source tables (topics
//! `cdc.customers`, `cdc.products`), applied to the mirror tables `raw.customers` and
//! `raw.products` in source order, idempotent by LSN, and kept in `raw.cdc_changes`.
//!
//! Accepted: the JSON converter's envelope with or without schemas (`{"schema":…,"payload":…}`),
//! ops c (insert), r (snapshot read), u (update), d (delete) and t (truncate), and Kafka tombstones
//! (null value after a delete), which carry no change.
use super::{check_texts, check_time, money, Limits, Rejection};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// The source tables Pulse mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    Customers,
    Products,
}

impl Entity {
    pub fn name(self) -> &'static str {
        match self {
            Entity::Customers => "customers",
            Entity::Products => "products",
        }
    }

    /// The mirror table and its key column.
    pub fn mirror(self) -> (&'static str, &'static str) {
        match self {
            Entity::Customers => ("raw.customers", "customer_id"),
            Entity::Products => ("raw.products", "product_id"),
        }
    }

    /// The mirror's data columns (after the key), as named in the row images.
    pub fn data_columns(self) -> &'static [&'static str] {
        match self {
            Entity::Customers => &["email", "country", "segment", "created_at"],
            Entity::Products => &["name", "category", "price", "currency", "active"],
        }
    }
}

/// One validated change.
#[derive(Debug, Clone, PartialEq)]
pub struct CdcChange {
    pub entity: Entity,
    /// c, r, u, d or t.
    pub op: char,
    /// The row's key; None for a truncate, which applies to the whole table.
    pub key: Option<String>,
    pub lsn: i64,
    pub tx_id: Option<i64>,
    /// When the change happened in the source database (`source.ts_ms`).
    pub source_ts: DateTime<Utc>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    before: Option<Value>,
    after: Option<Value>,
    source: SourceInfo,
    op: String,
    #[serde(default)]
    ts_ms: Option<i64>,
    #[serde(default)]
    ts_us: Option<i64>,
    #[serde(default)]
    ts_ns: Option<i64>,
    #[serde(default)]
    transaction: Option<Value>,
}

/// Debezium adds source fields between versions (connector, db, schema, sequence, xmin, ...),
/// so only the fields Pulse needs are read and the rest are ignored.
#[derive(Deserialize)]
struct SourceInfo {
    lsn: i64,
    #[serde(rename = "txId", default)]
    tx_id: Option<i64>,
    ts_ms: i64,
    #[serde(default)]
    table: Option<String>,
}

/// Row image of `customers`; only the key is required, because a delete's before image carries
/// just the key under the default replica identity.
// The fields are read by Postgres (jsonb_populate_record); here they exist to type-check the image.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerImage {
    customer_id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductImage {
    product_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    price: Option<serde_json::Number>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

/// Validates a row image against the entity's contract and returns its key.
fn image_key(entity: Entity, image: &Value) -> Result<String, Rejection> {
    let bad = |e: serde_json::Error| {
        Rejection::violation(format!("{} row image does not match its contract: {e}", entity.name()))
    };
    match entity {
        Entity::Customers => {
            let c = CustomerImage::deserialize(image).map_err(bad)?;
            check_texts([("customer_id", c.customer_id.as_str())], [&c.email, &c.country, &c.segment])?;
            Ok(c.customer_id)
        }
        Entity::Products => {
            let p = ProductImage::deserialize(image).map_err(bad)?;
            check_texts([("product_id", p.product_id.as_str())], [&p.name, &p.category, &p.currency])?;
            if let Some(price) = &p.price {
                money("price", price)?;
            }
            Ok(p.product_id)
        }
    }
}

pub(super) fn decode(entity: Entity, text: &str, limits: &Limits, now: DateTime<Utc>) -> Result<CdcChange, Rejection> {
    let mut value: Value = serde_json::from_str(text)
        .map_err(|e| Rejection::new("malformed_json", format!("payload is not JSON: {e}")))?;
    // With schemas enabled the JSON converter wraps the envelope as {"schema": ..., "payload": ...}.
    if let Some(obj) = value.as_object_mut() {
        if obj.len() == 2 && obj.contains_key("schema") {
            if let Some(payload) = obj.remove("payload") {
                value = payload;
            }
        }
    }
    let env = Envelope::deserialize(&value)
        .map_err(|e| Rejection::violation(format!("not a debezium change event envelope: {e}")))?;
    let _ = (env.ts_ms, env.ts_us, env.ts_ns, env.transaction);
    if let Some(table) = env.source.table.as_deref() {
        if table != entity.name() {
            return Err(Rejection::new(
                "unknown_event_type",
                format!("change of table \"{table}\" on the {} CDC topic", entity.name()),
            ));
        }
    }
    let source_ts = DateTime::<Utc>::from_timestamp_millis(env.source.ts_ms).ok_or_else(|| {
        Rejection::new("absurd_timestamp", format!("source.ts_ms {} is out of range", env.source.ts_ms))
    })?;
    check_time("source.ts_ms", source_ts, limits, now)?;
    if env.source.lsn < 0 {
        return Err(Rejection::violation(format!("source.lsn {} is negative", env.source.lsn)));
    }
    let before = env.before.filter(|v| !v.is_null());
    let after = env.after.filter(|v| !v.is_null());
    let op = match env.op.as_str() {
        "c" | "r" | "u" | "d" | "t" => env.op.chars().next().expect("one char"),
        other => return Err(Rejection::new("unknown_event_type", format!("unknown debezium op \"{other}\""))),
    };
    let key = match (op, &before, &after) {
        ('c' | 'r' | 'u', _, Some(a)) => {
            let key = image_key(entity, a)?;
            if let Some(b) = &before {
                if image_key(entity, b)? != key {
                    return Err(Rejection::violation("a key change must arrive as a delete and a create"));
                }
            }
            Some(key)
        }
        ('d', Some(b), None) => Some(image_key(entity, b)?),
        ('t', None, None) => None,
        _ => {
            return Err(Rejection::violation(format!(
                "op {op} with before {} and after {}",
                if before.is_some() { "set" } else { "null" },
                if after.is_some() { "set" } else { "null" }
            )))
        }
    };
    Ok(CdcChange { entity, op, key, lsn: env.source.lsn, tx_id: env.source.tx_id, source_ts, before, after })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Event, Family};
    use super::*;
    use serde_json::json;

    fn envelope(op: &str, before: Value, after: Value) -> Value {
        json!({
            "before": before, "after": after, "op": op, "ts_ms": 1_795_250_000_000i64, "transaction": null,
            "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": "shop", "db": "shop",
                       "schema": "public", "table": "products", "txId": 771, "lsn": 23_456_789,
                       "ts_ms": 1_795_249_999_000i64, "snapshot": "false", "xmin": null}
        })
    }

    fn product(price: Value) -> Value {
        json!({"product_id": "sku-1", "name": "Lamp", "category": "home", "price": price, "currency": "EUR", "active": true})
    }

    fn change(v: &Value) -> CdcChange {
        match decode_json(Family::CdcProducts, v).unwrap() {
            Event::Change(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_update_delete_truncate() {
        let c = change(&envelope("c", Value::Null, product(json!(19.99))));
        assert_eq!((c.op, c.key.as_deref(), c.lsn, c.tx_id), ('c', Some("sku-1"), 23_456_789, Some(771)));
        assert_eq!(c.source_ts.timestamp_millis(), 1_795_249_999_000);
        let u = change(&envelope("u", product(json!(19.99)), product(json!(17.5))));
        assert_eq!(u.after.unwrap()["price"], json!(17.5));
        let d = change(&envelope("d", json!({"product_id": "sku-1"}), Value::Null));
        assert_eq!((d.op, d.key.as_deref(), d.after), ('d', Some("sku-1"), None));
        let t = change(&envelope("t", Value::Null, Value::Null));
        assert_eq!((t.op, t.key), ('t', None));
    }

    #[test]
    fn schema_wrapped_envelopes_are_unwrapped() {
        let wrapped = json!({"schema": {"type": "struct"}, "payload": envelope("r", Value::Null, product(json!(1)))});
        assert_eq!(change(&wrapped).op, 'r');
    }

    #[test]
    fn broken_envelopes_are_rejected_with_codes() {
        let code = |v: &Value| code_of(Family::CdcProducts, v);
        assert_eq!(code(&envelope("x", Value::Null, product(json!(1)))), "unknown_event_type");
        assert_eq!(code(&envelope("c", Value::Null, Value::Null)), "contract_violation");
        assert_eq!(code(&envelope("d", Value::Null, Value::Null)), "contract_violation");
        assert_eq!(code(&envelope("c", Value::Null, product(json!(-3)))), "contract_violation");
        let mut extra = product(json!(1));
        extra["colour"] = "red".into();
        assert_eq!(code(&envelope("c", Value::Null, extra)), "contract_violation");
        let mut other_key = product(json!(1));
        other_key["product_id"] = "sku-2".into();
        assert_eq!(code(&envelope("u", product(json!(1)), other_key)), "contract_violation");
        let mut no_lsn = envelope("c", Value::Null, product(json!(1)));
        no_lsn["source"].as_object_mut().unwrap().remove("lsn");
        assert_eq!(code(&no_lsn), "contract_violation");
        let mut customers = envelope("c", Value::Null, product(json!(1)));
        customers["source"]["table"] = "customers".into();
        assert_eq!(code(&customers), "unknown_event_type");
        let mut old = envelope("c", Value::Null, product(json!(1)));
        old["source"]["ts_ms"] = 0.into();
        assert_eq!(code(&old), "absurd_timestamp");
    }
}
