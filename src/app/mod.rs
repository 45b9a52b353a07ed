//! Builds the stages, connects them with bounded channels, and owns the shutdown order. Only
//! wiring: each stage's loop lives beside its component (`ingest/`, `process/stage.rs`,
//! `model/stage/`, `outbox/`, `forward/`, `monitor/heartbeat.rs`); the shutdown order and its
//! deadline are in `shutdown.rs`, every process signal in `signals.rs`.
//!
//! ```text
//! sources ──(samples)──▶ process ──(records)──▶ outbox writer ──▶ LMDB
//!                                    ▲                                  │
//!                        heartbeat ──┘                KafkaForwarder ◀──┘
//! ```
//! Channels hold at most 1024 batches and 65 536 samples, and 256 batches and 8192 records
//! ([`crate::channel`]).
//!
//! Shutdown (SIGINT/SIGTERM cancels the root token): only the sources watch it. When they end,
//! the samples channel closes; the processor closes its open buckets and ends; the heartbeat
//! sends a last status and ends; the writer commits what it holds and ends when the records
//! channel closes. Then the forwarder gets `drain` to send what the outbox holds and collect
//! the acknowledgements. Anything not acknowledged stays in the outbox for the next start.
//!
//! The whole shutdown has a deadline, [`SHUTDOWN_DEADLINE`] from the signal: at half of it the
//! processor stops waiting for a model thread that does not take samples, and shutdown stops
//! joining that thread; at the deadline `run` returns whatever is still busy (named in the
//! log). Commits are atomic, so what was committed stays committed.
//!
//! Under systemd (`Type=notify`, [`crate::monitor::systemd`]): `READY=1` once every stage
//! started, `WATCHDOG=1` while no stage is stalled ([`crate::monitor::progress`]), `STATUS=`
//! at each heartbeat, `STOPPING=1` when the sources ended and the drain begins.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::channel::{self, ToWrite};
use crate::config::{Config, Durability, SourceConfig};
use crate::forward::KafkaForwarder;
use crate::ingest::mqtt::MqttSource;
use crate::ingest::replay::ReplaySource;
use crate::ingest::serial::SerialSource;
use crate::ingest::{AssetIndex, Batch};
use crate::model;
use crate::monitor::systemd::{self, Notifier};
use crate::monitor::Metrics;
use crate::outbox::{Counters, Outbox};
use crate::process::Processor;

mod shutdown;
pub mod signals;

pub use crate::outbox::writer::CommitHook;
use shutdown::{Deadline, Stages, Writer};

pub struct RunOptions {
    /// Forward to Kafka (off: the outbox only fills, as during an uplink outage).
    pub forward: bool,
    /// End when every source has ended (replay) instead of waiting for a signal; with
    /// `forward`, first wait up to `drain` for the outbox to empty.
    pub exit_when_sources_end: bool,
    /// How long shutdown waits for Kafka acknowledgements.
    pub drain: Duration,
    pub on_commit: Option<CommitHook>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            forward: true,
            exit_when_sources_end: false,
            drain: Duration::from_secs(5),
            on_commit: None,
        }
    }
}

/// Batches of samples waiting for the processing stage at most ...
const SAMPLE_CHANNEL: usize = 1024;
/// ... and samples in them (about 3 MiB at 48 bytes a sample), plus one batch per source.
pub const MAX_QUEUED_SAMPLES: usize = 65_536;
/// Batches of records waiting for the outbox writer at most ...
const RECORD_CHANNEL: usize = 256;
/// ... and records in them, plus one batch per sender (processing, models, heartbeat).
pub const MAX_QUEUED_RECORDS: usize = 8_192;
/// From SIGTERM to the end of `run` at most, whatever a stage is doing: half of it for the
/// pipeline to drain through the model thread, then the model thread is left behind; at the
/// end every stage still busy is. Below the unit's `TimeoutStopSec=45s`.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);
/// How often model package directories are checked for changes.
const MODEL_WATCH: Duration = Duration::from_secs(5);

/// What a run left behind.
#[derive(Debug, Clone, Copy)]
pub struct RunReport {
    /// The outbox counters at the end (records not yet acknowledged are still in it).
    pub outbox: Counters,
}

impl RunReport {
    pub fn backlog(&self) -> u64 {
        self.outbox.classes.iter().map(|c| c.count).sum()
    }
}

