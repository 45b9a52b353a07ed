//! Builds the stages, connects them with bounded channels, and owns the shutdown order.
//!
//! ```text
//! sources ──(samples, 1024 batches)──▶ process ──(records, 256 batches)──▶ outbox writer ──▶ LMDB
//!                                                    ▲                                      │
//!                                        heartbeat ──┘                    KafkaForwarder ◀──┘
//! ```
//! Shutdown (SIGINT/SIGTERM cancels the root token): only the sources watch it. When they end,
//! the samples channel closes; the processor closes its open buckets and ends; the heartbeat
//! sends a last status and ends; the writer commits what it holds and ends when the records
//! channel closes. Then the forwarder gets `drain` to send what the outbox holds and collect
//! the acknowledgements. Anything not acknowledged stays in the outbox for the next start.
//!
//! Under systemd (`Type=notify`, [`crate::monitor::systemd`]): `READY=1` once every stage
//! started, `WATCHDOG=1` while the outbox writer keeps up, `STATUS=` at each heartbeat,
//! `STOPPING=1` when the sources ended and the drain begins.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{Config, Durability, SourceConfig};
use crate::forward::KafkaForwarder;
use crate::ingest::mqtt::MqttSource;
use crate::ingest::replay::ReplaySource;
use crate::ingest::serial::SerialSource;
use crate::ingest::{AssetIndex, Batch};
use crate::model;
use crate::monitor::systemd::{self, Notifier, Pulse};
use crate::monitor::{build_status, FillEstimator, Metrics, PipelineDrop};
use crate::outbox::{Counters, Outbox};
use crate::process::Processor;
use crate::record::{now_ns, Record, Sample};

/// Called with every batch of records right after it is committed to the outbox.
pub type CommitHook = Box<dyn FnMut(&[Record]) + Send>;

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

