//! Applies Debezium changes: every change once into `raw.cdc_changes`, and the latest state per
//! key into the mirror tables (`raw.customers`, `raw.products`).
//!
//! Everything is decided by LSN, never by arrival order, so a batch can be applied set-based and
//! replaying any envelopes again (a connector restart, a re-snapshot, a re-produced topic) leaves
//! history and mirrors exactly as they were:
//! - history: unique on (entity, key, lsn, source_ts), insert-or-ignore;
//! - mirror: a row is written only when the change's LSN is greater than the row's `_lsn`;
//!   deletes keep a tombstone row (`_deleted`) so an older change cannot resurrect the key;
//! - truncate: removes every row with a smaller LSN, like TRUNCATE on the source, and changes
//!   older than the latest truncate are ignored from then on, so they cannot come back either.
use crate::contract::{CdcChange, Entity, Event};
use crate::sink::Landed;
use anyhow::Result;
use serde_json::Value;
use tokio_postgres::Transaction;

fn change(l: &Landed) -> &CdcChange {
    match &l.event {
        Event::Change(c) => c,
        other => unreachable!("mirror::apply got a non-CDC event {other:?}"),
    }
}

/// Applies `changes`; returns how many were new to the history (0 for a pure replay).
pub async fn apply(tx: &Transaction<'_>, changes: &[&Landed]) -> Result<usize> {
    // Debezium sends truncates without a key, so they may sit in another partition (another
    // writer) than the rows they remove; one applier per entity at a time keeps the LSN checks
    // of a truncate and a concurrent upsert from missing each other. Locked in a fixed order.
    for entity in [Entity::Customers, Entity::Products] {
        if changes.iter().any(|l| change(l).entity == entity) {
            tx.execute("select pg_advisory_xact_lock(hashtext('pulse.cdc.' || $1))", &[&entity.name()]).await?;
        }
    }
    let inserted = insert_history(tx, changes).await?;
    for entity in [Entity::Customers, Entity::Products] {
        let of_entity: Vec<&CdcChange> = changes.iter().map(|l| change(l)).filter(|c| c.entity == entity).collect();
        if of_entity.is_empty() {
            continue;
        }
        upsert_mirror(tx, entity, of_entity.iter().copied().filter(|c| c.op != 't')).await?;
        for t in of_entity.iter().filter(|c| c.op == 't') {
            truncate_mirror(tx, entity, t).await?;
        }
    }
    Ok(inserted)
}

async fn insert_history(tx: &Transaction<'_>, changes: &[&Landed]) -> Result<usize> {
    let c: Vec<&CdcChange> = changes.iter().map(|l| change(l)).collect();
    let entities: Vec<&str> = c.iter().map(|c| c.entity.name()).collect();
    let keys: Vec<Option<&str>> = c.iter().map(|c| c.key.as_deref()).collect();
    let ops: Vec<String> = c.iter().map(|c| c.op.to_string()).collect();
    let lsns: Vec<i64> = c.iter().map(|c| c.lsn).collect();
    let tx_ids: Vec<Option<i64>> = c.iter().map(|c| c.tx_id).collect();
    let ts: Vec<chrono::DateTime<chrono::Utc>> = c.iter().map(|c| c.source_ts).collect();
    let before: Vec<Option<&Value>> = c.iter().map(|c| c.before.as_ref()).collect();
    let after: Vec<Option<&Value>> = c.iter().map(|c| c.after.as_ref()).collect();
    let topics: Vec<&str> = changes.iter().map(|l| l.source.topic.as_str()).collect();
    let partitions: Vec<i32> = changes.iter().map(|l| l.source.partition).collect();
    let offsets: Vec<i64> = changes.iter().map(|l| l.source.offset).collect();
    let n = tx
        .execute(
            "insert into raw.cdc_changes (entity, key, op, lsn, tx_id, source_ts, before, after, _topic, _partition, _offset)
             select * from unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::timestamptz[],
                                  $7::jsonb[], $8::jsonb[], $9::text[], $10::int4[], $11::int8[])
             on conflict do nothing",
            &[&entities, &keys, &ops, &lsns, &tx_ids, &ts, &before, &after, &topics, &partitions, &offsets],
        )
        .await?;
    Ok(n as usize)
}

/// The mirror upsert for `entity`: latest change per key, written only over an older LSN.
fn upsert_sql(entity: Entity) -> String {
    let (table, key) = entity.mirror();
    let cols = entity.data_columns();
    let select_cols: Vec<String> = cols.iter().map(|c| format!("r.{c}")).collect();
    let set_cols: Vec<String> = cols
        .iter()
        .chain(&["_op", "_lsn", "_tx_id", "_source_ts", "_deleted", "_updated_at"])
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "with c as (
           select distinct on (key) key, op, lsn, tx_id, source_ts, img
             from unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::timestamptz[], $6::jsonb[])
                  u(key, op, lsn, tx_id, source_ts, img)
            where lsn > coalesce((select max(lsn) from raw.cdc_changes where entity = $7 and op = 't'), -1)
            order by key, lsn desc
         )
         insert into {table} as m ({key}, {cols}, _op, _lsn, _tx_id, _source_ts, _deleted, _updated_at)
         select c.key, {select_cols}, c.op, c.lsn, c.tx_id, c.source_ts, c.op = 'd', now()
           from c cross join lateral jsonb_populate_record(null::{table}, c.img) r
         on conflict ({key}) do update set {set_cols}
          where m._lsn < excluded._lsn",
        cols = cols.join(", "),
        select_cols = select_cols.join(", "),
        set_cols = set_cols.join(", "),
    )
}

async fn upsert_mirror<'a>(
    tx: &Transaction<'_>,
    entity: Entity,
    changes: impl Iterator<Item = &'a CdcChange>,
) -> Result<()> {
    let c: Vec<&CdcChange> = changes.collect();
    if c.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = c.iter().map(|c| c.key.as_deref().expect("row changes have a key")).collect();
    let ops: Vec<String> = c.iter().map(|c| c.op.to_string()).collect();
    let lsns: Vec<i64> = c.iter().map(|c| c.lsn).collect();
    let tx_ids: Vec<Option<i64>> = c.iter().map(|c| c.tx_id).collect();
    let ts: Vec<chrono::DateTime<chrono::Utc>> = c.iter().map(|c| c.source_ts).collect();
    // A delete's state is its before image (often just the key); everything else, the after image.
    let images: Vec<Option<&Value>> =
        c.iter().map(|c| if c.op == 'd' { c.before.as_ref() } else { c.after.as_ref() }).collect();
    tx.execute(&upsert_sql(entity), &[&keys, &ops, &lsns, &tx_ids, &ts, &images, &entity.name()]).await?;
    Ok(())
}

async fn truncate_mirror(tx: &Transaction<'_>, entity: Entity, t: &CdcChange) -> Result<()> {
    let (table, _) = entity.mirror();
    tx.execute(&format!("delete from {table} where _lsn < $1"), &[&t.lsn]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_sql_names_every_mirror_column() {
        let sql = upsert_sql(Entity::Products);
        for c in ["r.name", "r.category", "r.price", "r.currency", "r.active", "price = excluded.price"] {
            assert!(sql.contains(c), "{c} missing from {sql}");
        }
        assert!(sql.contains("on conflict (product_id)"));
        assert!(sql.contains("where m._lsn < excluded._lsn"));
    }
}