pub async fn run(
    config: Config,
    mut opts: RunOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<RunReport> {
    // SIGHUP's default action ends the process: catch it before the (possibly long) open.
    let hangups = signals::hangups(shutdown.clone());
    let outbox = open_outbox(&config).await?;
    // Only a service notifies systemd; the demo (exit_when_sources_end) is a command.
    let notifier = Arc::new(if opts.exit_when_sources_end {
        Notifier::disabled()
    } else {
        Notifier::from_env()
    });
    let names: Vec<&str> = config.sources.iter().map(SourceConfig::name).collect();
    let metrics = Arc::new(Metrics::new(&names));
    let (samples_tx, samples_rx) = channel::channel::<Batch>(SAMPLE_CHANNEL, MAX_QUEUED_SAMPLES);
    let (records_tx, records_rx) = channel::channel::<ToWrite>(RECORD_CHANNEL, MAX_QUEUED_RECORDS);
    let appended = Arc::new(Notify::new());
    let deadline = Deadline::start(&shutdown);

    let sources = spawn_sources(&config, &metrics, &samples_tx, &shutdown)?;

    // Models and detectors: a dedicated thread, fed only the signals some model or detector
    // uses.
    let (model_tx, model_thread) = if config.models.is_empty() && config.detectors.is_empty() {
        signals::ignore_hangups(hangups, shutdown.clone());
        (None, None)
    } else {
        let (tx, handle) = model::stage::start(
            &config,
            metrics.clone(),
            records_tx.clone(),
            Some(outbox.clone()),
        )
        .context("starting the model thread")?;
        tokio::spawn(model::stage::watch(
            config.models.clone(),
            tx.downgrade(),
            MODEL_WATCH,
            hangups,
            shutdown.clone(),
        ));
        (Some(tx), Some(handle))
    };
    let models_waiting = model_tx.as_ref().map(|tx| tx.downgrade());

    let process = tokio::spawn(crate::process::stage::run(
        restored_processor(&config, &outbox).await,
        samples_rx,
        records_tx.clone(),
        metrics.clone(),
        model_tx.map(|tx| (tx, Arc::new(model::stage::wanted_signals(&config)))),
        deadline.abandon_models.clone(),
    ));

    // Heartbeat: ends at shutdown, or when the pipeline ended in exit_when_sources_end mode.
    let heartbeat_stop = if opts.exit_when_sources_end {
        CancellationToken::new()
    } else {
        shutdown.clone()
    };
    let records_waiting = records_tx.downgrade();
    let health: Arc<dyn Fn() -> crate::monitor::OutboxHealth + Send + Sync> = {
        let outbox = outbox.clone();
        Arc::new(move || outbox.health(crate::record::now_ns()))
    };
    // The local /metrics and /health endpoint, when configured; a port that cannot be bound
    // stops the start with the reason.
    if let Some(m) = &config.metrics {
        let listener = tokio::net::TcpListener::bind(m.listen)
            .await
            .with_context(|| format!("metrics.listen {}", m.listen))?;
        let endpoint = Arc::new(crate::monitor::http::Endpoint::new(
            config.gateway.clone(),
            metrics.clone(),
            health.clone(),
        ));
        tokio::spawn(crate::monitor::http::serve(
            listener,
            endpoint,
            shutdown.clone(),
        ));
    }
    let heartbeat = tokio::spawn(crate::monitor::heartbeat::run(
        config.gateway.clone(),
        metrics.clone(),
        health,
        records_tx,
        heartbeat_stop.clone(),
        notifier.clone(),
    ));

    // Writer. Storage that fails on every retry stops the agent: the start after it reopens
    // the outbox (a fatal LMDB environment, a data directory mounted again), and the broker
    // still holds what was not committed, since nothing of it was acknowledged.
    let storage_failed = Arc::new(std::sync::OnceLock::<String>::new());
    let on_failure: crate::outbox::writer::FailureHook = {
        let (failed, stop) = (storage_failed.clone(), shutdown.clone());
        Box::new(move |e| {
            let _ = failed.set(e.to_string());
            stop.cancel();
        })
    };
    let writer = crate::outbox::writer::spawn(
        outbox.clone(),
        records_rx,
        appended.clone(),
        metrics.clone(),
        opts.on_commit.take(),
        Some(on_failure),
    )
    .context("starting the outbox writer thread")?;

    // The periodic sync and the watchdog run until the drain is over.
    let after_drain = CancellationToken::new();
    if let Durability::Batched(every) = config.outbox.durability {
        tokio::spawn(crate::outbox::sync::periodic(
            outbox.clone(),
            every,
            after_drain.clone(),
        ));
    }

    let forward_stop = CancellationToken::new();
    let forwarder = if opts.forward {
        let f = KafkaForwarder::new(
            config.kafka.clone(),
            config.gateway.id.clone(),
            outbox.clone(),
            metrics.clone(),
            appended.clone(),
        )
        .context("creating the Kafka producer")?;
        Some(tokio::spawn(f.run(forward_stop.clone(), opts.drain)))
    } else {
        None
    };

    notifier.ready(&format!(
        "running: sources {}, outbox backlog {}",
        config.sources.len(),
        backlog(&outbox.counters())
    ));
    // Progress of every stage; the watchdog is pinged while none with work is stuck.
    let work = {
        let samples = samples_tx.downgrade();
        let records = records_waiting.clone();
        let (outbox, forwarding) = (outbox.clone(), opts.forward);
        move || {
            fn queued<T>(w: &channel::WeakSender<T>) -> bool {
                w.upgrade().is_some_and(|t| t.has_queued())
            }
            [
                queued(&samples),
                models_waiting.as_ref().is_some_and(queued),
                queued(&records),
                forwarding && backlog(&outbox.counters()) > 0,
            ]
        }
    };
    drop(samples_tx);
    tokio::spawn(systemd::watchdog(
        notifier.clone(),
        metrics.clone(),
        work,
        after_drain.clone(),
    ));

    let stages = Stages {
        sources,
        process,
        model_thread,
        heartbeat,
        heartbeat_stop,
        writer: Writer {
            handle: writer,
            queue: records_waiting,
        },
        wait_for_kafka: (opts.exit_when_sources_end && opts.forward).then_some(opts.drain),
        forwarder,
        forward_stop,
    };
    let drained = stages.drain(&deadline, &notifier, &outbox).await;
    if let Some(e) = storage_failed.get() {
        after_drain.cancel();
        anyhow::bail!(
            "the outbox could not commit on any retry ({e}): stopped so that a restart reopens it; \
             nothing it did not commit was acknowledged to an MQTT broker"
        );
    }
    drained?;

    if let Durability::Batched(_) = config.outbox.durability {
        let o = outbox.clone();
        let sync = tokio::task::spawn_blocking(move || o.sync());
        match tokio::time::timeout(Duration::from_secs(2), sync).await {
            Ok(r) => r??,
            Err(_) => error!("The final outbox sync did not return within 2 s."),
        }
    }
    after_drain.cancel();
    let report = RunReport {
        outbox: outbox.counters(),
    };
    info!(backlog = report.backlog(), "Stopped.");
    Ok(report)
}

fn backlog(c: &Counters) -> u64 {
    c.classes.iter().map(|x| x.count).sum()
}

/// The processor, going on from the outbox's last processing checkpoint (open buckets, rule
/// states, compressors) when there is one; a checkpoint that cannot be used is logged and the
/// state starts empty.
async fn restored_processor(config: &Config, outbox: &Arc<Outbox>) -> Processor {
    let mut p = Processor::new(config);
    let o = outbox.clone();
    match tokio::task::spawn_blocking(move || o.checkpoint(crate::outbox::PROCESSING_STATE)).await {
        Ok(Ok(Some(bytes))) => match p.restore(&bytes) {
            Ok(r) => info!(
                open_buckets = r.open_buckets,
                raised_alerts = r.raised_alerts,
                states = r.states,
                dropped = r.dropped,
                "Processing state restored from its checkpoint."
            ),
            Err(e) => warn!(error = %e, "Processing checkpoint not used; the state starts empty."),
        },
        Ok(Ok(None)) => {}
        Ok(Err(e)) => {
            warn!(error = %e, "Processing checkpoint unreadable; the state starts empty.")
        }
        Err(e) => {
            warn!(error = %e, "Reading the processing checkpoint failed; the state starts empty.")
        }
    }
    p
}

/// Opens the outbox (on the blocking pool: opening walks the whole store).
async fn open_outbox(config: &Config) -> anyhow::Result<Arc<Outbox>> {
    let dir = config.gateway.data_dir.join("outbox");
    let (budget, durability) = (config.outbox.budget_bytes, config.outbox.durability);
    let d = dir.clone();
    let outbox = tokio::task::spawn_blocking(move || Outbox::open(&d, budget, durability))
        .await?
        .with_context(|| format!("opening the outbox in {}", dir.display()))?;
    let c = outbox.counters();
    info!(path = %dir.display(), backlog = backlog(&c), next_seq = c.next_seq, "Outbox open.");
    Ok(Arc::new(outbox))
}

/// One task per source; each ends when `shutdown` is cancelled or its input ends.
fn spawn_sources(
    config: &Config,
    metrics: &Metrics,
    samples: &channel::Sender<Batch>,
    shutdown: &CancellationToken,
) -> anyhow::Result<JoinSet<()>> {
    let index = Arc::new(AssetIndex::new(&config.assets));
    let mut sources = JoinSet::new();
    for sc in &config.sources {
        let m = metrics
            .source(sc.name())
            .context("internal: a source without metrics")?;
        let (tx, token, index) = (samples.clone(), shutdown.clone(), index.clone());
        match sc.clone() {
            SourceConfig::Mqtt(c) => {
                let name = c.name.clone();
                let s = MqttSource::new(c, index, m).with_context(|| format!("source {name}"))?;
                sources.spawn(s.run(tx, token));
            }
            SourceConfig::Serial(c) => {
                let s = SerialSource {
                    config: c,
                    index,
                    metrics: m,
                };
                sources.spawn(s.run(tx, token));
            }
            SourceConfig::Replay(c) => {
                let s = ReplaySource {
                    config: c,
                    index,
                    metrics: m,
                };
                sources.spawn(s.run(tx, token));
            }
        }
    }
    Ok(sources)
}
