//! `pulse-ingest dlq`: inspect dead letters and replay them through the current contracts after a
//! fix (a contract extended, a constraint relaxed). A replayed message lands in its raw table in the
//! same transaction that marks its dead letter `replayed_at`, so a replay never lands anything twice.
use crate::config::Settings;
use crate::contract::decode;
use crate::sink::{land_rows, Landed, Sink, Source};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use tokio_postgres::Transaction;

/// Which dead letters to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    pub error_code: Option<String>,
    pub topic: Option<String>,
    /// Stop after this many dead letters.
    pub limit: Option<i64>,
    /// Decode and write, then roll back: shows what a replay would do.
    pub dry_run: bool,
}

#[derive(Debug, Default)]
pub struct ReplayReport {
    pub examined: usize,
    /// Rows landed per table.
    pub landed: BTreeMap<&'static str, usize>,
    /// Still refused, per error code.
    pub still_dead: BTreeMap<&'static str, usize>,
}

const CHUNK: i64 = 500;

pub async fn replay(sink: &mut Sink, settings: &Settings, filter: &ReplayFilter) -> Result<ReplayReport> {
    let families = settings.all_topic_families();
    let limits = settings.limits();
    let mut report = ReplayReport::default();
    let mut after_id = 0i64;
    loop {
        let chunk = match filter.limit {
            Some(l) => CHUNK.min(l - report.examined as i64),
            None => CHUNK,
        };
        if chunk <= 0 {
            break;
        }
        // Locked for the whole chunk: two replays running at once never land the same message.
        let tx = sink.client.transaction().await?;
        let rows = tx
            .query(
                "select id, topic, partition, \"offset\", key, payload from raw.dead_letters
                  where replayed_at is null and id > $1
                    and ($2::text is null or error_code = $2) and ($3::text is null or topic = $3)
                  order by id limit $4 for update skip locked",
                &[&after_id, &filter.error_code, &filter.topic, &chunk],
            )
            .await?;
        let Some(last) = rows.last() else { break };
        after_id = last.get(0);
        report.examined += rows.len();

        let mut replayed: Vec<i64> = Vec::new();
        for r in &rows {
            let (id, topic): (i64, String) = (r.get(0), r.get(1));
            let source = Source { topic: topic.clone(), partition: r.get(2), offset: r.get(3) };
            let (key, payload): (Option<Vec<u8>>, Option<Vec<u8>>) = (r.get(4), r.get(5));
            let outcome = match families.get(&topic) {
                None => Err((format!("no event family reads topic {topic}"), "unknown_topic")),
                Some(family) => match decode(*family, payload.as_deref(), &limits, chrono::Utc::now()) {
                    Err(rej) => Err((format!("{}: {}", rej.code, rej.message), rej.code)),
                    Ok(event) => {
                        let l = Landed { source, key, payload, event };
                        ensure_partition(&tx, &l).await?;
                        // One at a time, under a savepoint: a dead letter that is still refused
                        // must not take the others with it.
                        let (written, refused) = land_rows(&tx, &[&l], true).await?;
                        match refused.first() {
                            Some(d) => Err((d.rejection.message.clone(), d.rejection.code)),
                            None => Ok(written),
                        }
                    }
                },
            };
            match outcome {
                Ok(written) => {
                    replayed.push(id);
                    for (table, n) in written {
                        *report.landed.entry(table).or_default() += n;
                    }
                }
                Err((message, code)) => {
                    tx.execute("update raw.dead_letters set replay_error = $2 where id = $1", &[&id, &message]).await?;
                    *report.still_dead.entry(code).or_default() += 1;
                }
            }
        }
        tx.execute(
            "update raw.dead_letters set replayed_at = now(), replay_error = null where id = any($1)",
            &[&replayed],
        )
        .await?;
        if filter.dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
    }
    Ok(report)
}

/// Creates the day partition a replayed row needs, inside the replay's transaction (replays are
/// few, so holding the parent's lock until commit costs nothing).
async fn ensure_partition(tx: &Transaction<'_>, l: &Landed) -> Result<()> {
    if let (Some(table), Some(day)) = (l.event.partitioned_table(), l.event.day()) {
        tx.execute("select raw.ensure_day_partitions($1::text::regclass, $2, $2)", &[&table, &day])
            .await
            .with_context(|| format!("cannot create the {table} partition for {day}"))?;
    }
    Ok(())
}

/// Dead letters per topic and error code: still dead, and replayed.
pub async fn stats(client: &tokio_postgres::Client) -> Result<Vec<(String, String, i64, i64)>> {
    let rows = client
        .query(
            "select topic, error_code, count(*) filter (where replayed_at is null),
                    count(*) filter (where replayed_at is not null)
               from raw.dead_letters group by 1, 2 order by 1, 2",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
}
