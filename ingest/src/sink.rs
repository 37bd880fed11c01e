//! Lands a batch in one transaction: rows (binary COPY), dead letters and offsets together.
use crate::contract::{OrderRow, Rejection};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use futures::pin_mut;
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Transaction};

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Clone)]
pub struct Landed {
    pub source: Source,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub row: OrderRow,
}

#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub source: Source,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub rejection: Rejection,
}

/// Messages consumed since the last flush.
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<Landed>,
    pub dead: Vec<DeadLetter>,
    /// Highest offset seen per (topic, partition), whatever became of the message.
    pub high: BTreeMap<(String, i32), i64>,
    pub started: Option<Instant>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.rows.len() + self.dead.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn note(&mut self, s: &Source) {
        self.started.get_or_insert_with(Instant::now);
        let e = self.high.entry((s.topic.clone(), s.partition)).or_insert(s.offset);
        *e = (*e).max(s.offset);
    }

    pub fn push_row(&mut self, l: Landed) {
        self.note(&l.source);
        self.rows.push(l);
    }

    pub fn push_dead(&mut self, d: DeadLetter) {
        self.note(&d.source);
        self.dead.push(d);
    }

    /// Drops messages below the stored offsets: they were landed already (by us before a
    /// crash, or by another group member that owned the partition meanwhile).
    pub fn drop_landed(&mut self, stored: &BTreeMap<(String, i32), i64>) -> usize {
        let keep = |s: &Source| stored.get(&(s.topic.clone(), s.partition)).is_none_or(|n| s.offset >= *n);
        let before = self.len();
        self.rows.retain(|l| keep(&l.source));
        self.dead.retain(|d| keep(&d.source));
        before - self.len()
    }
}

/// What a flush did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FlushOutcome {
    pub landed: usize,
    pub dead_lettered: usize,
    pub skipped_already_landed: usize,
    /// New next offsets per (topic, partition), for the informational Kafka commit.
    pub next_offsets: Vec<(String, i32, i64)>,
}

/// raw.orders columns written by pulse-ingest and their wire types, in the order of
/// `order_values`; `_ingested_at` takes its default. One list so names and types cannot drift.
const ORDER_COLUMNS: [(&str, Type); 17] = [
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
    ("_topic", Type::TEXT),
    ("_partition", Type::INT4),
    ("_offset", Type::INT8),
];

fn order_column_list() -> String {
    ORDER_COLUMNS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

fn order_types() -> Vec<Type> {
    ORDER_COLUMNS.iter().map(|(_, ty)| ty.clone()).collect()
}

/// Writes batches for one consumer group.
pub struct Sink {
    pub client: Client,
    group: String,
    /// UTC days whose raw.orders partition is known to exist.
    known_days: HashSet<NaiveDate>,
}

impl Sink {
    pub fn new(client: Client, group: &str) -> Self {
        Sink { client, group: group.to_string(), known_days: HashSet::new() }
    }

    /// Lands `batch` atomically. On error nothing is written and the batch is left intact.
    ///
    /// If Postgres rejects the data itself (SQLSTATE class 22 or 23: a value the contract let
    /// through but a column or constraint refuses), the batch is written again row by row and
    /// the refused rows become dead letters (`db_rejected`), so one bad event never blocks a
    /// partition.
    pub async fn flush(&mut self, batch: &mut Batch) -> Result<FlushOutcome> {
        // Partition DDL runs in its own short transaction so the data transaction never holds
        // the parent table's lock for CREATE TABLE.
        self.ensure_partitions(batch).await?;
        match self.write(batch, false).await {
            Err(e) if is_data_error(&e) => {
                tracing::warn!(
                    error_code = "batch_rejected",
                    error = format!("{e:#}"),
                    "retrying the batch row by row"
                );
                self.write(batch, true).await
            }
            other => other,
        }
    }

    async fn write(&mut self, batch: &mut Batch, row_by_row: bool) -> Result<FlushOutcome> {
        let tx = self.client.transaction().await?;
        let stored = lock_offsets(&tx, &self.group, batch.high.keys()).await?;
        let mut outcome = FlushOutcome { skipped_already_landed: batch.drop_landed(&stored), ..Default::default() };

        let refused = if row_by_row {
            insert_orders_one_by_one(&tx, &batch.rows).await?
        } else {
            copy_orders(&tx, &batch.rows).await?;
            Vec::new()
        };
        outcome.landed = batch.rows.len() - refused.len();
        outcome.dead_lettered = insert_dead_letters(&tx, batch.dead.iter().chain(&refused)).await?;

        for ((topic, partition), high) in &batch.high {
            let next = high + 1;
            if stored.get(&(topic.clone(), *partition)).is_some_and(|s| *s >= next) {
                continue;
            }
            tx.execute(
                "update raw.ingest_offsets set next_offset = $4, updated_at = now()
                  where consumer_group = $1 and topic = $2 and partition = $3",
                &[&self.group, topic, partition, &next],
            )
            .await?;
            outcome.next_offsets.push((topic.clone(), *partition, next));
        }
        tx.commit().await.context("commit of batch failed")?;
        Ok(outcome)
    }

    async fn ensure_partitions(&mut self, batch: &Batch) -> Result<()> {
        let mut missing: Vec<NaiveDate> = batch
            .rows
            .iter()
            .map(|l| l.row.event.created_at.date_naive())
            .filter(|d| !self.known_days.contains(d))
            .collect();
        missing.sort();
        missing.dedup();
        for day in missing {
            self.client
                .execute("select raw.ensure_day_partitions('raw.orders', $1, $1)", &[&day])
                .await
                .with_context(|| format!("cannot create the raw.orders partition for {day}"))?;
            self.known_days.insert(day);
        }
        Ok(())
    }
}

/// Locks and reads the stored next offsets of the batch's partitions (creating rows at 0).
async fn lock_offsets<'a>(
    tx: &Transaction<'_>,
    group: &str,
    keys: impl Iterator<Item = &'a (String, i32)>,
) -> Result<BTreeMap<(String, i32), i64>> {
    let mut stored = BTreeMap::new();
    for (topic, partition) in keys {
        tx.execute(
            "insert into raw.ingest_offsets (consumer_group, topic, partition, next_offset)
             values ($1, $2, $3, 0) on conflict do nothing",
            &[&group, topic, partition],
        )
        .await?;
        let row = tx
            .query_one(
                "select next_offset from raw.ingest_offsets
                  where consumer_group = $1 and topic = $2 and partition = $3 for update",
                &[&group, topic, partition],
            )
            .await?;
        stored.insert((topic.clone(), *partition), row.get::<_, i64>(0));
    }
    Ok(stored)
}

