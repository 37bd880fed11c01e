//! Consumer lag as Postgres sees it: the broker's high watermark minus the offset stored with
//! the landed rows. Zero lag on every partition means everything produced has landed.
use anyhow::{Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::Duration;
use tokio_postgres::Client;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub high_watermark: i64,
    pub stored: i64,
}

impl PartitionLag {
    pub fn lag(&self) -> i64 {
        (self.high_watermark - self.stored).max(0)
    }
}

/// High watermarks of every partition of `topics`, from the broker.
pub async fn watermarks(brokers: &str, topics: &[String]) -> Result<Vec<(String, i32, i64)>> {
    let brokers = brokers.to_string();
    let topics = topics.to_vec();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", &brokers).create().context("cannot create kafka client")?;
        let timeout = Duration::from_secs(10);
        let mut out = Vec::new();
        for topic in &topics {
            let md = consumer.fetch_metadata(Some(topic), timeout).context("cannot fetch topic metadata")?;
            for t in md.topics() {
                anyhow::ensure!(t.error().is_none(), "topic {topic} is not available: {:?}", t.error());
                for p in t.partitions() {
                    let (_, high) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
                    out.push((topic.clone(), p.id(), high));
                }
            }
        }
        out.sort();
        Ok(out)
    })
    .await?
}

/// Lag per partition for `group`.
pub async fn lag(client: &Client, brokers: &str, group: &str, topics: &[String]) -> Result<Vec<PartitionLag>> {
    let marks = watermarks(brokers, topics).await?;
    let rows = client
        .query("select topic, partition, next_offset from raw.ingest_offsets where consumer_group = $1", &[&group])
        .await?;
    Ok(marks
        .into_iter()
        .map(|(topic, partition, high)| {
            let stored = rows
                .iter()
                .find(|r| r.get::<_, &str>(0) == topic && r.get::<_, i32>(1) == partition)
                .map_or(0, |r| r.get::<_, i64>(2));
            PartitionLag { topic, partition, high_watermark: high, stored }
        })
        .collect())
}
