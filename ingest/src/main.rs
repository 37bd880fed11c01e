//! pulse-ingest: Kafka → PostgreSQL, exactly once. See `pulse-ingest --help`.
use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use pulse_ingest::config::{check_env, Settings};
use pulse_ingest::contract::{Family, ERROR_CODES};
use pulse_ingest::kafka::parse_property;
use pulse_ingest::{consumer, db, dlq, lag, migrate, sink::Sink};
use std::path::PathBuf;
use std::time::Duration;

/// Lands Kafka events into day-partitioned PostgreSQL tables exactly once.
///
/// Event families and their default topics: clickstream, orders, payments, inventory, exposures
/// (raw.<family>), cdc_customers (cdc.customers → raw.customers) and cdc_products (cdc.products →
/// raw.products), both with history in raw.cdc_changes.
///
/// Settings come from, in increasing precedence: built-in defaults, the TOML file given with
/// --config, environment variables, flags. Unknown keys in the file and unknown PULSE_INGEST_*
/// variables are errors. PostgreSQL is reached through --database-url or the libpq variables
/// PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE. Logs are JSON lines on stderr (RUST_LOG sets
/// the level) with a stable error_code on every warning and error.
///
/// Dead-letter error codes: missing_payload, oversize_payload, invalid_utf8, malformed_json,
/// unknown_event_type, contract_violation, absurd_timestamp, db_rejected.
#[derive(Parser)]
#[command(version, about, long_about)]
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

/// Settings shared by `run`, `lag` and `dlq`; each overrides the settings file.
#[derive(clap::Args)]
struct SettingsArgs {
    /// TOML settings file (keys as the long flags with _ for -, plus [topics] and [kafka] tables).
    #[arg(long, env = "PULSE_INGEST_CONFIG")]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers [default: 127.0.0.1:9092].
    #[arg(long, env = "PULSE_KAFKA_BROKERS")]
    brokers: Option<String>,
    /// Consumer group; offsets in raw.ingest_offsets are kept per group [default: pulse-ingest].
    #[arg(long, env = "PULSE_INGEST_GROUP")]
    group: Option<String>,
    /// Prefix of every default topic name, e.g. "shop." reads shop.orders, shop.cdc.customers.
    #[arg(long, env = "PULSE_TOPIC_PREFIX")]
    topic_prefix: Option<String>,
    /// Families to consume, comma-separated [default: all].
    #[arg(long, env = "PULSE_INGEST_FAMILIES", value_delimiter = ',')]
    families: Option<Vec<Family>>,
    /// Topic of a family, replacing prefix + default name, e.g. --topic orders=legacy-orders (repeatable).
    #[arg(long = "topic", value_parser = parse_topic)]
    topics: Vec<(Family, String)>,
    /// Dead-letter events older than this many days as absurd_timestamp [default: 1098].
    #[arg(long, env = "PULSE_INGEST_MAX_AGE_DAYS")]
    max_age_days: Option<i64>,
    /// Dead-letter events more than this many hours in the future as absurd_timestamp [default: 24].
    #[arg(long, env = "PULSE_INGEST_MAX_FUTURE_HOURS")]
    max_future_hours: Option<i64>,
    /// Dead-letter payloads larger than this many bytes as oversize_payload [default: 1048576].
    #[arg(long, env = "PULSE_INGEST_MAX_PAYLOAD_BYTES")]
    max_payload_bytes: Option<usize>,
}