fn order_values(l: &Landed) -> [&(dyn ToSql + Sync); 17] {
    let e = &l.row.event;
    [
        &e.order_id,
        &e.customer_id,
        &e.created_at,
        &l.row.amount,
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
        &l.source.topic,
        &l.source.partition,
        &l.source.offset,
    ]
}

async fn copy_orders(tx: &Transaction<'_>, rows: &[Landed]) -> Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let sink = tx.copy_in(&format!("copy raw.orders ({}) from stdin (format binary)", order_column_list())).await?;
    let writer = BinaryCopyInWriter::new(sink, &order_types());
    pin_mut!(writer);
    for l in rows {
        writer.as_mut().write(&order_values(l)).await?;
    }
    Ok(writer.finish().await? as usize)
}

/// The slow path: one INSERT per row under a savepoint; returns the refused rows as dead letters.
async fn insert_orders_one_by_one(tx: &Transaction<'_>, rows: &[Landed]) -> Result<Vec<DeadLetter>> {
    let placeholders: Vec<String> = (1..=ORDER_COLUMNS.len()).map(|i| format!("${i}")).collect();
    let stmt = tx
        .prepare_typed(
            &format!("insert into raw.orders ({}) values ({})", order_column_list(), placeholders.join(", ")),
            &order_types(),
        )
        .await?;
    let mut refused = Vec::new();
    for l in rows {
        tx.batch_execute("savepoint pulse_row").await?;
        match tx.execute(&stmt, &order_values(l)).await {
            Ok(_) => tx.batch_execute("release savepoint pulse_row").await?,
            Err(e) => {
                tx.batch_execute("rollback to savepoint pulse_row").await?;
                let message = e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string());
                refused.push(DeadLetter {
                    source: l.source.clone(),
                    key: l.key.clone(),
                    payload: l.payload.clone(),
                    rejection: Rejection {
                        code: "db_rejected",
                        message: format!("postgres refused the row: {message}"),
                    },
                });
            }
        }
    }
    Ok(refused)
}

/// True when Postgres refused the data itself (data exception or integrity violation), as
/// opposed to a connection or server problem that a retry can fix.
fn is_data_error(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<tokio_postgres::Error>())
        .filter_map(|pe| pe.code())
        .any(|code| code.code().starts_with("22") || code.code().starts_with("23"))
}

async fn insert_dead_letters<'a>(tx: &Transaction<'_>, dead: impl Iterator<Item = &'a DeadLetter>) -> Result<usize> {
    let dead: Vec<&DeadLetter> = dead.collect();
    if dead.is_empty() {
        return Ok(0);
    }
    let stmt = tx
        .prepare(
            "insert into raw.dead_letters (topic, partition, \"offset\", key, payload, error_code, error_message)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    for d in &dead {
        let code = d.rejection.code;
        tx.execute(
            &stmt,
            &[&d.source.topic, &d.source.partition, &d.source.offset, &d.key, &d.payload, &code, &d.rejection.message],
        )
        .await?;
    }
    Ok(dead.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead(topic: &str, partition: i32, offset: i64) -> DeadLetter {
        DeadLetter {
            source: Source { topic: topic.into(), partition, offset },
            key: None,
            payload: None,
            rejection: Rejection { code: "malformed_json", message: String::new() },
        }
    }

    #[test]
    fn drop_landed_keeps_only_unlanded_offsets() {
        let mut b = Batch::default();
        for o in 5..10 {
            b.push_dead(dead("orders", 0, o));
        }
        b.push_dead(dead("orders", 1, 3));
        assert_eq!(b.high.get(&("orders".to_string(), 0)), Some(&9));
        let stored = BTreeMap::from([(("orders".to_string(), 0), 8)]);
        assert_eq!(b.drop_landed(&stored), 3);
        let left: Vec<_> = b.dead.iter().map(|d| (d.source.partition, d.source.offset)).collect();
        assert_eq!(left, [(0, 8), (0, 9), (1, 3)]);
    }
}