const SAMPLE_CHANNEL: usize = 1024;
const RECORD_CHANNEL: usize = 256;
/// How often model package directories are checked for changes.
const MODEL_WATCH: Duration = Duration::from_secs(5);
/// Records committed per outbox transaction at most (group commit).
const MAX_GROUP: usize = 4096;

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
    let pulse = Arc::new(Pulse::default());
    let c = outbox.counters();
    info!(path = %dir.display(), backlog = c.classes.iter().map(|x| x.count).sum::<u64>(), next_seq = c.next_seq, "Outbox open.");

    let names: Vec<&str> = config.sources.iter().map(SourceConfig::name).collect();
    let metrics = Arc::new(Metrics::new(&names));
    let index = Arc::new(AssetIndex::new(&config.assets));
    let (samples_tx, samples_rx) = mpsc::channel::<Batch>(SAMPLE_CHANNEL);
    let (records_tx, records_rx) = mpsc::channel::<Vec<Record>>(RECORD_CHANNEL);
    let appended = Arc::new(Notify::new());
    // Records waiting for the writer, for the watchdog (weak: never keeps the channel open).
    let records_waiting = {
        let weak = records_tx.downgrade();
        move || {
            weak.upgrade()
                .is_some_and(|tx| tx.capacity() < tx.max_capacity())
        }
    };

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
    drop(samples_tx);

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
    let process = tokio::spawn(process_stage(
        processor,
        samples_rx,
        records_tx.clone(),
        metrics.clone(),
        model_tx,
    ));

    // Heartbeat: ends at shutdown, or when the pipeline ended in exit_when_sources_end mode.
    let heartbeat_stop = if opts.exit_when_sources_end {
        CancellationToken::new()
    } else {
        shutdown.clone()
    };
    let heartbeat = tokio::spawn(heartbeat_stage(
        config.gateway.clone(),
        metrics.clone(),
        outbox.clone(),
        records_tx,
        heartbeat_stop.clone(),
        notifier.clone(),
    ));

    // Writer.
    let on_commit = opts.on_commit.take();
    let writer = {
        let (outbox, appended, metrics) = (outbox.clone(), appended.clone(), metrics.clone());
        let pulse = pulse.clone();
        std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || writer_stage(outbox, records_rx, appended, metrics, on_commit, pulse))
            .context("starting the outbox writer thread")?
    };

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
    let watchdog_stop = CancellationToken::new();
    tokio::spawn(systemd::watchdog(
        notifier.clone(),
        pulse,
        records_waiting,
        watchdog_stop.clone(),
    ));

    // Wait for the sources (they end on shutdown, or by themselves).
    while let Some(r) = sources.join_next().await {
        if let Err(e) = r {
            error!(error = %e, "A source task failed.");
        }
    }
    notifier.stopping("stopping: sources ended, draining the pipeline and the outbox");
    process.await.context("processing stage")?;
    if let Some(h) = model_thread {
        tokio::task::spawn_blocking(move || h.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the model thread panicked"))?;
    }
    heartbeat_stop.cancel();
    heartbeat.await.context("heartbeat stage")?;
    tokio::task::spawn_blocking(move || writer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the outbox writer thread panicked"))?;
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
    if let Durability::Batched(_) = durability {
        let o = outbox.clone();
        tokio::task::spawn_blocking(move || o.sync()).await??;
    }
    sync_stop.cancel();
    watchdog_stop.cancel();
    let report = RunReport {
        outbox: outbox.counters(),
    };
    info!(backlog = report.backlog(), "Stopped.");
    Ok(report)
}

/// The model thread's sender and the (asset, signal) pairs it wants.
type ModelFeed = (
    mpsc::Sender<model::stage::ModelMsg>,
    Arc<model::stage::WantedSignals>,
);

async fn process_stage(
    mut p: Processor,
    mut rx: mpsc::Receiver<Batch>,
    tx: mpsc::Sender<Vec<Record>>,
    metrics: Arc<Metrics>,
    mut models: Option<ModelFeed>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut out = Vec::new();
        tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => {
                    let now = now_ns();
                    for s in &batch {
                        p.push(s, now, &mut out);
                    }
                    if let Some((mtx, wanted)) = &models {
                        let for_models: Vec<Sample> = batch
                            .iter()
                            .filter(|s| wanted.contains(&s.asset, &s.signal))
                            .cloned()
                            .collect();
                        // Waits when the model thread is behind: backpressure, not loss.
                        if !for_models.is_empty()
                            && mtx.send(model::stage::ModelMsg::Samples(for_models)).await.is_err()
                        {
                            error!("The model thread stopped; models no longer run.");
                            models = None;
                        }
                    }
                }
                None => break,
            },
            _ = tick.tick() => p.close_idle(now_ns(), &mut out),
        }
        let late = p.take_late();
        if late > 0 {
            metrics.drop_sample(PipelineDrop::Late, late);
        }
        if !out.is_empty() && tx.send(out).await.is_err() {
            return;
        }
    }
    let mut out = Vec::new();
    p.close_all(&mut out);
    if !out.is_empty() {
        let _ = tx.send(out).await;
    }
}

async fn heartbeat_stage(
    gateway: crate::config::GatewayConfig,
    metrics: Arc<Metrics>,
    outbox: Arc<Outbox>,
    tx: mpsc::Sender<Vec<Record>>,
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

/// Group commit: take everything queued (up to `MAX_GROUP` records), append it in one
/// transaction, then wake the forwarder. Each group handled (stored, or counted as lost)
/// beats `pulse`: the watchdog's evidence that the writer is not stuck.
fn writer_stage(
    outbox: Arc<Outbox>,
    mut rx: mpsc::Receiver<Vec<Record>>,
    appended: Arc<Notify>,
    metrics: Arc<Metrics>,
    mut on_commit: Option<CommitHook>,
    pulse: Arc<Pulse>,
) {
    while let Some(mut group) = rx.blocking_recv() {
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(more) => group.extend(more),
                Err(_) => break,
            }
        }
        let mut attempt = 0;
        loop {
            match outbox.append(&group) {
                Ok(_) => {
                    appended.notify_one();
                    if let Some(hook) = on_commit.as_mut() {
                        hook(&group);
                    }
                    break;
                }
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    warn!(error = %e, attempt, "Outbox append failed; retrying.");
                    std::thread::sleep(Duration::from_millis(200 << attempt));
                }
                Err(e) => {
                    metrics.write_lost(group.len() as u64);
                    error!(error = %e, records = group.len(), lost_total = metrics.write_lost_count(), "Outbox append failed; records lost.");
                    break;
                }
            }
        }
        pulse.beat();
    }
}