impl SettingsArgs {
    fn resolve(self) -> Result<Settings> {
        check_env(std::env::vars().map(|(k, _)| k))?;
        let mut s = Settings::load(self.config.as_deref())?;
        macro_rules! over {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { s.$field = v; } )* };
        }
        over!(brokers, group, topic_prefix, families, max_age_days, max_future_hours, max_payload_bytes);
        s.topics.extend(self.topics);
        Ok(s)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Consume every family's topic and land events until SIGTERM/SIGINT (then flush and exit 0).
    Run {
        #[command(flatten)]
        settings: SettingsArgs,
        /// Flush a writer's batch after this many messages [default: 5000].
        #[arg(long, env = "PULSE_INGEST_BATCH_SIZE")]
        batch_size: Option<usize>,
        /// Flush a non-empty batch after this many milliseconds [default: 200].
        #[arg(long, env = "PULSE_INGEST_BATCH_MS")]
        batch_ms: Option<u64>,
        /// Writer threads (each with a Postgres connection); partitions are spread over them [default: 2].
        #[arg(long, env = "PULSE_INGEST_WRITERS")]
        writers: Option<usize>,
        /// Messages buffered per writer before the consumer waits (backpressure) [default: 20000].
        #[arg(long, env = "PULSE_INGEST_QUEUE_PER_WRITER")]
        queue_per_writer: Option<usize>,
        /// Start partitions with no stored offset at the end instead of the beginning.
        #[arg(long, env = "PULSE_INGEST_START_FROM_LATEST")]
        start_from_latest: bool,
        /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9187 [default: off].
        #[arg(long, env = "PULSE_INGEST_METRICS_ADDR")]
        metrics_addr: Option<String>,
        /// Run raw.run_maintenance() this often unless pg_cron schedules it; 0 disables [default: 600].
        #[arg(long, env = "PULSE_INGEST_MAINTENANCE_INTERVAL_SECS")]
        maintenance_interval_secs: Option<u64>,
        /// librdkafka property passed through as-is, e.g. -X fetch.min.bytes=65536 (repeatable;
        /// overrides the [kafka] table of the settings file).
        #[arg(short = 'X', long = "kafka-property", value_parser = parse_property)]
        kafka_properties: Vec<(String, String)>,
    },
    /// Show how far the stored offsets are behind the broker; --wait blocks until caught up.
    Lag {
        #[command(flatten)]
        settings: SettingsArgs,
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
    /// Inspect and replay dead letters.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Dead letters per topic and error code, still dead and replayed.
    Stats,
    /// Decode dead letters again with the current contracts and land those that pass; the others
    /// stay dead with replay_error set. Run it after fixing the cause (a contract, a constraint).
    Replay {
        #[command(flatten)]
        settings: SettingsArgs,
        /// Only dead letters with this error code.
        #[arg(long)]
        error_code: Option<String>,
        /// Only dead letters from this topic.
        #[arg(long = "from-topic")]
        from_topic: Option<String>,
        /// At most this many dead letters.
        #[arg(long)]
        limit: Option<i64>,
        /// Show what would land, then roll back.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_topic(s: &str) -> Result<(Family, String), String> {
    let (family, topic) = parse_property(s)?;
    let family = Family::from_name(&family).ok_or_else(|| format!("unknown family {family:?}"))?;
    Ok((family, topic))
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
        Command::Lag { settings, wait, timeout_secs } => {
            let s = settings.resolve()?;
            let topics: Vec<String> = s.topic_families().into_keys().collect();
            let client = db::connect(&pg).await?;
            let probe = lag::LagProbe::new(&s.brokers)?;
            if wait {
                wait_for_zero_lag(&client, &probe, &s.group, &topics, Duration::from_secs(timeout_secs)).await?;
            }
            let lags = probe.lag(&client, &s.group, &topics).await?;
            println!(
                "{:<28} {:>9} {:>14} {:>14} {:>10}",
                "topic", "partition", "high_watermark", "stored_offset", "lag"
            );
            for l in &lags {
                println!(
                    "{:<28} {:>9} {:>14} {:>14} {:>10}",
                    l.topic,
                    l.partition,
                    l.high_watermark,
                    l.stored,
                    l.lag()
                );
            }
        }
        Command::Run {
            settings,
            batch_size,
            batch_ms,
            writers,
            queue_per_writer,
            start_from_latest,
            metrics_addr,
            maintenance_interval_secs,
            kafka_properties,
        } => {
            let mut s = settings.resolve()?;
            macro_rules! over {
                ($($field:ident),*) => { $( if let Some(v) = $field { s.$field = v; } )* };
            }
            over!(batch_size, batch_ms, writers, queue_per_writer, metrics_addr, maintenance_interval_secs);
            s.start_from_latest |= start_from_latest;
            s.kafka.extend(kafka_properties);
            s.validate()?;
            if let Err(e) = consumer::run(s, pg).await {
                tracing::error!(error_code = "ingest_failed", error = format!("{e:#}"), "pulse-ingest stopped");
                return Err(e);
            }
        }
        Command::Dlq { command: DlqCommand::Stats } => {
            let client = db::connect(&pg).await?;
            println!("{:<28} {:<20} {:>8} {:>9}", "topic", "error_code", "dead", "replayed");
            for (topic, code, dead, replayed) in dlq::stats(&client).await? {
                println!("{topic:<28} {code:<20} {dead:>8} {replayed:>9}");
            }
        }
        Command::Dlq { command: DlqCommand::Replay { settings, error_code, from_topic, limit, dry_run } } => {
            let s = settings.resolve()?;
            if let Some(code) = &error_code {
                if !ERROR_CODES.contains(&code.as_str()) {
                    bail!("unknown error code {code:?}; known: {}", ERROR_CODES.join(", "));
                }
            }
            let mut sink = Sink::new(db::connect(&pg).await?, &s.group);
            let filter = dlq::ReplayFilter { error_code, topic: from_topic, limit, dry_run };
            let report = dlq::replay(&mut sink, &s, &filter).await?;
            let landed: usize = report.landed.values().sum();
            let dead: usize = report.still_dead.values().sum();
            println!(
                "dlq replay{}: {} examined, {landed} landed, {dead} still dead",
                if dry_run { " (dry run, rolled back)" } else { "" },
                report.examined
            );
            for (table, n) in &report.landed {
                println!("  landed {n} in {table}");
            }
            for (code, n) in &report.still_dead {
                println!("  still dead: {n} {code}");
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
