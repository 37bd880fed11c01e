//! pulse-produce: produces messages given as JSON lines, verbatim, for tests and for re-feeding
//! captured traffic. Each line: {"topic": "...", "key": "..."|null, "payload": "..."|null} or,
//! for bytes that are not UTF-8, "payload_hex": "ff00...". Topics are created when missing.
use anyhow::{bail, Context, Result};
use clap::Parser;
use pulse_ingest::kafka::ensure_topics;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::io::BufRead;
use std::time::Duration;

/// Produce JSON-lines messages (from a file or stdin) to Kafka, in order.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "PULSE_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Partitions for topics that do not exist yet.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// JSON-lines file; - for stdin.
    file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    topic: String,
    key: Option<String>,
    payload: Option<String>,
    payload_hex: Option<String>,
}

fn hex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("payload_hex has an odd length");
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).context("payload_hex is not hex")).collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let reader: Box<dyn BufRead> = if args.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&args.file).with_context(|| format!("cannot open {}", args.file))?,
        ))
    };
    let mut lines = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(&line).with_context(|| format!("line {}: not a message line", n + 1))?;
        let payload = match (&l.payload, &l.payload_hex) {
            (Some(_), Some(_)) => bail!("line {}: give payload or payload_hex, not both", n + 1),
            (Some(p), None) => Some(p.as_bytes().to_vec()),
            (None, Some(h)) => Some(hex(h).with_context(|| format!("line {}", n + 1))?),
            (None, None) => None,
        };
        lines.push((l.topic, l.key, payload));
    }
    let topics: BTreeSet<&String> = lines.iter().map(|l| &l.0).collect();
    ensure_topics(&args.brokers, topics.into_iter(), args.partitions).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .create()
        .context("cannot create producer")?;
    // One at a time keeps the file's order within each partition, which CDC tests rely on.
    for (topic, key, payload) in &lines {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
        if let Some(k) = key {
            record = record.key(k.as_bytes());
        }
        if let Some(p) = payload {
            record = record.payload(p.as_slice());
        }
        producer.send(record, Duration::from_secs(30)).await.map_err(|(e, _)| e).context("produce failed")?;
    }
    println!("produced {} messages", lines.len());
    Ok(())
}
