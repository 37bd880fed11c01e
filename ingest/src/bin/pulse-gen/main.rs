//! pulse-gen: synthetic e-commerce events for demos, tests and benchmarks.
//!
//! One simulated shop (customers, products and stock, sessions, orders, payments, fraud,
//! experiments) produces every event family Pulse ingests, so the families agree with each other:
//! a payment's order exists, stock never goes negative, a chargeback follows its order.
mod generator;
mod invalid;
mod shop;
#[cfg(test)]
mod tests;
mod world;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Datelike, Duration as ChronoDuration, Timelike, Utc};
use clap::Parser;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use generator::{Config, Generator, Message};
use indicatif::{ProgressBar, ProgressStyle};
use pulse_ingest::contract::Family;
use pulse_ingest::kafka::ensure_topics;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AFTER_HELP: &str = "\
Modes:
  backfill (default)  as fast as the broker accepts; event times spread over --days ending at --end,
                      produced in event-time order across topics. Deterministic: the same arguments
                      give byte-identical messages in the same order.
  live (--rate R)     R messages/s over all topics, each event stamped with the wall-clock time it is
                      produced; stops after --count orders or --duration seconds; no chargebacks.
                      The initial CDC snapshot and opening stock go out first, unpaced.

Per order there are about 22 messages: its session's clicks and experiment exposures, the order,
its payment events and stock changes, plus ~3 sessions that do not convert, CDC changes of customers
and products (a snapshot of op r first; then c, u, and rare d followed by a tombstone) and, in
backfill, chargebacks 1-60 days later (only up to --end). ~2 % of orders are fraud: fraud rings
sharing cards, and card-testing bursts.

Malformed messages (--invalid N) cycle through the dead-letter codes malformed_json, invalid_utf8,
unknown_event_type, contract_violation, absurd_timestamp, missing_payload (not on CDC topics, where a
null value is a tombstone) and oversize_payload. Oversize payloads are valid events padded to 8 KiB:
they are dead letters only when pulse-ingest runs with --max-payload-bytes 4096 (anything below
8192); under the default limit they land like valid events.

Dump (--dump FILE): one JSON object per message, written after delivery, with
  topic, family, partition, offset  where it landed (from the delivery report)
  key                               the key as a string (lossy UTF-8)
  payload                           the payload as a string (lossy UTF-8); null for tombstones and
                                    missing payloads
  valid                             false for malformed messages; tombstones are valid
  expected_code                     the dead-letter code pulse-ingest must assign; null when valid
  produced_at_ms                    when the send was issued (ms since the epoch)
  acked_at_ms                       when its delivery report was seen (ms since the epoch)";

