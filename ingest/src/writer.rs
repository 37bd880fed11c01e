//! Writer threads: each owns a Postgres connection and the partitions hashed to it, decodes their
//! messages, batches them by size and time, and lands each batch with its offsets.
//!
//! The consumer hands messages over through bounded queues, so a slow or unreachable database
//! slows consumption down (backpressure) instead of growing memory. Writers are plain threads
//! so that the rebalance callback, which librdkafka runs synchronously, can wait for a flush.
use crate::contract::{decode, Family, Limits};
use crate::db;
use crate::metrics;
use crate::sink::{Batch, DeadLetter, Landed, Sink, Source};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio_postgres::Config as PgConfig;
use tracing::{error, info, warn};

/// A consumed message, not yet decoded.
pub struct Message {
    pub family: Family,
    pub source: Source,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

enum Work {
    Message(Message),
    /// Flush now and acknowledge (partitions are about to be revoked).
    Flush(mpsc::Sender<()>),
}

/// State the writers share with the consumer loop.
#[derive(Default)]
pub struct Shared {
    pub shutdown: AtomicBool,
    /// Next offset landed per (topic, partition), for lag metrics.
    pub landed: Mutex<HashMap<(String, i32), i64>>,
    /// Offsets landed since the consumer last told Kafka (informational commit).
    pub to_commit: Mutex<Vec<(String, i32, i64)>>,
}

#[derive(Clone)]
pub struct WriterOptions {
    pub group: String,
    pub batch_size: usize,
    pub batch_linger: Duration,
    pub limits: Limits,
    pub queue: usize,
}

pub struct Writers {
    senders: Mutex<Vec<SyncSender<Work>>>,
    handles: Mutex<Vec<JoinHandle<Result<()>>>>,
}

impl Writers {
    pub fn spawn(n: usize, opts: WriterOptions, pg: PgConfig, shared: Arc<Shared>) -> Result<Writers> {
        let mut senders = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for id in 0..n {
            let (tx, rx) = mpsc::sync_channel(opts.queue);
            let (opts, pg, shared) = (opts.clone(), pg.clone(), shared.clone());
            let handle = std::thread::Builder::new()
                .name(format!("writer-{id}"))
                .spawn(move || writer_main(id, rx, opts, pg, shared))
                .context("cannot start a writer thread")?;
            senders.push(tx);
            handles.push(handle);
        }
        Ok(Writers { senders: Mutex::new(senders), handles: Mutex::new(handles) })
    }

    /// Queues a message for the writer owning its partition; blocks while that queue is full.
    pub fn send(&self, m: Message) -> Result<()> {
        let senders = self.senders.lock().expect("writers lock");
        if senders.is_empty() {
            bail!("writers are stopped");
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&m.source.topic, m.source.partition).hash(&mut h);
        let sender = senders[(h.finish() % senders.len() as u64) as usize].clone();
        drop(senders);
        sender.send(Work::Message(m)).context("a writer stopped (see its error above)")
    }

