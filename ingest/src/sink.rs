//! Lands a batch in one transaction: rows (binary COPY per raw table), CDC changes, dead letters
//! and the consumed offsets together, so a crash at any point loses or duplicates nothing.
use crate::contract::{Event, Rejection, Table};
use crate::mirror;
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

/// A valid message, with its raw bytes kept so that a row Postgres refuses can still be
/// dead-lettered verbatim.
#[derive(Debug, Clone)]
pub struct Landed {
    pub source: Source,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub event: Event,
}

#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub source: Source,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub rejection: Rejection,
}

impl Landed {
    fn refused(&self, message: String) -> DeadLetter {
        DeadLetter {
            source: self.source.clone(),
            key: self.key.clone(),
            payload: self.payload.clone(),
            rejection: Rejection::new("db_rejected", format!("postgres refused the row: {message}")),
        }
    }
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
    /// Rows written per table (CDC changes count under raw.cdc_changes).
    pub landed: BTreeMap<&'static str, usize>,
    /// Dead letters per (topic, error code).
    pub dead_lettered: BTreeMap<(String, &'static str), usize>,
    pub skipped_already_landed: usize,
    /// New next offsets per (topic, partition).
    pub next_offsets: Vec<(String, i32, i64)>,
}

impl FlushOutcome {
    pub fn landed_total(&self) -> usize {
        self.landed.values().sum()
    }

