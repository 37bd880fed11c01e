//! Consumer lag as Postgres sees it: the broker's high watermark minus the offset stored with
//! the landed rows. Zero lag on every partition means everything produced has landed.
use anyhow::{Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::sync::Arc;
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

/// Reads high watermarks from the broker and stored offsets from Postgres. Holds one Kafka
/// client, so `lag --wait` polling does not connect anew every time.
pub struct LagProbe {
    consumer: Arc<BaseConsumer>,
}

impl LagProbe {
    pub fn new(brokers: &str) -> Result<Self> {
        let consumer: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", brokers).create().context("cannot create kafka client")?;
        Ok(LagProbe { consumer: Arc::new(consumer) })
    }

    /// High watermarks of every partition of `topics`, sorted by (topic, partition).
    pub async fn watermarks(&self, topics: &[String]) -> Result<Vec<(String, i32, i64)>> {
        let consumer = Arc::clone(&self.consumer);
        let topics = topics.to_vec();
        // librdkafka's metadata calls block; keep them off the async workers.
        tokio::task::spawn_blocking(move || {
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
    pub async fn lag(&self, client: &Client, group: &str, topics: &[String]) -> Result<Vec<PartitionLag>> {
        let marks = self.watermarks(topics).await?;
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
}
