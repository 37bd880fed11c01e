//! Kafka side: a consumer context that seeks to the offsets stored in Postgres whenever
//! partitions are assigned and has the writers land everything before partitions are revoked,
//! and the `tokio::select!` loop that hands messages to the writers until SIGTERM/SIGINT.
use crate::config::Settings;
use crate::contract::Family;
use crate::db;
use crate::metrics::{self, ConsumedCounters};
use crate::sink::Source;
use crate::writer::{Message as WriterMessage, Shared, WriterOptions, Writers};
use anyhow::{Context as _, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio_postgres::Config as PgConfig;
use tracing::{error, info, warn};

type Partitions = Vec<(String, i32)>;
type Offsets = HashMap<(String, i32), i64>;
type LookupRequest = (Partitions, mpsc::Sender<Result<Offsets>>);

/// Reads stored offsets for the rebalance callback. librdkafka calls it synchronously from
/// inside `recv()`, so the lookup runs on its own thread with its own runtime and connection.
#[derive(Clone)]
pub struct OffsetLookup {
    requests: mpsc::Sender<LookupRequest>,
}

impl OffsetLookup {
    pub fn spawn(pg: PgConfig, group: String) -> Self {
        let (tx, rx) = mpsc::channel::<LookupRequest>();
        std::thread::Builder::new()
            .name("offset-lookup".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
                let mut client = None;
                for (partitions, reply) in rx {
                    let result = rt.block_on(async {
                        if client.as_ref().is_none_or(|c: &tokio_postgres::Client| c.is_closed()) {
                            client = Some(db::connect(&pg).await?);
                        }
                        let c = client.as_ref().expect("connected above");
                        let rows = c
                            .query(
                                "select topic, partition, next_offset from raw.ingest_offsets where consumer_group = $1",
                                &[&group],
                            )
                            .await?;
                        let all: Offsets = rows.iter().map(|r| ((r.get(0), r.get(1)), r.get(2))).collect();
                        Ok(partitions.into_iter().filter_map(|k| all.get(&k).map(|o| (k, *o))).collect())
                    });
                    let _ = reply.send(result);
                }
            })
            .expect("spawn offset lookup thread");
        OffsetLookup { requests: tx }
    }

    /// Retries for up to a minute: the rebalance can wait that long, a guess cannot be undone.
    fn fetch_with_retry(&self, partitions: Partitions) -> Result<Offsets> {
        let mut attempt = 0;
        loop {
            match self.fetch(partitions.clone()) {
                Ok(o) => return Ok(o),
                Err(e) if attempt < 12 => {
                    warn!(error_code = "offset_lookup_failed", error = %e, attempt, "retrying the stored offsets lookup");
                    attempt += 1;
                    std::thread::sleep(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn fetch(&self, partitions: Partitions) -> Result<Offsets> {
        let (tx, rx) = mpsc::channel();
        self.requests.send((partitions, tx)).context("offset lookup thread is gone")?;
        rx.recv_timeout(Duration::from_secs(30)).context("offset lookup timed out")?
    }
}

pub struct IngestContext {
    lookup: OffsetLookup,
    /// Where to start a partition that has no stored offset.
    start_from: Offset,
    writers: Arc<Writers>,
    shared: Arc<Shared>,
}

impl ClientContext for IngestContext {
    /// librdkafka statistics (every `statistics.interval.ms`) carry each partition's high
    /// watermark; lag is measured against what is landed in Postgres, not what was fetched.
    fn stats(&self, stats: Statistics) {
        let landed = self.shared.landed.lock().expect("landed lock");
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                if let Some(next) = landed.get(&(topic.clone(), *partition)) {
                    if p.hi_offset >= 0 {
                        metrics::lag(topic, *partition, (p.hi_offset - next).max(0));
                    }
                }
            }
        }
    }
}

impl ConsumerContext for IngestContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let parts: Partitions = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
                match self.lookup.fetch_with_retry(parts.clone()) {
                    Ok(stored) => {
                        for (topic, partition) in &parts {
                            let offset = stored
                                .get(&(topic.clone(), *partition))
                                .map_or(self.start_from, |o| Offset::Offset(*o));
                            if let Err(e) = tpl.set_partition_offset(topic, *partition, offset) {
                                warn!(error_code = "seek_failed", %topic, partition, error = %e, "cannot set start offset");
                            }
                        }
                        info!(partitions = ?parts, stored = ?stored, "assigned; starting at stored offsets");
                    }
                    // Kafka's committed offsets never run ahead of Postgres, and each flush skips
                    // what is already landed, so falling back to them is safe, unless a partition
                    // has none and auto.offset.reset would jump to the end: then events between the
                    // stored offset and the end would be skipped. Exit instead, and let the
                    // supervisor restart us once Postgres answers.
                    Err(e) if matches!(self.start_from, Offset::End) => {
                        error!(error_code = "offset_lookup_failed", error = %e,
                               "cannot read the stored offsets and would start at the end; exiting rather than skip events");
                        std::process::exit(3);
                    }
                    Err(e) => {
                        error!(error_code = "offset_lookup_failed", error = %e, "assigned; using kafka committed offsets")
                    }
                }
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                // Land what we hold before the partitions move, so the next owner starts where we
                // stopped instead of re-reading (correct either way, thanks to the offset locks).
                self.writers.flush_all(Duration::from_secs(30));
                // Another member owns them now: stop reporting a frozen lag for them.
                let mut landed = self.shared.landed.lock().expect("landed lock");
                for e in tpl.elements() {
                    if landed.remove(&(e.topic().to_string(), e.partition())).is_some() {
                        metrics::lag(e.topic(), e.partition(), 0);
                    }
                }
                drop(landed);
                info!(count = tpl.count(), "partitions revoked after flushing");
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                error!(error_code = "rebalance_error", error = ?other, "rebalance error; dropping assignment");
                consumer.unassign()
            }
        };
        if let Err(e) = result {
            error!(error_code = "assign_failed", error = %e, "cannot apply rebalance");
        }
    }
}