    pub fn dead_total(&self) -> usize {
        self.dead_lettered.values().sum()
    }
}

/// Ingest metadata appended to every raw table row.
const META_COLUMNS: [(&str, Type); 3] = [("_topic", Type::TEXT), ("_partition", Type::INT4), ("_offset", Type::INT8)];

fn column_list(table: Table) -> String {
    table.columns().iter().chain(&META_COLUMNS).map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

fn column_types(table: Table) -> Vec<Type> {
    table.columns().iter().chain(&META_COLUMNS).map(|(_, t)| t.clone()).collect()
}

fn row_values(l: &Landed) -> Vec<&(dyn ToSql + Sync)> {
    let mut v = l.event.values();
    v.extend([&l.source.topic as &(dyn ToSql + Sync), &l.source.partition, &l.source.offset]);
    v
}

/// Writes batches for one consumer group.
pub struct Sink {
    pub client: Client,
    group: String,
    /// (table, UTC day) partitions known to exist. Only recent days are trusted: retention
    /// (raw.run_maintenance) may drop older ones, and a late event must re-create its day.
    known_days: HashSet<(&'static str, NaiveDate)>,
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
        self.ensure_partitions(batch.rows.iter()).await?;
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

        let rows: Vec<&Landed> = batch.rows.iter().collect();
        let (landed, refused) = land_rows(&tx, &rows, row_by_row).await?;
        outcome.landed = landed;
        for d in batch.dead.iter().chain(&refused) {
            *outcome.dead_lettered.entry((d.source.topic.clone(), d.rejection.code)).or_default() += 1;
        }
        insert_dead_letters(&tx, batch.dead.iter().chain(&refused)).await?;

        let advanced: Vec<(String, i32, i64)> = batch
            .high
            .iter()
            .map(|((t, p), high)| (t.clone(), *p, high + 1))
            .filter(|(t, p, next)| stored.get(&(t.clone(), *p)).is_none_or(|s| s < next))
            .collect();
        store_offsets(&tx, &self.group, &advanced).await?;
        tx.commit().await.context("commit of batch failed")?;
        outcome.next_offsets = advanced;
        Ok(outcome)
    }

    /// Creates the day partitions the rows need, once per (table, day) per process.
    pub async fn ensure_partitions<'a>(&mut self, rows: impl Iterator<Item = &'a Landed>) -> Result<()> {
        let trusted_from = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
        // A day cached while recent may since have been dropped by retention.
        self.known_days.retain(|(_, day)| *day >= trusted_from);
        let mut missing: Vec<(&'static str, NaiveDate)> = rows
            .filter_map(|l| Some((l.event.partitioned_table()?, l.event.day()?)))
            .filter(|k| !self.known_days.contains(k))
            .collect();
        missing.sort();
        missing.dedup();
        for (table, day) in missing {
            self.client
                .execute("select raw.ensure_day_partitions($1::text::regclass, $2, $2)", &[&table, &day])
                .await
                .with_context(|| format!("cannot create the {table} partition for {day}"))?;
            if day >= trusted_from {
                self.known_days.insert((table, day));
            }
        }
        Ok(())
    }
}

/// Writes valid events: binary COPY per raw table and a set-based apply for CDC changes, or,
/// with `row_by_row`, one statement per event under a savepoint. Returns rows written per table
/// and the events Postgres refused (only ever non-empty row by row).
pub async fn land_rows(
    tx: &Transaction<'_>,
    rows: &[&Landed],
    row_by_row: bool,
) -> Result<(BTreeMap<&'static str, usize>, Vec<DeadLetter>)> {
    let mut by_table: BTreeMap<Table, Vec<&Landed>> = BTreeMap::new();
    let mut changes: Vec<&Landed> = Vec::new();
    for l in rows {
        match (&l.event, l.event.table()) {
            (Event::Change(_), _) => changes.push(l),
            (_, Some(t)) => by_table.entry(t).or_default().push(l),
            (_, None) => {} // tombstones only advance the offset
        }
    }
    let mut landed = BTreeMap::new();
    let mut refused = Vec::new();
    for (table, rows) in by_table {
        let n = if row_by_row {
            let before = refused.len();
            refused.extend(insert_one_by_one(tx, table, &rows).await?);
            rows.len() - (refused.len() - before)
        } else {
            copy_rows(tx, table, &rows).await?
        };
        landed.insert(table.name(), n);
    }
    if !changes.is_empty() {
        let n = if row_by_row {
            let mut n = 0;
            for l in changes {
                tx.batch_execute("savepoint pulse_row").await?;
                match mirror::apply(tx, &[l]).await {
                    Ok(k) => {
                        tx.batch_execute("release savepoint pulse_row").await?;
                        n += k
                    }
                    Err(e) => {
                        tx.batch_execute("rollback to savepoint pulse_row").await?;
                        refused.push(l.refused(format!("{e:#}")));
                    }
                }
            }
            n
        } else {
            mirror::apply(tx, &changes).await?
        };
        landed.insert("raw.cdc_changes", n);
    }
    Ok((landed, refused))
}

/// Locks and reads the stored next offsets of the batch's partitions (creating rows at 0), in
/// two statements whatever the number of partitions.
async fn lock_offsets<'a>(
    tx: &Transaction<'_>,
    group: &str,
    keys: impl Iterator<Item = &'a (String, i32)>,
) -> Result<BTreeMap<(String, i32), i64>> {
    let (topics, partitions): (Vec<&str>, Vec<i32>) = keys.map(|(t, p)| (t.as_str(), *p)).unzip();
    if topics.is_empty() {
        return Ok(BTreeMap::new());
    }
    tx.execute(
        "insert into raw.ingest_offsets (consumer_group, topic, partition, next_offset)
         select $1, t, p, 0 from unnest($2::text[], $3::int4[]) u(t, p) order by t, p
         on conflict do nothing",
        &[&group, &topics, &partitions],
    )
    .await?;
    // A consistent lock order (topic, partition) keeps two writers from deadlocking.
    let rows = tx
        .query(
            "select topic, partition, next_offset from raw.ingest_offsets
              where consumer_group = $1 and (topic, partition) in (select * from unnest($2::text[], $3::int4[]))
              order by topic, partition for update",
            &[&group, &topics, &partitions],
        )
        .await?;
    Ok(rows.iter().map(|r| ((r.get(0), r.get(1)), r.get(2))).collect())
}

async fn store_offsets(tx: &Transaction<'_>, group: &str, next: &[(String, i32, i64)]) -> Result<()> {
    if next.is_empty() {
        return Ok(());
    }
    let topics: Vec<&str> = next.iter().map(|n| n.0.as_str()).collect();
    let partitions: Vec<i32> = next.iter().map(|n| n.1).collect();
    let offsets: Vec<i64> = next.iter().map(|n| n.2).collect();
    tx.execute(
        "update raw.ingest_offsets o set next_offset = u.n, updated_at = clock_timestamp()
           from unnest($2::text[], $3::int4[], $4::int8[]) u(t, p, n)
          where o.consumer_group = $1 and o.topic = u.t and o.partition = u.p",
        &[&group, &topics, &partitions, &offsets],
    )
    .await?;
    Ok(())
}

async fn copy_rows(tx: &Transaction<'_>, table: Table, rows: &[&Landed]) -> Result<usize> {
    let sink =
        tx.copy_in(&format!("copy {} ({}) from stdin (format binary)", table.name(), column_list(table))).await?;
    let writer = BinaryCopyInWriter::new(sink, &column_types(table));
    pin_mut!(writer);
    for l in rows {
        writer.as_mut().write(&row_values(l)).await?;
    }
    Ok(writer.finish().await? as usize)
}

/// The slow path: one INSERT per row under a savepoint; returns the refused rows as dead letters.
async fn insert_one_by_one(tx: &Transaction<'_>, table: Table, rows: &[&Landed]) -> Result<Vec<DeadLetter>> {
    let types = column_types(table);
    let placeholders: Vec<String> = (1..=types.len()).map(|i| format!("${i}")).collect();
    let sql = format!("insert into {} ({}) values ({})", table.name(), column_list(table), placeholders.join(", "));
    let stmt = tx.prepare_typed(&sql, &types).await?;
    let mut refused = Vec::new();
    for l in rows {
        tx.batch_execute("savepoint pulse_row").await?;
        match tx.execute(&stmt, &row_values(l)).await {
            Ok(_) => tx.batch_execute("release savepoint pulse_row").await?,
            Err(e) => {
                tx.batch_execute("rollback to savepoint pulse_row").await?;
                refused.push(l.refused(e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string())));
            }
        }
    }
    Ok(refused)
}

