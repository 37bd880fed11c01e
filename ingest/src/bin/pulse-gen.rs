//! pulse-gen: synthetic marketplace order events for demos, tests and benchmarks.
//!
//! Deterministic: the same --seed, --count, --days and --end produce the same messages in the
//! same order. Events are keyed by customer id, so each customer's orders stay in one partition.
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use clap::Parser;
use futures::stream::{FuturesUnordered, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use pulse_ingest::contract::{OrderEvent, ORDER_EVENT_TYPE, ORDER_EVENT_VERSION};
use rand::distributions::WeightedIndex;
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_distr::LogNormal;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use std::io::Write;
use std::time::Duration;

/// Produce synthetic order events to Kafka.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "PULSE_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topic to produce to; created with --partitions when missing.
    #[arg(long, default_value = "orders")]
    topic: String,
    /// Partitions for a newly created topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Number of valid order events.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Additionally produce this many malformed messages, spread evenly (dead-letter testing).
    #[arg(long, default_value_t = 0)]
    invalid: u64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Events span this many days, in time order, ending at --end.
    #[arg(long, default_value_t = 7)]
    days: i64,
    /// End of the time range (RFC 3339; default: now, to the second).
    #[arg(long)]
    end: Option<DateTime<Utc>>,
    /// Write every produced message as a JSON line {key, payload, valid} to this file.
    #[arg(long)]
    dump: Option<std::path::PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

const CURRENCIES: [(&str, u32); 3] = [("EUR", 60), ("USD", 25), ("GBP", 15)];
const METHODS: [(&str, u32); 4] = [("card", 60), ("paypal", 20), ("klarna", 12), ("apple_pay", 8)];
const COUNTRIES: [&str; 8] = ["DE", "FR", "NL", "GB", "US", "ES", "IT", "PL"];
const DEVICES: [(&str, u32); 3] = [("mobile", 55), ("desktop", 38), ("tablet", 7)];
const DOMAINS: [&str; 5] = ["gmail.com", "outlook.com", "yahoo.com", "web.de", "proton.me"];

/// Draws events from a seeded generator; a small share looks like fraud (country mismatch,
/// throwaway email, a card fingerprint seen on other customers).
struct Generator {
    rng: ChaCha8Rng,
    seed: u64,
    customers: u64,
    amount: LogNormal<f64>,
    currency: WeightedIndex<u32>,
    method: WeightedIndex<u32>,
    device: WeightedIndex<u32>,
}

impl Generator {
    fn new(seed: u64, count: u64) -> Self {
        let w = |xs: &[(&str, u32)]| WeightedIndex::new(xs.iter().map(|x| x.1)).expect("static weights");
        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            seed,
            customers: (count / 8).max(100),
            amount: LogNormal::new(3.8, 0.7).expect("static parameters"),
            currency: w(&CURRENCIES),
            method: w(&METHODS),
            device: w(&DEVICES),
        }
    }

    fn order(&mut self, i: u64, at: DateTime<Utc>) -> OrderEvent {
        let r = &mut self.rng;
        let customer = r.gen_range(0..self.customers);
        let home = COUNTRIES[(customer % COUNTRIES.len() as u64) as usize];
        let fraudish = r.gen_bool(0.02);
        let cents = ((self.amount.sample(r) * if fraudish { 4.0 } else { 1.0 }) * 100.0).round().max(1.0) as i64;
        let method = METHODS[self.method.sample(r)].0;
        let card = matches!(method, "card" | "apple_pay").then(|| {
            if fraudish {
                format!("fp-{:05}", r.gen_range(0..50))
            } else {
                format!("fp-c{customer:07}")
            }
        });
        let elsewhere = COUNTRIES[r.gen_range(0..COUNTRIES.len())];
        OrderEvent {
            event_type: ORDER_EVENT_TYPE.into(),
            event_version: ORDER_EVENT_VERSION,
            order_id: format!("o-{}-{i:09}", self.seed),
            customer_id: format!("c-{customer:07}"),
            created_at: at,
            amount: serde_json::Number::from_f64(cents as f64 / 100.0).expect("finite amount"),
            currency: CURRENCIES[self.currency.sample(r)].0.into(),
            items: r.gen_range(1..=6),
            payment_method: method.into(),
            card_fingerprint: card,
            ip_country: Some(if fraudish { elsewhere } else { home }.into()),
            shipping_country: Some(if fraudish && r.gen_bool(0.5) { elsewhere } else { home }.into()),
            billing_country: Some(home.into()),
            device: Some(DEVICES[self.device.sample(r)].0.into()),
            email_domain: Some(if fraudish { "mailinator.com" } else { DOMAINS[(customer % 5) as usize] }.into()),
        }
    }

    fn malformed(&mut self, i: u64) -> Vec<u8> {
        match self.rng.gen_range(0..4) {
            0 => format!("{{\"event_type\": \"order_created\", \"order_id\": \"bad-{i}\"").into_bytes(),
            1 => vec![0xff, 0xfe, b'{', b'}'],
            2 => format!("{{\"event_type\": \"page_view\", \"event_version\": 1, \"id\": {i}}}").into_bytes(),
            _ => b"{\"event_type\": \"order_created\", \"event_version\": 1, \"amount\": \"lots\"}".to_vec(),
        }
    }
}

async fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().context("cannot create kafka admin client")?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics([&new], &opts).await.context("cannot reach the kafka broker")? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.days < 1 {
        bail!("--days must be at least 1");
    }
    ensure_topic(&args.brokers, &args.topic, args.partitions).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("linger.ms", "20")
        .create()
        .context("cannot create kafka producer")?;

    let end = args.end.unwrap_or_else(|| Utc::now().with_nanosecond_zero());
    let span_ms = args.days * 86_400_000;
    let start = end - ChronoDuration::milliseconds(span_ms);
    let total = args.count + args.invalid;
    let invalid_every = if args.invalid > 0 { total / args.invalid } else { u64::MAX };
    let mut dump = match &args.dump {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };

    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("pulse-gen {bar:40} {pos}/{len} events {per_sec} eta {eta}").expect("template"),
    );
    let mut gen = Generator::new(args.seed, args.count);
    let mut inflight = FuturesUnordered::new();
    let (mut valid, mut bad) = (0u64, 0u64);
    for n in 0..total {
        let (key, payload, is_valid) = if bad < args.invalid && (n + 1) % invalid_every == 0 {
            bad += 1;
            (format!("bad-{bad}"), gen.malformed(bad), false)
        } else {
            let at = start + ChronoDuration::milliseconds((valid as i64 * span_ms) / args.count.max(1) as i64);
            let event = gen.order(valid, at);
            valid += 1;
            (event.customer_id.clone(), serde_json::to_vec(&event)?, true)
        };
        if let Some(d) = dump.as_mut() {
            let line = serde_json::json!({"key": key, "payload": String::from_utf8_lossy(&payload), "valid": is_valid});
            writeln!(d, "{line}")?;
        }
        let producer = producer.clone();
        let topic = args.topic.clone();
        inflight.push(async move {
            let record = FutureRecord::to(&topic).key(&key).payload(&payload);
            producer.send(record, Duration::from_secs(30)).await.map_err(|(e, _)| e)
        });
        // Bounded in-flight window: backpressure instead of unbounded memory.
        if inflight.len() >= 10_000 {
            if let Some(r) = inflight.next().await {
                r.context("delivery failed")?;
                bar.inc(1);
            }
        }
    }
    while let Some(r) = inflight.next().await {
        r.context("delivery failed")?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(mut d) = dump {
        d.flush()?;
    }
    println!(
        "pulse-gen: produced {valid} order events and {bad} malformed messages to topic {} ({} .. {})",
        args.topic,
        start.to_rfc3339(),
        end.to_rfc3339()
    );
    Ok(())
}

trait TruncateNanos {
    fn with_nanosecond_zero(self) -> Self;
}

impl TruncateNanos for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).unwrap_or(self)
    }
}