/// Produce synthetic e-commerce events to Kafka: clickstream, orders, payments, inventory,
/// experiment exposures and Debezium CDC of customers and products, from one simulated shop.
#[derive(Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "PULSE_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topic name prefix: a family goes to <prefix><its topic> (clickstream, orders, payments,
    /// inventory, exposures, cdc.customers, cdc.products). Missing topics are created.
    #[arg(long, env = "PULSE_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// Event families to produce, comma-separated [default: all]. The simulated world is the same
    /// whatever is selected.
    #[arg(long, value_enum, value_delimiter = ',')]
    families: Option<Vec<Family>>,
    /// Partitions for newly created topics.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Number of orders; every other family follows from the world they happen in.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Additionally produce this many malformed messages, spread over time, the selected families and
    /// the dead-letter codes (see below).
    #[arg(long, default_value_t = 0)]
    invalid: u64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Backfill: events span this many days, ending at --end (pulse-ingest rejects events older
    /// than about three years as absurd_timestamp).
    #[arg(long, default_value_t = 7)]
    days: i64,
    /// Backfill: end of the time range (RFC 3339) [default: now, to the second].
    #[arg(long, conflicts_with = "rate")]
    end: Option<DateTime<Utc>>,
    /// Live mode: produce this many messages per second (all topics together), stamped with the wall
    /// clock.
    #[arg(long)]
    rate: Option<f64>,
    /// Live mode: stop after this many seconds even if --count orders are not out yet.
    #[arg(long, requires = "rate")]
    duration: Option<u64>,
    /// Backfill: inject a known drift into the last N days: orders cost 1.5 times as much and the
    /// device mix moves to mobile (75 % mobile, 20 % desktop, 5 % tablet instead of 55/38/7).
    /// Orders keep every other distribution, so drift_report on raw.orders should flag amount and
    /// device only (payments follow their orders' amounts, sessions the device mix).
    #[arg(long, conflicts_with = "rate")]
    shift_days: Option<i64>,
    /// Write every produced message as a JSON line to this file (format below).
    #[arg(long)]
    dump: Option<std::path::PathBuf>,
    /// Generate without a broker and print the per-topic counts (nothing is produced).
    #[arg(long, conflicts_with_all = ["dump", "rate"])]
    dry_run: bool,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Sends in flight; bounded so memory stays flat however many messages are produced.
const MAX_IN_FLIGHT: usize = 50_000;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !(1..=3650).contains(&args.days) {
        bail!("--days must be between 1 and 3650");
    }
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    if args.partitions < 1 {
        bail!("--partitions must be at least 1");
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            bail!("--rate must be a positive number of messages per second");
        }
    }
    let mut families = args.families.clone().unwrap_or_else(|| Family::ALL.to_vec());
    families.sort();
    families.dedup();
    if families.is_empty() {
        bail!("--families needs at least one family");
    }
    let end = args.end.unwrap_or_else(|| Utc::now().with_nanosecond(0).unwrap_or_else(Utc::now));
    if !(1971..=9999).contains(&end.year()) {
        bail!("--end must be between the years 1971 and 9999");
    }
    let start = end - ChronoDuration::days(args.days);
    if args.shift_days.is_some_and(|d| !(1..args.days).contains(&d)) {
        bail!("--shift-days must be at least 1 and less than --days");
    }
    let shift_from = args.shift_days.map(|d| (end - ChronoDuration::days(d)).timestamp_millis());
    let topics: BTreeMap<Family, String> =
        families.iter().map(|f| (*f, format!("{}{}", args.topic_prefix, f.default_topic()))).collect();
    let live = args.rate.is_some();
    let mut gen = Generator::new(Config {
        seed: args.seed,
        orders: args.count,
        start_ms: start.timestamp_millis(),
        end_ms: end.timestamp_millis(),
        families,
        invalid: args.invalid,
        live,
        shift_from_ms: shift_from,
    });
    let mut sink = Sink::new(args.dump.as_deref(), topics.clone())?;
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(args.count) };
    bar.set_style(
        ProgressStyle::with_template("pulse-gen {bar:40} {pos}/{len} orders, {msg} messages, eta {eta}")
            .expect("static template"),
    );
    if args.dry_run {
        while let Some(message) = gen.next_message() {
            sink.count(&message);
            bar.set_position(gen.orders_emitted());
        }
    } else {
        ensure_topics(&args.brokers, topics.values(), args.partitions).await?;
        produce(&args, &topics, &mut gen, &mut sink, &bar).await?;
    }
    bar.finish_and_clear();
    sink.finish()?;
    let range = if live { "live".to_owned() } else { format!("{} .. {}", start.to_rfc3339(), end.to_rfc3339()) };
    println!("pulse-gen: {} orders ({range})", gen.orders_emitted());
    for (family, topic) in &topics {
        let t = &sink.tally[family];
        println!(
            "pulse-gen: topic {topic}: {} messages ({} valid, {} invalid, {} tombstones)",
            t.valid + t.invalid + t.tombstones,
            t.valid,
            t.invalid,
            t.tombstones
        );
    }
    Ok(())
}

/// Sends every message of `gen`, pipelined, paced in live mode; stops early on Ctrl-C or --duration.
async fn produce(
    args: &Args,
    topics: &BTreeMap<Family, String>,
    gen: &mut Generator,
    sink: &mut Sink,
    bar: &ProgressBar,
) -> Result<()> {
    let live = args.rate.is_some();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("linger.ms", if live { "5" } else { "20" })
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .context("cannot create kafka producer")?;
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.store(true, Ordering::Relaxed);
        }
    });
    let deadline = args.duration.map(|s| Instant::now() + Duration::from_secs(s));
    let mut pacer = args.rate.map(Pacer::new);
    let mut inflight: FuturesUnordered<BoxFuture<'static, Delivery>> = FuturesUnordered::new();
    let mut sent_count: u64 = 0;

    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if let Some(p) = pacer.as_mut().filter(|_| !gen.at_snapshot()) {
            p.wait().await;
        }
        let Some(message) = gen.next_message() else { break };
        let topic = &topics[&message.family];
        let produced_at_ms = Utc::now().timestamp_millis();
        let delivery = loop {
            let mut record = FutureRecord::<[u8], [u8]>::to(topic).key(&message.key[..]);
            if let Some(payload) = &message.payload {
                record = record.payload(&payload[..]);
            }
            match producer.send_result(record) {
                Ok(delivery) => break delivery,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // librdkafka's queue is full: a delivery frees room.
                    match inflight.next().await {
                        Some(done) => sink.record(done)?,
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
                Err((e, _)) => return Err(e).with_context(|| format!("cannot produce to {topic}")),
            }
        };
        let sent = Sent { message, produced_at_ms };
        inflight.push(delivery.map(move |result| (sent, result)).boxed());
        // Record finished deliveries as they come, so the dump and the tally keep up in live mode.
        while let Some(Some(done)) = inflight.next().now_or_never() {
            sink.record(done)?;
        }
        if inflight.len() >= MAX_IN_FLIGHT {
            if let Some(done) = inflight.next().await {
                sink.record(done)?;
            }
        }
        sent_count += 1;
        if sent_count.is_multiple_of(256) {
            bar.set_position(gen.orders_emitted());
            bar.set_message(sink.delivered.to_string());
        }
    }
    while let Some(done) = inflight.next().await {
        sink.record(done)?;
    }
    Ok(())
}

