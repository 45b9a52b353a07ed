//! Builds the stages, connects them with bounded channels, and owns the shutdown order.
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

use crate::channel;
use crate::config::{Config, Durability, SourceConfig};
use crate::forward::KafkaForwarder;
use crate::ingest::mqtt::MqttSource;
use crate::ingest::replay::ReplaySource;
use crate::ingest::serial::SerialSource;
use crate::ingest::{AssetIndex, Batch};
use crate::model;
use crate::monitor::systemd::{self, Notifier};
use crate::monitor::{build_status, FillEstimator, Metrics};
use crate::outbox::{Counters, Outbox};
use crate::process::Processor;
use crate::record::Record;

pub use crate::outbox::writer::CommitHook;

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
    let dir = config.gateway.data_dir.join("outbox");
    let (budget, durability) = (config.outbox.budget_bytes, config.outbox.durability);
    let outbox = {
        let d = dir.clone();
        tokio::task::spawn_blocking(move || Outbox::open(&d, budget, durability))
            .await?
            .with_context(|| format!("opening the outbox in {}", dir.display()))?
    };
    let outbox = Arc::new(outbox);
    // Only a service notifies systemd; the demo (exit_when_sources_end) is a command.
    let notifier = Arc::new(if opts.exit_when_sources_end {
        Notifier::disabled()
    } else {
        Notifier::from_env()
    });
    let c = outbox.counters();
    info!(path = %dir.display(), backlog = c.classes.iter().map(|x| x.count).sum::<u64>(), next_seq = c.next_seq, "Outbox open.");

    let names: Vec<&str> = config.sources.iter().map(SourceConfig::name).collect();
    let metrics = Arc::new(Metrics::new(&names));
    let index = Arc::new(AssetIndex::new(&config.assets));
    let (samples_tx, samples_rx) = channel::channel::<Batch>(SAMPLE_CHANNEL, MAX_QUEUED_SAMPLES);
    let (records_tx, records_rx) =
        channel::channel::<Vec<Record>>(RECORD_CHANNEL, MAX_QUEUED_RECORDS);
    let appended = Arc::new(Notify::new());
    // Shutdown phases (module header): at the signal plus half the deadline, stop waiting for
    // the model thread; at the deadline, stop waiting for anything.
    let abandon_models = CancellationToken::new();
    let hard_stop = CancellationToken::new();
    {
        let (signal, models, hard) = (shutdown.clone(), abandon_models.clone(), hard_stop.clone());
        tokio::spawn(async move {
            signal.cancelled().await;
            tokio::time::sleep(SHUTDOWN_DEADLINE / 2).await;
            models.cancel();
            tokio::time::sleep(SHUTDOWN_DEADLINE / 2).await;
            hard.cancel();
        });
    }

    // Sources.
    let mut sources = JoinSet::new();
    for sc in &config.sources {
        let m = metrics
            .source(sc.name())
            .context("internal: a source without metrics")?;
        let (tx, token) = (samples_tx.clone(), shutdown.clone());
        match sc.clone() {
            SourceConfig::Mqtt(c) => {
                let name = c.name.clone();
                let s = MqttSource::new(c, index.clone(), m)
                    .with_context(|| format!("source {name}"))?;
                sources.spawn(s.run(tx, token));
            }
            SourceConfig::Serial(c) => {
                sources.spawn(
                    SerialSource {
                        config: c,
                        index: index.clone(),
                        metrics: m,
                    }
                    .run(tx, token),
                );
            }
            SourceConfig::Replay(c) => {
                sources.spawn(
                    ReplaySource {
                        config: c,
                        index: index.clone(),
                        metrics: m,
                    }
                    .run(tx, token),
                );
            }
        }
    }

    // Models: a dedicated thread, fed only the signals some model uses.
    let models = if config.models.is_empty() {
        None
    } else {
        let (tx, handle) = model::stage::start(&config, metrics.clone(), records_tx.clone())
            .context("starting the model thread")?;
        tokio::spawn(model::stage::watch(
            config.models.clone(),
            tx.downgrade(),
            MODEL_WATCH,
            shutdown.clone(),
        ));
        Some((tx, handle))
    };
    let models_waiting = models.as_ref().map(|(tx, _)| tx.downgrade());
    let (model_tx, model_thread) = match models {
        Some((tx, h)) => (
            Some((tx, Arc::new(model::stage::wanted_signals(&config)))),
            Some(h),
        ),
        None => {
            // SIGHUP's default action ends the process: `systemctl reload` must not stop an
            // agent that has no model packages to reload.
            #[cfg(unix)]
            if let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            {
                let stop = shutdown.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            Some(()) = hup.recv() => info!("SIGHUP: nothing to reload (no [[models]])."),
                        }
                    }
                });
            }
            (None, None)
        }
    };

    // Processing.
    let processor = Processor::new(&config);
    let process = tokio::spawn(crate::process::stage::run(
        processor,
        samples_rx,
        records_tx.clone(),
        metrics.clone(),
        model_tx,
        abandon_models.clone(),
    ));

    // Heartbeat: ends at shutdown, or when the pipeline ended in exit_when_sources_end mode.
    let heartbeat_stop = if opts.exit_when_sources_end {
        CancellationToken::new()
    } else {
        shutdown.clone()
    };
    let records_tx_weak = records_tx.downgrade();
    let records_waiting = records_tx.downgrade();
    let heartbeat = tokio::spawn(heartbeat_stage(
        config.gateway.clone(),
        metrics.clone(),
        outbox.clone(),
        records_tx,
        heartbeat_stop.clone(),
        notifier.clone(),
    ));

    // Writer.
    let writer = crate::outbox::writer::spawn(
        outbox.clone(),
        records_rx,
        appended.clone(),
        metrics.clone(),
        opts.on_commit.take(),
    )
    .context("starting the outbox writer thread")?;

    // Periodic fsync for batched durability.
    let sync_stop = CancellationToken::new();
    if let Durability::Batched(every) = durability {
        let (outbox, stop) = (outbox.clone(), sync_stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let o = outbox.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || o.sync()).await {
                    error!(error = %e, "Outbox sync failed.");
                }
            }
        });
    }

    // Forwarder.
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
        c.classes.iter().map(|x| x.count).sum::<u64>()
    ));
    // Progress of every stage; the watchdog is pinged while none with work is stuck.
    let work = {
        let samples = samples_tx.downgrade();
        let records = records_waiting;
        let (outbox, forwarding) = (outbox.clone(), opts.forward);
        move || {
            fn queued<T>(w: &channel::WeakSender<T>) -> bool {
                w.upgrade().is_some_and(|t| t.has_queued())
            }
            [
                queued(&samples),
                models_waiting
                    .as_ref()
                    .and_then(|w| w.upgrade())
                    .is_some_and(|t| t.has_queued()),
                queued(&records),
                forwarding && outbox.counters().classes.iter().any(|c| c.count > 0),
            ]
        }
    };
    drop(samples_tx);
    let watchdog_stop = CancellationToken::new();
    tokio::spawn(systemd::watchdog(
        notifier.clone(),
        metrics.clone(),
        work,
        watchdog_stop.clone(),
    ));

    // Wait for the sources (they end on shutdown, or by themselves), then drain in order; a
    // stage still busy at the deadline is left behind (what was committed stays committed).
    let phase = Arc::new(std::sync::Mutex::new("sources"));
    let set_phase = |p: &'static str| {
        if let Ok(mut g) = phase.lock() {
            *g = p;
        }
    };
    let orderly = async {
        while let Some(r) = sources.join_next().await {
            if let Err(e) = r {
                error!(error = %e, "A source task failed.");
            }
        }
        notifier.stopping("stopping: sources ended, draining the pipeline and the outbox");
        set_phase("processing");
        process.await.context("processing stage")?;
        let mut models_left = false;
        if let Some(h) = model_thread {
            set_phase("models");
            let join = tokio::task::spawn_blocking(move || h.join());
            tokio::select! {
                r = join => r?.map_err(|_| anyhow::anyhow!("the model thread panicked"))?,
                _ = abandon_models.cancelled() => {
                    warn!("The model thread did not finish within half the shutdown deadline; leaving it.");
                    models_left = true;
                }
            }
        }
        set_phase("heartbeat");
        heartbeat_stop.cancel();
        heartbeat.await.context("heartbeat stage")?;
        set_phase("outbox_writer");
        if models_left {
            // The model thread keeps a sender open: wait until the writer took and committed
            // everything else instead of for its end.
            while records_tx_weak.upgrade().is_some_and(|t| t.has_queued()) || !writer.idle() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        } else {
            tokio::task::spawn_blocking(move || writer.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the outbox writer thread panicked"))?;
        }
        set_phase("forwarder");
        if opts.exit_when_sources_end && opts.forward {
            let deadline = tokio::time::Instant::now() + opts.drain;
            while outbox.counters().classes.iter().any(|c| c.count > 0)
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        forward_stop.cancel();
        if let Some(f) = forwarder {
            f.await.context("forwarder")?;
        }
        anyhow::Ok(())
    };
    tokio::select! {
        r = orderly => r?,
        _ = hard_stop.cancelled() => {
            let at = phase.lock().map(|g| *g).unwrap_or("?");
            error!(waiting_for = at, deadline_secs = SHUTDOWN_DEADLINE.as_secs(), "Shutdown deadline passed; stopping without the stages still busy (committed records stay committed).");
        }
    }
    if let Durability::Batched(_) = durability {
        let o = outbox.clone();
        let sync = tokio::task::spawn_blocking(move || o.sync());
        match tokio::time::timeout(Duration::from_secs(2), sync).await {
            Ok(r) => r??,
            Err(_) => error!("The final outbox sync did not return within 2 s."),
        }
    }
    sync_stop.cancel();
    watchdog_stop.cancel();
    let report = RunReport {
        outbox: outbox.counters(),
    };
    info!(backlog = report.backlog(), "Stopped.");
    Ok(report)
}

async fn heartbeat_stage(
    gateway: crate::config::GatewayConfig,
    metrics: Arc<Metrics>,
    outbox: Arc<Outbox>,
    tx: channel::Sender<Vec<Record>>,
    stop: CancellationToken,
    notifier: Arc<Notifier>,
) {
    let mut tick = tokio::time::interval(gateway.heartbeat);
    tick.tick().await;
    let mut fill = FillEstimator::default();
    loop {
        let last = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tick.tick() => false,
        };
        let status = build_status(&gateway, &metrics, &outbox, &mut fill);
        notifier.status(&systemd::status_line(&status));
        if tx.send(vec![Record::Status(status)]).await.is_err() || last {
            return;
        }
    }
}
