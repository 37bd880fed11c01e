//! pulse-drain: reads topics from the beginning to their current end and throws the messages
//! away. `make bench` uses it to measure how fast the broker alone can deliver, the ceiling for
//! any consumer on the same machine, next to pulse-ingest and to binary COPY.
use anyhow::{Context, Result};
use clap::Parser;
use pulse_ingest::kafka::parse_property;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Read topics to their end, discard the messages, print messages/s.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "PULSE_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topics to read (repeatable).
    #[arg(long = "topic", required = true)]
    topics: Vec<String>,
    /// librdkafka property, e.g. -X fetch.max.bytes=67108864 (repeatable).
    #[arg(short = 'X', value_parser = parse_property)]
    properties: Vec<(String, String)>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &args.brokers)
        .set("group.id", "pulse-drain")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (k, v) in &args.properties {
        cfg.set(k, v);
    }
    let consumer: BaseConsumer = cfg.create().context("cannot create kafka consumer")?;
    // Assign every partition explicitly from the beginning: no group join in the measurement.
    let mut tpl = TopicPartitionList::new();
    let mut remaining: HashMap<(String, i32), i64> = HashMap::new();
    for topic in &args.topics {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        for p in md.topics().iter().flat_map(|t| t.partitions()) {
            let (_, high) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
            if high > 0 {
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
                remaining.insert((topic.clone(), p.id()), high);
            }
        }
    }
    let total: i64 = remaining.values().sum();
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let mut read = 0i64;
    while !remaining.is_empty() {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                read += 1;
                let key = (m.topic().to_string(), m.partition());
                if remaining.get(&key).is_some_and(|high| m.offset() + 1 >= *high) {
                    remaining.remove(&key);
                }
            }
            Some(Err(e)) => eprintln!("pulse-drain: {e}"),
            None => anyhow::bail!("no message for 10 s with {} of {total} read", read),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{read} {secs:.3} {:.0}", read as f64 / secs);
    Ok(())
}