    /// Asks every writer to land what it holds and waits for them (bounded by `timeout`).
    pub fn flush_all(&self, timeout: Duration) {
        let senders: Vec<SyncSender<Work>> = self.senders.lock().expect("writers lock").clone();
        let (ack_tx, ack_rx) = mpsc::channel();
        let deadline = std::time::Instant::now() + timeout;
        // try_send: a full queue (backpressure, a database outage) must not hold the rebalance
        // callback past its deadline.
        let mut asked = 0;
        for s in &senders {
            let mut work = Work::Flush(ack_tx.clone());
            loop {
                match s.try_send(work) {
                    Ok(()) => {
                        asked += 1;
                        break;
                    }
                    Err(mpsc::TrySendError::Full(w)) if std::time::Instant::now() < deadline => {
                        work = w;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        }
        for _ in 0..asked {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if ack_rx.recv_timeout(left).is_err() {
                warn!(
                    error_code = "revoke_flush_timeout",
                    "writers did not flush in time; the next owner re-reads from the stored offsets"
                );
                return;
            }
        }
    }

    /// Closes the queues; each writer lands what it holds and exits. Returns the first error.
    pub fn stop(&self) -> Result<()> {
        self.senders.lock().expect("writers lock").clear();
        let handles: Vec<_> = self.handles.lock().expect("writers lock").drain(..).collect();
        let mut first = Ok(());
        for h in handles {
            let r = h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a writer thread panicked")));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

fn writer_main(
    id: usize,
    rx: mpsc::Receiver<Work>,
    opts: WriterOptions,
    pg: PgConfig,
    shared: Arc<Shared>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut w = Writer { id, opts, pg, shared, sink: None, batch: Batch::default() };
        loop {
            let wait = match w.batch.started {
                Some(t) => w.opts.batch_linger.saturating_sub(t.elapsed()),
                None => Duration::from_secs(1),
            };
            match rx.recv_timeout(wait) {
                Ok(Work::Message(m)) => {
                    w.accept(m);
                    // Under a steady stream recv never times out, so the age of the batch is
                    // checked here too; otherwise a batch would wait until it is full.
                    if w.batch.len() >= w.opts.batch_size || w.batch_is_due() {
                        w.flush().await?;
                    }
                }
                Ok(Work::Flush(ack)) => {
                    w.flush().await?;
                    let _ = ack.send(());
                }
                Err(RecvTimeoutError::Timeout) => {
                    if w.batch_is_due() {
                        w.flush().await?;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    info!(writer = id, pending = w.batch.len(), "final flush");
                    return w.flush().await;
                }
            }
        }
    })
}

struct Writer {
    id: usize,
    opts: WriterOptions,
    pg: PgConfig,
    shared: Arc<Shared>,
    sink: Option<Sink>,
    batch: Batch,
}

impl Writer {
    fn batch_is_due(&self) -> bool {
        self.batch.started.is_some_and(|t| t.elapsed() >= self.opts.batch_linger)
    }

    fn accept(&mut self, m: Message) {
        let Message { family, source, key, payload } = m;
        match decode(family, payload.as_deref(), &self.opts.limits, chrono::Utc::now()) {
            Ok(event) => self.batch.push_row(Landed { source, key, payload, event }),
            Err(rejection) => {
                warn!(error_code = rejection.code, topic = %source.topic, partition = source.partition,
                      offset = source.offset, reason = %rejection.message, "dead-lettered");
                self.batch.push_dead(DeadLetter { source, key, payload, rejection });
            }
        }
    }

    /// Flushes with retry and backoff: a lost Postgres connection is re-established and the same
    /// batch is written again (nothing was committed, so nothing duplicates). Gives up only on
    /// shutdown, leaving the batch to be re-read from the stored offsets next time.
    async fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut delay = Duration::from_millis(100);
        loop {
            let started = std::time::Instant::now();
            let result = match self.sink.as_mut() {
                Some(sink) => sink.flush(&mut self.batch).await,
                None => match db::connect(&self.pg).await {
                    Ok(client) => {
                        info!(writer = self.id, "connected to postgres");
                        self.sink = Some(Sink::new(client, &self.opts.group));
                        continue;
                    }
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(outcome) => {
                    let seconds = started.elapsed().as_secs_f64();
                    metrics::batch_committed(&outcome, seconds);
                    info!(
                        writer = self.id,
                        landed = outcome.landed_total(),
                        dead_lettered = outcome.dead_total(),
                        skipped_already_landed = outcome.skipped_already_landed,
                        ms = (seconds * 1000.0) as u64,
                        "batch committed"
                    );
                    let mut landed = self.shared.landed.lock().expect("landed lock");
                    for (t, p, next) in &outcome.next_offsets {
                        landed.insert((t.clone(), *p), *next);
                    }
                    drop(landed);
                    self.shared.to_commit.lock().expect("commit lock").extend(outcome.next_offsets);
                    self.batch = Batch::default();
                    return Ok(());
                }
                Err(e) => {
                    metrics::flush_failed();
                    error!(
                        error_code = "flush_failed",
                        writer = self.id,
                        error = format!("{e:#}"),
                        retry_in_ms = delay.as_millis() as u64,
                        "batch not landed"
                    );
                    if self.shared.shutdown.load(Ordering::SeqCst) {
                        bail!(
                            "shutting down with {} messages not landed; they will be re-read from the stored offsets",
                            self.batch.len()
                        );
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                    if self.sink.as_ref().is_some_and(|s| s.client.is_closed()) {
                        self.sink = None;
                    }
                }
            }
        }
    }
}
