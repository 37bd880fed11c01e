//! `pulse-ingest run` settings: a TOML file, overridden by environment variables, overridden by
//! command-line flags. Unknown keys in the file, unknown `PULSE_INGEST_*` variables and librdkafka
//! properties that would break exactly-once are refused at startup, not discovered in production.
use crate::contract::{Family, Limits};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The settings file (`--config FILE`). Every key is optional; see `pulse-ingest run --help`.
///
/// ```toml
/// brokers = "kafka-1:9092,kafka-2:9092"
/// group = "pulse-ingest"
/// topic_prefix = "shop."
/// families = ["orders", "payments"]
/// batch_size = 5000
/// [topics]
/// orders = "legacy-orders"
/// [kafka]
/// "session.timeout.ms" = "10000"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Consumer group; offsets in raw.ingest_offsets are kept per group.
    pub group: String,
    /// Prepended to every family's default topic name (`orders`, `cdc.customers`, ...).
    pub topic_prefix: String,
    /// Families to consume (default: all).
    pub families: Vec<Family>,
    /// Topic per family, replacing prefix + default name.
    pub topics: BTreeMap<Family, String>,
    /// Flush a writer's batch after this many messages.
    pub batch_size: usize,
    /// Flush a non-empty batch after this many milliseconds.
    pub batch_ms: u64,
    /// Writer threads, each with its own Postgres connection; partitions are spread over them.
    pub writers: usize,
    /// Messages buffered per writer; when full the consumer waits (backpressure).
    pub queue_per_writer: usize,
    /// Start partitions with no stored offset at the end instead of the beginning.
    pub start_from_latest: bool,
    /// Larger payloads become dead letters (`oversize_payload`).
    pub max_payload_bytes: usize,
    /// Events older than this many days become dead letters (`absurd_timestamp`).
    pub max_age_days: i64,
    /// Events more than this many hours in the future become dead letters (`absurd_timestamp`).
    pub max_future_hours: i64,
    /// Serve Prometheus metrics on this address (`host:port`); empty disables.
    pub metrics_addr: String,
    /// Run `raw.run_maintenance()` this often unless pg_cron schedules it; 0 disables.
    pub maintenance_interval_secs: u64,
    /// librdkafka consumer properties, passed through as-is.
    pub kafka: BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            brokers: "127.0.0.1:9092".into(),
            group: "pulse-ingest".into(),
            topic_prefix: String::new(),
            families: Family::ALL.to_vec(),
            topics: BTreeMap::new(),
            batch_size: 5000,
            batch_ms: 200,
            writers: 2,
            queue_per_writer: 20_000,
            start_from_latest: false,
            max_payload_bytes: 1 << 20,
            max_age_days: 3 * 366,
            max_future_hours: 24,
            metrics_addr: String::new(),
            maintenance_interval_secs: 600,
            kafka: BTreeMap::new(),
        }
    }
}

/// Properties Pulse sets itself: offsets live in Postgres, so Kafka must never commit on its own.
const RESERVED_KAFKA_PROPERTIES: [(&str, &str); 4] = [
    ("bootstrap.servers", "use brokers / --brokers"),
    ("group.id", "use group / --group"),
    ("enable.auto.commit", "offsets are committed to Postgres with the rows"),
    ("enable.auto.offset.store", "offsets are committed to Postgres with the rows"),
];

/// Environment variables `pulse-ingest` reads; any other `PULSE_INGEST_*` is a typo.
pub const KNOWN_ENV: [&str; 13] = [
    "PULSE_INGEST_CONFIG",
    "PULSE_INGEST_GROUP",
    "PULSE_INGEST_FAMILIES",
    "PULSE_INGEST_BATCH_SIZE",
    "PULSE_INGEST_BATCH_MS",
    "PULSE_INGEST_WRITERS",
    "PULSE_INGEST_QUEUE_PER_WRITER",
    "PULSE_INGEST_MAX_PAYLOAD_BYTES",
    "PULSE_INGEST_METRICS_ADDR",
    "PULSE_INGEST_MAINTENANCE_INTERVAL_SECS",
    "PULSE_INGEST_START_FROM_LATEST",
    "PULSE_INGEST_MAX_AGE_DAYS",
    "PULSE_INGEST_MAX_FUTURE_HOURS",
];

impl Settings {
    /// Reads `path`, or the defaults when there is none.
    pub fn load(path: Option<&Path>) -> Result<Settings> {
        match path {
            None => Ok(Settings::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
                Settings::parse(&text).with_context(|| format!("invalid settings file {}", p.display()))
            }
        }
    }

    pub fn parse(text: &str) -> Result<Settings> {
        Ok(toml::from_str(text)?)
    }

