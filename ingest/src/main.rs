//! pulse-ingest: Kafka → PostgreSQL, exactly once. See `pulse-ingest --help`.
use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use pulse_ingest::{consumer, contract::Limits, db, lag, migrate};
use std::path::PathBuf;
use std::time::Duration;

/// Lands Kafka events into day-partitioned PostgreSQL tables exactly once.
///
/// PostgreSQL is reached through --database-url or the libpq variables PGHOST, PGPORT, PGUSER,
/// PGPASSWORD and PGDATABASE. Logs are JSON lines on stderr (RUST_LOG sets the level).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// PostgreSQL URL, e.g. postgresql://postgres@127.0.0.1:5432/pulse (default: libpq variables).
    #[arg(long, env = "PULSE_DATABASE_URL", global = true)]
    database_url: Option<String>,

    /// Log format: json (for log shippers) or text (for people).
    #[arg(long, env = "PULSE_LOG_FORMAT", default_value = "json", global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

/// Where to consume from; shared by `run` and `lag`.
#[derive(clap::Args)]
struct KafkaArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "PULSE_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Consumer group; offsets in raw.ingest_offsets are kept per group.
    #[arg(long, env = "PULSE_INGEST_GROUP", default_value = "pulse-ingest")]
    group: String,
    /// Topic to consume (repeatable or comma-separated). Only `orders` has a contract so far.
    #[arg(long = "topic", env = "PULSE_INGEST_TOPICS", value_delimiter = ',', default_value = "orders")]
    topics: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume topics and land events until SIGTERM/SIGINT (then flush and exit 0).
    Run {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Flush after this many messages.
        #[arg(long, env = "PULSE_INGEST_BATCH_SIZE", default_value_t = 5000)]
        batch_size: usize,
        /// Flush a non-empty batch after this many milliseconds.
        #[arg(long, env = "PULSE_INGEST_BATCH_MS", default_value_t = 200)]
        batch_ms: u64,
        /// Start partitions with no stored offset at the end instead of the beginning.
        #[arg(long)]
        start_from_latest: bool,
        /// Reject payloads larger than this many bytes (dead letter `oversize_payload`).
        #[arg(long, default_value_t = 1 << 20)]
        max_payload_bytes: usize,
        /// librdkafka property passed through as-is, e.g. -X fetch.min.bytes=65536 (repeatable).
        #[arg(short = 'X', long = "kafka-property", value_parser = parse_property)]
        kafka_properties: Vec<(String, String)>,
    },
    /// Show how far the stored offsets are behind the broker; --wait blocks until caught up.
    Lag {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Wait, with a progress bar, until every partition has lag 0.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds (exit code 1).
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Apply the platform migrations (raw tables, offsets, dead letters) in order, once each.
    Migrate {
        /// Directory of NNNN_description.sql files.
        #[arg(long, env = "PULSE_MIGRATIONS_DIR", default_value = "migrations")]
        dir: PathBuf,
    },
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match cli.log_format {
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init(),
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init(),
    }
    let pg = db::config(cli.database_url.as_deref())?;
    match cli.command {
        Command::Migrate { dir } => {
            let migrations = migrate::discover(&dir)?;
            if migrations.is_empty() {
                bail!("no migrations found in {}", dir.display());
            }
            let mut client = db::connect(&pg).await?;
            let applied = migrate::apply(&mut client, &migrations).await?;
            println!("migrations: {} applied, {} already present", applied.len(), migrations.len() - applied.len());
            for v in applied {
                println!("  applied {v}");
            }
        }
        Command::Lag { kafka: KafkaArgs { brokers, group, topics }, wait, timeout_secs } => {
            let client = db::connect(&pg).await?;
            let probe = lag::LagProbe::new(&brokers)?;
            if wait {
                wait_for_zero_lag(&client, &probe, &group, &topics, Duration::from_secs(timeout_secs)).await?;
            }
            let lags = probe.lag(&client, &group, &topics).await?;
            println!(
                "{:<24} {:>9} {:>14} {:>14} {:>10}",
                "topic", "partition", "high_watermark", "stored_offset", "lag"
            );
            for l in &lags {
                println!(
                    "{:<24} {:>9} {:>14} {:>14} {:>10}",
                    l.topic,
                    l.partition,
                    l.high_watermark,
                    l.stored,
                    l.lag()
                );
            }
        }
        Command::Run {
            kafka: KafkaArgs { brokers, group, topics },
            batch_size,
            batch_ms,
            start_from_latest,
            max_payload_bytes,
            kafka_properties,
        } => {
            if batch_size == 0 {
                bail!("--batch-size must be at least 1");
            }
            let opts = consumer::RunOptions {
                brokers,
                group,
                topics,
                batch_size,
                batch_linger: Duration::from_millis(batch_ms),
                start_from_latest,
                kafka_properties,
                limits: Limits { max_payload_bytes, ..Limits::default() },
            };
            if let Err(e) = consumer::run(opts, pg).await {
                tracing::error!(error_code = "ingest_failed", error = format!("{e:#}"), "pulse-ingest stopped");
                return Err(e);
            }
        }
    }
    Ok(())
}

async fn wait_for_zero_lag(
    client: &tokio_postgres::Client,
    probe: &lag::LagProbe,
    group: &str,
    topics: &[String],
    timeout: Duration,
) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("landed {bar:40} {pos}/{len} messages {per_sec} eta {eta}")
            .expect("template"),
    );
    loop {
        let lags = probe.lag(client, group, topics).await?;
        let total: i64 = lags.iter().map(|l| l.high_watermark).sum();
        let behind: i64 = lags.iter().map(|l| l.lag()).sum();
        bar.set_length(total as u64);
        bar.set_position((total - behind) as u64);
        if behind == 0 {
            bar.finish_and_clear();
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            bar.abandon();
            bail!("still {behind} messages behind after {}s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