/// Consumes until SIGTERM/SIGINT, then has the writers land what they hold and returns.
pub async fn run(settings: Settings, pg: PgConfig) -> Result<()> {
    let shared = Arc::new(Shared::default());
    spawn_signal_listener(shared.clone())?;
    if !settings.metrics_addr.is_empty() {
        metrics::install(&settings.metrics_addr)?;
        info!(addr = %settings.metrics_addr, "serving prometheus metrics at /metrics");
    }
    if settings.maintenance_interval_secs > 0 {
        crate::maintenance::spawn(pg.clone(), Duration::from_secs(settings.maintenance_interval_secs));
    }
    let topic_families: BTreeMap<String, Family> = settings.topic_families();

    let writers = Arc::new(Writers::spawn(
        settings.writers,
        WriterOptions {
            group: settings.group.clone(),
            batch_size: settings.batch_size,
            batch_linger: settings.batch_linger(),
            limits: settings.limits(),
            queue: settings.queue_per_writer,
        },
        pg.clone(),
        shared.clone(),
    )?);
    let lookup = OffsetLookup::spawn(pg.clone(), settings.group.clone());
    let start_from = if settings.start_from_latest { Offset::End } else { Offset::Beginning };
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &settings.brokers)
        .set("group.id", &settings.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", if settings.start_from_latest { "latest" } else { "earliest" })
        .set("enable.partition.eof", "false")
        .set("statistics.interval.ms", "5000")
        // Topics created after we subscribed (a new family, a fresh deployment) are picked up
        // within seconds instead of librdkafka's default five minutes.
        .set("topic.metadata.refresh.interval.ms", "10000");
    for (k, v) in &settings.kafka {
        cfg.set(k, v);
    }
    let context = IngestContext { lookup, start_from, writers: writers.clone(), shared: shared.clone() };
    let consumer: StreamConsumer<IngestContext> =
        cfg.create_with_context(context).context("cannot create the kafka consumer (check the kafka properties)")?;
    let topics: Vec<&str> = topic_families.keys().map(String::as_str).collect();
    consumer.subscribe(&topics).context("cannot subscribe")?;
    info!(topics = ?topics, group = %settings.group, brokers = %settings.brokers, writers = settings.writers, "consuming");

    let mut counters = ConsumedCounters::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut result = Ok(());
    while !shared.shutdown.load(Ordering::SeqCst) {
        tokio::select! {
            msg = consumer.recv() => match msg {
                Ok(m) => {
                    counters.increment(m.topic());
                    let Some(family) = topic_families.get(m.topic()) else { continue };
                    let message = WriterMessage {
                        family: *family,
                        source: Source { topic: m.topic().to_string(), partition: m.partition(), offset: m.offset() },
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().map(<[u8]>::to_vec),
                    };
                    // Blocks while the writer's queue is full: backpressure on the broker.
                    if let Err(e) = writers.send(message) {
                        result = Err(e);
                        break;
                    }
                }
                // librdkafka reconnects by itself; an unreachable broker only delays us.
                Err(e) => warn!(error_code = "kafka_error", error = %e, "kafka consumer error"),
            },
            _ = tick.tick() => commit_to_kafka(&consumer, &shared),
        }
    }
    shared.shutdown.store(true, Ordering::SeqCst);
    info!("shutting down; final flush");
    let stopped = writers.stop();
    commit_to_kafka(&consumer, &shared);
    consumer.unsubscribe();
    result.and(stopped)
}

fn spawn_signal_listener(shared: Arc<Shared>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        shared.shutdown.store(true, Ordering::SeqCst);
    });
    Ok(())
}

/// Tells Kafka how far we are, for lag tooling only: Postgres holds the offsets that count.
fn commit_to_kafka(consumer: &StreamConsumer<IngestContext>, shared: &Shared) {
    let next: Vec<(String, i32, i64)> = std::mem::take(&mut *shared.to_commit.lock().expect("commit lock"));
    let mut latest: HashMap<(String, i32), i64> = HashMap::new();
    for (t, p, o) in next {
        let e = latest.entry((t, p)).or_insert(o);
        *e = (*e).max(o);
    }
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in latest {
        let _ = tpl.add_partition_offset(&topic, partition, Offset::Offset(offset));
    }
    if tpl.count() > 0 {
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            warn!(error_code = "kafka_commit_failed", error = %e, "informational kafka commit failed");
        }
    }
}