    /// Checks what serde cannot: ranges, duplicate topics, reserved librdkafka properties.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.queue_per_writer == 0 {
            bail!("batch_size and queue_per_writer must be at least 1");
        }
        if !(1..=64).contains(&self.writers) {
            bail!("writers must be between 1 and 64, got {}", self.writers);
        }
        if self.families.is_empty() {
            bail!("families is empty; nothing to consume");
        }
        if !(1..=36_500).contains(&self.max_age_days) || !(0..=87_600).contains(&self.max_future_hours) {
            bail!("max_age_days must be in 1..=36500 and max_future_hours in 0..=87600");
        }
        for (key, why) in RESERVED_KAFKA_PROPERTIES {
            if self.kafka.contains_key(key) {
                bail!("librdkafka property {key} cannot be set: {why}");
            }
        }
        let mut seen = BTreeMap::new();
        for f in &self.families {
            if let Some(other) = seen.insert(self.topic(*f), f) {
                bail!("families {} and {} would read the same topic {}", other.name(), f.name(), self.topic(*f));
            }
        }
        Ok(())
    }

    pub fn topic(&self, family: Family) -> String {
        self.topics.get(&family).cloned().unwrap_or_else(|| format!("{}{}", self.topic_prefix, family.default_topic()))
    }

    /// Topic → family for the selected families.
    pub fn topic_families(&self) -> BTreeMap<String, Family> {
        self.families.iter().map(|f| (self.topic(*f), *f)).collect()
    }

    /// Topic → family for every family, whether consumed or not (dead-letter replay).
    pub fn all_topic_families(&self) -> BTreeMap<String, Family> {
        Family::ALL.iter().map(|f| (self.topic(*f), *f)).collect()
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_payload_bytes: self.max_payload_bytes,
            max_age: chrono::Duration::days(self.max_age_days),
            max_future: chrono::Duration::hours(self.max_future_hours),
        }
    }

    pub fn batch_linger(&self) -> Duration {
        Duration::from_millis(self.batch_ms)
    }
}

/// Refuses `PULSE_INGEST_*` variables that pulse-ingest does not read (a typo would otherwise be
/// silently ignored).
pub fn check_env(vars: impl Iterator<Item = String>) -> Result<()> {
    let unknown: Vec<String> =
        vars.filter(|k| k.starts_with("PULSE_INGEST_") && !KNOWN_ENV.contains(&k.as_str())).collect();
    if !unknown.is_empty() {
        bail!("unknown environment variable(s) {}; known: {}", unknown.join(", "), KNOWN_ENV.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_replace_defaults_and_unknown_keys_fail() {
        let s = Settings::parse(
            "group = \"g\"\ntopic_prefix = \"t.\"\nfamilies = [\"orders\", \"cdc_products\"]\n\
             [topics]\norders = \"legacy\"\n[kafka]\n\"fetch.min.bytes\" = \"1\"\n",
        )
        .unwrap();
        assert_eq!(s.group, "g");
        assert_eq!(s.batch_size, 5000);
        assert_eq!(s.topic(Family::Orders), "legacy");
        assert_eq!(s.topic(Family::CdcProducts), "t.cdc.products");
        assert_eq!(s.topic_families().len(), 2);
        assert_eq!(s.kafka.get("fetch.min.bytes").map(String::as_str), Some("1"));
        s.validate().unwrap();

        let err = Settings::parse("batch_sise = 5").unwrap_err().to_string();
        assert!(err.contains("unknown field `batch_sise`"), "{err}");
        assert!(Settings::parse("families = [\"refunds\"]").is_err());
        assert!(Settings::parse("[topics]\nrefunds = \"x\"").is_err());
    }

    #[test]
    fn validation_refuses_what_would_break_ingestion() {
        let mut s = Settings::default();
        s.kafka.insert("enable.auto.commit".into(), "true".into());
        assert!(s.validate().unwrap_err().to_string().contains("enable.auto.commit"));
        let mut s = Settings::default();
        s.topics.insert(Family::Payments, "orders".into());
        assert!(s.validate().unwrap_err().to_string().contains("same topic"));
        let s = Settings { writers: 0, ..Settings::default() };
        assert!(s.validate().is_err());
    }

    #[test]
    fn unknown_pulse_ingest_variables_are_refused() {
        assert!(check_env(["PULSE_INGEST_GROUP".to_string(), "HOME".to_string()].into_iter()).is_ok());
        let err = check_env(["PULSE_INGEST_BATCHSIZE".to_string()].into_iter()).unwrap_err().to_string();
        assert!(err.contains("PULSE_INGEST_BATCHSIZE"), "{err}");
    }
}