/// True when Postgres refused the data itself (data exception or integrity violation), as
/// opposed to a connection or server problem that a retry can fix.
pub fn is_data_error(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<tokio_postgres::Error>())
        .filter_map(|pe| pe.code())
        .any(|code| code.code().starts_with("22") || code.code().starts_with("23"))
}

/// Keeps one INSERT of dead letters well under Postgres's 1 GB message limit, however many
/// oversize payloads a batch holds.
const DEAD_LETTER_CHUNK_BYTES: usize = 64 << 20;

async fn insert_dead_letters<'a>(tx: &Transaction<'_>, dead: impl Iterator<Item = &'a DeadLetter>) -> Result<usize> {
    let dead: Vec<&DeadLetter> = dead.collect();
    let mut start = 0;
    while start < dead.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < dead.len() && (end == start || bytes < DEAD_LETTER_CHUNK_BYTES) {
            bytes += dead[end].payload.as_ref().map_or(0, Vec::len) + dead[end].key.as_ref().map_or(0, Vec::len);
            end += 1;
        }
        insert_dead_letter_chunk(tx, &dead[start..end]).await?;
        start = end;
    }
    Ok(dead.len())
}

async fn insert_dead_letter_chunk(tx: &Transaction<'_>, dead: &[&DeadLetter]) -> Result<()> {
    let topics: Vec<&str> = dead.iter().map(|d| d.source.topic.as_str()).collect();
    let partitions: Vec<i32> = dead.iter().map(|d| d.source.partition).collect();
    let offsets: Vec<i64> = dead.iter().map(|d| d.source.offset).collect();
    let keys: Vec<Option<&[u8]>> = dead.iter().map(|d| d.key.as_deref()).collect();
    let payloads: Vec<Option<&[u8]>> = dead.iter().map(|d| d.payload.as_deref()).collect();
    let codes: Vec<&str> = dead.iter().map(|d| d.rejection.code).collect();
    let messages: Vec<&str> = dead.iter().map(|d| d.rejection.message.as_str()).collect();
    tx.execute(
        "insert into raw.dead_letters (topic, partition, \"offset\", key, payload, error_code, error_message)
         select * from unnest($1::text[], $2::int4[], $3::int8[], $4::bytea[], $5::bytea[], $6::text[], $7::text[])",
        &[&topics, &partitions, &offsets, &keys, &payloads, &codes, &messages],
    )
    .await?;
    Ok(())
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

    #[test]
    fn every_table_lists_its_metadata_columns_last() {
        for t in [Table::Clickstream, Table::Orders, Table::Payments, Table::Inventory, Table::Exposures] {
            let cols = column_list(t);
            assert!(cols.ends_with("_topic, _partition, _offset"), "{cols}");
            assert_eq!(column_types(t).len(), t.columns().len() + 3);
        }
    }
}
