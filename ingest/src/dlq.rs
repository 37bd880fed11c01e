//! `pulse-ingest dlq`: inspect dead letters and replay them through the current contracts after a
//! fix (a contract extended, a constraint relaxed). A replayed message lands in its raw table in the
//! same transaction that marks its dead letter `replayed_at`, so a replay never lands anything twice.
use crate::config::Settings;
use crate::contract::decode;
use crate::sink::{land_rows, Landed, Sink, Source};
use anyhow::Result;
use std::collections::{BTreeMap, HashMap};

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
        let rows = sink
            .client
            .query(
                "select id, topic, partition, \"offset\", key, payload from raw.dead_letters
                  where replayed_at is null and id > $1
                    and ($2::text is null or error_code = $2) and ($3::text is null or topic = $3)
                  order by id limit $4",
                &[&after_id, &filter.error_code, &filter.topic, &chunk],
            )
            .await?;
        let Some(last) = rows.last() else { break };
        after_id = last.get(0);
        report.examined += rows.len();

        let mut ids: HashMap<Source, i64> = HashMap::new();
        let mut landed: Vec<Landed> = Vec::new();
        let mut failed: Vec<(i64, String, &'static str)> = Vec::new();
        for r in &rows {
            let (id, topic): (i64, String) = (r.get(0), r.get(1));
            let source = Source { topic: topic.clone(), partition: r.get(2), offset: r.get(3) };
            let (key, payload): (Option<Vec<u8>>, Option<Vec<u8>>) = (r.get(4), r.get(5));
            let Some(family) = families.get(&topic) else {
                failed.push((id, format!("no event family reads topic {topic}"), "unknown_topic"));
                continue;
            };
            match decode(*family, payload.as_deref(), &limits, chrono::Utc::now()) {
                Ok(event) => {
                    ids.insert(source.clone(), id);
                    landed.push(Landed { source, key, payload, event });
                }
                Err(rej) => failed.push((id, format!("{}: {}", rej.code, rej.message), rej.code)),
            }
        }
        sink.ensure_partitions(landed.iter()).await?;
        let tx = sink.client.transaction().await?;
        let refs: Vec<&Landed> = landed.iter().collect();
        // Row by row: a dead letter that is still refused must not take the others with it.
        let (written, refused) = land_rows(&tx, &refs, true).await?;
        for d in &refused {
            if let Some(id) = ids.remove(&d.source) {
                failed.push((id, d.rejection.message.clone(), d.rejection.code));
            }
        }
        let replayed: Vec<i64> = ids.into_values().collect();
        tx.execute(
            "update raw.dead_letters set replayed_at = now(), replay_error = null where id = any($1)",
            &[&replayed],
        )
        .await?;
        for (id, message, code) in &failed {
            tx.execute("update raw.dead_letters set replay_error = $2 where id = $1", &[id, message]).await?;
            *report.still_dead.entry(code).or_default() += 1;
        }
        for (table, n) in written {
            *report.landed.entry(table).or_default() += n;
        }
        if filter.dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
    }
    Ok(report)
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
