//! Prometheus metrics, served on `metrics_addr` at `/metrics`. Names and labels are part of the
//! interface (dashboards and alerts use them):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `pulse_ingest_messages_consumed_total` | counter | topic |
//! | `pulse_ingest_rows_landed_total` | counter | table |
//! | `pulse_ingest_dead_letters_total` | counter | topic, error_code |
//! | `pulse_ingest_batch_duration_seconds` | histogram | |
//! | `pulse_ingest_flush_failures_total` | counter | |
//! | `pulse_ingest_lag_messages` | gauge | topic, partition |
use crate::sink::FlushOutcome;
use anyhow::{Context, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::net::SocketAddr;

/// Starts the HTTP exporter on the current tokio runtime.
pub fn install(addr: &str) -> Result<()> {
    let addr: SocketAddr = addr.parse().with_context(|| format!("metrics_addr {addr:?} is not host:port"))?;
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            Matcher::Full("pulse_ingest_batch_duration_seconds".into()),
            &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
        )?
        .install()
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    describe();
    Ok(())
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("pulse_ingest_messages_consumed_total", "messages read from kafka");
    describe_counter!("pulse_ingest_rows_landed_total", "rows committed to postgres");
    describe_counter!("pulse_ingest_dead_letters_total", "messages committed to raw.dead_letters");
    describe_histogram!("pulse_ingest_batch_duration_seconds", Unit::Seconds, "time to land one batch");
    describe_counter!("pulse_ingest_flush_failures_total", "batch flushes that failed and were retried");
    describe_gauge!("pulse_ingest_lag_messages", "broker high watermark minus the next offset landed");
}

/// A cached counter per topic, so the per-message path does no label allocation.
#[derive(Default)]
pub struct ConsumedCounters(std::collections::HashMap<String, metrics::Counter>);

impl ConsumedCounters {
    pub fn increment(&mut self, topic: &str) {
        if let Some(c) = self.0.get(topic) {
            c.increment(1);
            return;
        }
        let c = metrics::counter!("pulse_ingest_messages_consumed_total", "topic" => topic.to_string());
        c.increment(1);
        self.0.insert(topic.to_string(), c);
    }
}

pub fn batch_committed(outcome: &FlushOutcome, seconds: f64) {
    metrics::histogram!("pulse_ingest_batch_duration_seconds").record(seconds);
    for (table, n) in &outcome.landed {
        metrics::counter!("pulse_ingest_rows_landed_total", "table" => *table).increment(*n as u64);
    }
    for ((topic, code), n) in &outcome.dead_lettered {
        metrics::counter!("pulse_ingest_dead_letters_total", "topic" => topic.clone(), "error_code" => *code)
            .increment(*n as u64);
    }
}

pub fn flush_failed() {
    metrics::counter!("pulse_ingest_flush_failures_total").increment(1);
}

pub fn lag(topic: &str, partition: i32, lag: i64) {
    metrics::gauge!("pulse_ingest_lag_messages", "topic" => topic.to_string(), "partition" => partition.to_string())
        .set(lag as f64);
}