struct Sent {
    message: Message,
    produced_at_ms: i64,
}

type Delivery =
    (Sent, Result<rdkafka::producer::future_producer::OwnedDeliveryResult, futures::channel::oneshot::Canceled>);

#[derive(Default)]
struct Tally {
    valid: u64,
    invalid: u64,
    tombstones: u64,
}

/// One line of --dump; the format is documented in --help and loaded by the e2e tests.
#[derive(serde::Serialize)]
struct DumpLine<'a> {
    topic: &'a str,
    family: &'a str,
    partition: i32,
    offset: i64,
    key: std::borrow::Cow<'a, str>,
    payload: Option<std::borrow::Cow<'a, str>>,
    valid: bool,
    expected_code: Option<&'a str>,
    produced_at_ms: i64,
    /// When the delivery report was seen: an upper bound of the broker's acknowledgement.
    acked_at_ms: i64,
}

/// Where delivered messages go: the per-topic tally and the dump.
struct Sink {
    topics: BTreeMap<Family, String>,
    tally: BTreeMap<Family, Tally>,
    dump: Option<std::io::BufWriter<std::fs::File>>,
    delivered: u64,
}

impl Sink {
    fn new(dump: Option<&std::path::Path>, topics: BTreeMap<Family, String>) -> Result<Sink> {
        let dump = match dump {
            Some(p) => Some(std::io::BufWriter::new(
                std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
            )),
            None => None,
        };
        let tally = topics.keys().map(|f| (*f, Tally::default())).collect();
        Ok(Sink { topics, tally, dump, delivered: 0 })
    }

    fn record(&mut self, (sent, result): Delivery) -> Result<()> {
        let delivery = match result {
            Ok(Ok(delivery)) => delivery,
            Ok(Err((e, _))) => return Err(e).context("delivery failed"),
            Err(_) => bail!("the kafka producer went away before a delivery report"),
        };
        let m = &sent.message;
        self.count(m);
        if let Some(w) = self.dump.as_mut() {
            let line = DumpLine {
                topic: &self.topics[&m.family],
                family: m.family.name(),
                partition: delivery.partition,
                offset: delivery.offset,
                key: String::from_utf8_lossy(&m.key),
                payload: m.payload.as_deref().map(String::from_utf8_lossy),
                valid: m.expected_code.is_none(),
                expected_code: m.expected_code,
                produced_at_ms: sent.produced_at_ms,
                acked_at_ms: Utc::now().timestamp_millis(),
            };
            serde_json::to_writer(&mut *w, &line).context("cannot write the dump")?;
            w.write_all(b"\n").context("cannot write the dump")?;
        }
        Ok(())
    }

    fn count(&mut self, m: &Message) {
        self.delivered += 1;
        let tally = self.tally.entry(m.family).or_default();
        match (m.expected_code, m.is_tombstone()) {
            (Some(_), _) => tally.invalid += 1,
            (None, true) => tally.tombstones += 1,
            (None, false) => tally.valid += 1,
        }
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(w) = self.dump.as_mut() {
            w.flush().context("cannot write the dump")?;
        }
        Ok(())
    }
}

/// Paces live mode: message n is due n/rate seconds after the first one. Sleeping only when at
/// least a millisecond ahead releases small bursts, which keeps the average rate exact.
struct Pacer {
    start: Option<Instant>,
    rate: f64,
    sent: u64,
}

impl Pacer {
    fn new(rate: f64) -> Pacer {
        Pacer { start: None, rate, sent: 0 }
    }

    async fn wait(&mut self) {
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = start + Duration::from_secs_f64(self.sent as f64 / self.rate);
        let now = Instant::now();
        if due > now + Duration::from_millis(1) {
            tokio::time::sleep(due - now).await;
        } else if now > due + Duration::from_secs(1) {
            // Fell behind (slow broker): carry on at the rate instead of bursting to catch up.
            self.start = Some(now.checked_sub(Duration::from_secs_f64(self.sent as f64 / self.rate)).unwrap_or(now));
        }
        self.sent += 1;
    }
}
