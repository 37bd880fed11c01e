//! Kafka side: a consumer context that seeks to the offsets stored in Postgres whenever
//! partitions are assigned, and the run loop that batches messages and flushes them.
use crate::contract::{decode, Event, Family, Limits};
use crate::db;
use crate::sink::{Batch, DeadLetter, Landed, Sink, Source};
use anyhow::{Context as _, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
}

impl ClientContext for IngestContext {}

impl ConsumerContext for IngestContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let parts: Partitions = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
                match self.lookup.fetch(parts.clone()) {
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
                    // Falling back to Kafka's committed offsets is still exactly once: they never
                    // run ahead of Postgres, and each flush skips what is already landed.
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
                info!(count = tpl.count(), "partitions revoked");
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

/// Settings of the run loop.
pub struct RunOptions {
    pub brokers: String,
    pub group: String,
    pub topics: Vec<String>,
    pub batch_size: usize,
    pub batch_linger: Duration,
    pub start_from_latest: bool,
    pub kafka_properties: Vec<(String, String)>,
    pub limits: Limits,
}

/// Consumes until SIGTERM/SIGINT, then flushes what it holds and returns.
pub async fn run(opts: RunOptions, pg: PgConfig) -> Result<()> {
    let shutdown = Arc::new(AtomicBool::new(false));
    spawn_signal_listener(shutdown.clone())?;

    let lookup = OffsetLookup::spawn(pg.clone(), opts.group.clone());
    let start_from = if opts.start_from_latest { Offset::End } else { Offset::Beginning };
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &opts.brokers)
        .set("group.id", &opts.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", if opts.start_from_latest { "latest" } else { "earliest" })
        .set("enable.partition.eof", "false");
    for (k, v) in &opts.kafka_properties {
        cfg.set(k, v);
    }
    let consumer: StreamConsumer<IngestContext> =
        cfg.create_with_context(IngestContext { lookup, start_from }).context("cannot create kafka consumer")?;
    let topics: Vec<&str> = opts.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).context("cannot subscribe")?;
    info!(topics = ?opts.topics, group = %opts.group, brokers = %opts.brokers, "consuming");

    let mut sink = Sink::new(db::connect(&pg).await?, &opts.group);
    let mut batch = Batch::default();
    let mut tick = tokio::time::interval(opts.batch_linger.max(Duration::from_millis(10)) / 2);
    while !shutdown.load(Ordering::SeqCst) {
        tokio::select! {
            msg = consumer.recv() => match msg {
                Ok(m) => {
                    accept(&mut batch, &m, &opts.limits);
                    if batch.len() >= opts.batch_size {
                        flush(&mut sink, &mut batch, &consumer, &pg, &shutdown).await?;
                    }
                }
                // librdkafka reconnects by itself; an unreachable broker only delays us.
                Err(e) => warn!(error_code = "kafka_error", error = %e, "kafka consumer error"),
            },
            _ = tick.tick() => {
                if batch.started.is_some_and(|t| t.elapsed() >= opts.batch_linger) {
                    flush(&mut sink, &mut batch, &consumer, &pg, &shutdown).await?;
                }
            }
        }
    }
    info!(pending = batch.len(), "shutting down; final flush");
    flush(&mut sink, &mut batch, &consumer, &pg, &shutdown).await?;
    consumer.unsubscribe();
    Ok(())
}

fn spawn_signal_listener(flag: Arc<AtomicBool>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        flag.store(true, Ordering::SeqCst);
    });
    Ok(())
}

fn accept<M: Message>(batch: &mut Batch, m: &M, limits: &Limits) {
    let source = Source { topic: m.topic().to_string(), partition: m.partition(), offset: m.offset() };
    let key = m.key().map(<[u8]>::to_vec);
    // Raw bytes are kept with each row so that a row Postgres refuses can still be dead-lettered.
    let payload = m.payload().map(<[u8]>::to_vec);
    match decode(Family::Orders, m.payload(), limits, chrono::Utc::now()) {
        Ok(Event::Order(row)) => batch.push_row(Landed { source, key, payload, row }),
        Ok(_) => unreachable!("the orders family decodes to orders"),
        Err(rejection) => {
            warn!(error_code = rejection.code, topic = %source.topic, partition = source.partition,
                  offset = source.offset, reason = %rejection.message, "dead-lettered");
            batch.push_dead(DeadLetter { source, key, payload, rejection });
        }
    }
}

/// Flushes with retry and backoff: a lost Postgres connection is re-established and the same
/// batch is written again (nothing was committed, so nothing duplicates). Gives up only on
/// shutdown, leaving the batch to be re-read from the stored offsets next time.
async fn flush(
    sink: &mut Sink,
    batch: &mut Batch,
    consumer: &StreamConsumer<IngestContext>,
    pg: &PgConfig,
    shutdown: &AtomicBool,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut delay = Duration::from_millis(250);
    loop {
        let started = std::time::Instant::now();
        match sink.flush(batch).await {
            Ok(outcome) => {
                info!(
                    landed = outcome.landed,
                    dead_lettered = outcome.dead_lettered,
                    skipped_already_landed = outcome.skipped_already_landed,
                    ms = started.elapsed().as_millis() as u64,
                    "batch committed"
                );
                commit_to_kafka(consumer, &outcome.next_offsets);
                *batch = Batch::default();
                return Ok(());
            }
            Err(e) => {
                error!(
                    error_code = "flush_failed",
                    error = format!("{e:#}"),
                    retry_in_ms = delay.as_millis() as u64,
                    "batch not landed"
                );
                if shutdown.load(Ordering::SeqCst) {
                    anyhow::bail!(
                        "shutting down with {} messages not landed; they will be re-read from the stored offsets",
                        batch.len()
                    );
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
                if sink.client.is_closed() {
                    match db::connect(pg).await {
                        Ok(c) => sink.client = c,
                        Err(e) => warn!(error_code = "pg_reconnect_failed", error = %e, "still cannot reach postgres"),
                    }
                }
            }
        }
    }
}

/// Tells Kafka how far we are, for lag tooling only: Postgres holds the offsets that count.
fn commit_to_kafka(consumer: &StreamConsumer<IngestContext>, next: &[(String, i32, i64)]) {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, offset) in next {
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset));
    }
    if tpl.count() > 0 {
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            warn!(error_code = "kafka_commit_failed", error = %e, "informational kafka commit failed");
        }
    }
}
