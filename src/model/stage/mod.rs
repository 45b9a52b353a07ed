//! The model stage: a dedicated thread that owns the [`ModelRunner`] and the
//! [`DetectorRunner`], fed by a bounded channel from the processing task, so inference and
//! learning never run on the async reactor.
//!
//! Packages are loaded at start and again on request (SIGHUP, or a package's files changed),
//! always off this thread ([`reload`]): each new package is verified in a child process under
//! memory, CPU and time limits ([`crate::model::verify`]) before it is loaded here, so a package
//! that aborts, grows or hangs costs only the check. A package that is refused (at start or at
//! a reload) is named with the reason in the status (`models.<name>.reload_error`,
//! `last_reload`), while everything else runs: the other models, and the whole pipeline
//! around them. A package that loads replaces its old version between two sample batches,
//! bound to the assets by signal name.
//!
//! Until the start check ends, samples for the models are held (at most
//! [`MAX_HELD_SAMPLES`]; beyond, dropped and counted in each model's
//! `window_drops.held_at_start`), and then scored, so a replay loses nothing to the check while
//! the processing task never waits for it. The thread receives every signal of the assets a
//! model is bound to ([`wanted_signals`]): a package loaded later may bind any of them; and
//! the signals of the detectors, which need no check and see every sample at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::channel::{self, ToWrite, Weigh};
use tracing::{info, warn};

use crate::config::{Config, ModelConfig};
use crate::detect::requests::Baselines;
use crate::detect::DetectorRunner;
use crate::monitor::Metrics;
use crate::outbox::Outbox;
use crate::record::{Record, Sample};
use crate::util::{FastMap, FastSet};

pub mod checkpoint;
pub mod reload;

use checkpoint::Checkpointer;
use reload::{CheckFn, Stage};

/// What the processing task, the reload watcher and the checks send.
pub enum ModelMsg {
    Samples(Vec<Sample>),
    /// Check every package again; the trigger (`SIGHUP`, `package changed`, `retry`).
    Reload(&'static str),
    /// A check finished: apply it.
    Checked,
}

/// Batches waiting for the model thread at most ...
pub const MODEL_CHANNEL: usize = 64;
/// ... and samples in them (about 3 MiB), plus one batch per sender.
pub const MAX_QUEUED_SAMPLES: usize = 65_536;

impl Weigh for ModelMsg {
    fn weight(&self) -> usize {
        match self {
            ModelMsg::Samples(v) => v.len(),
            ModelMsg::Reload(_) | ModelMsg::Checked => 0,
        }
    }
}

/// Samples held while the start check runs, at most (about 12 MiB).
pub const MAX_HELD_SAMPLES: usize = 1 << 18;

/// The (asset, signal) pairs the model thread wants: every signal of every asset a model is
/// bound to, since a package loaded later may bind any of them by name.
pub fn wanted_signals(config: &Config) -> WantedSignals {
    let mut w = WantedSignals::default();
    for m in &config.models {
        for (a, sigs) in &m.assets {
            w.0.entry(a.clone())
                .or_default()
                .extend(sigs.iter().cloned());
        }
    }
    for d in &config.detectors {
        for (a, _) in &d.assets {
            w.0.entry(a.clone())
                .or_default()
                .extend(d.signals.iter().cloned());
        }
    }
    w
}

/// The (asset, signal) pairs some model may read, looked up per sample by name, without
/// cloning the sample's shared names.
#[derive(Debug, Default)]
pub struct WantedSignals(FastMap<Arc<str>, FastSet<Arc<str>>>);

impl WantedSignals {
    pub fn contains(&self, asset: &str, signal: &str) -> bool {
        self.0.get(asset).is_some_and(|s| s.contains(signal))
    }
}

/// Puts the runners' status and every model's last reload into the metrics.
fn publish(stage: &Stage, detectors: &DetectorRunner, held_dropped: u64, metrics: &Metrics) {
    if !detectors.is_empty() {
        metrics.set_detectors(detectors.status());
    }
    let mut status = stage.runner.status();
    for (i, mc) in stage.models.iter().enumerate() {
        let s = status.entry(mc.name.clone()).or_default();
        s.running = stage.loaded[i].is_some();
        if let Some((r, why)) = &stage.reloads[i] {
            s.last_reload = Some(r.clone());
            s.reload_error = why.clone();
        }
        if held_dropped > 0 {
            s.window_drops.insert("held_at_start".into(), held_dropped);
        }
    }
    metrics.set_models(status);
}

/// The production check: this binary, in a child process.
fn child_check() -> CheckFn {
    Arc::new(|dir, limits, stop| crate::model::verify::run_check(dir, limits, stop))
}

/// Load the models of `config` and start the model thread, its detectors starting from the
/// baselines stored in `outbox`, and both from its checkpoint's alert states. Returns its
/// sender and handle.
pub fn start(
    config: &Config,
    metrics: Arc<Metrics>,
    records: channel::Sender<ToWrite>,
    outbox: Option<Arc<Outbox>>,
) -> std::io::Result<(channel::Sender<ModelMsg>, std::thread::JoinHandle<()>)> {
    start_with(config, metrics, records, outbox, child_check())
}

/// [`start`] with another check (tests).
pub fn start_with(
    config: &Config,
    metrics: Arc<Metrics>,
    records: channel::Sender<ToWrite>,
    outbox: Option<Arc<Outbox>>,
    check: CheckFn,
) -> std::io::Result<(channel::Sender<ModelMsg>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = channel::channel::<ModelMsg>(MODEL_CHANNEL, MAX_QUEUED_SAMPLES);
    let meta = config
        .assets
        .iter()
        .map(|a| (a.id.clone(), a.meta.clone()))
        .collect();
    let mut stage = Stage::new(
        config.gateway.id.clone(),
        config.gateway.site.clone(),
        config.models.clone(),
        meta,
        check,
    )
    .map_err(std::io::Error::other)?;
    let (saved, bytes) = checkpoint::saved(config, outbox.as_deref());
    let (parked, windows) = (saved.models.len(), saved.model_windows.len());
    stage.runner.park(saved.models);
    stage.runner.park_windows(saved.model_windows);
    stage.runner.park_monitors(saved.model_monitors);
    if parked + windows > 0 {
        info!(
            states = parked,
            windows,
            "Model alert states and windows in progress restored from the checkpoint; each goes to its model once it runs."
        );
    }
    let (stored, baselines) = match outbox {
        Some(o) if !config.detectors.is_empty() => {
            let (stored, b) = Baselines::open(o);
            (stored, Some(b))
        }
        _ => (Vec::new(), None),
    };
    let mut detectors = DetectorRunner::new(
        &config.gateway.id,
        &config.gateway.site,
        &config.detectors,
        &stored,
    )
    .map_err(std::io::Error::other)?;
    let mut out = Vec::new();
    if !saved.detectors.is_empty() {
        let r = detectors.restore_alerts(saved.detectors, &mut out);
        info!(
            states = r.taken,
            raised = r.raised,
            cleared = r.cleared,
            scorers = r.scorers,
            windows = r.windows,
            dropped = r.dropped,
            "Detector alert states restored from the checkpoint."
        );
    }
    let ckpt = Checkpointer::new(bytes, Instant::now());
    let wake = tx.downgrade();
    let handle = std::thread::Builder::new()
        .name("model-runner".into())
        .spawn(move || {
            let io = Io {
                rx,
                wake,
                records,
                metrics: &metrics,
            };
            run(stage, detectors, baselines, io, ckpt, out)
        })?;
    Ok((tx, handle))
}

/// The model thread's channels and metrics.
struct Io<'a> {
    rx: channel::Receiver<ModelMsg>,
    wake: channel::WeakSender<ModelMsg>,
    records: channel::Sender<ToWrite>,
    metrics: &'a Metrics,
}

/// Sends the records in `out` and a checkpoint if one is due (`force`: whatever the time);
/// false once the pipeline is closed.
fn send(
    stage: &Stage,
    detectors: &DetectorRunner,
    ckpt: &mut Checkpointer,
    out: &mut Vec<Record>,
    records: &channel::Sender<ToWrite>,
    force: bool,
) -> bool {
    let checkpoints = checkpoint::due(
        &stage.runner,
        detectors,
        ckpt,
        force || !out.is_empty(),
        Instant::now(),
    );
    if out.is_empty() && checkpoints.is_empty() {
        return true;
    }
    let msg = ToWrite {
        records: std::mem::take(out),
        checkpoints,
    };
    records.blocking_send(msg).is_ok()
}

/// Wakes the model thread when a check finished (if it still listens).
fn waker(wake: &channel::WeakSender<ModelMsg>) -> impl FnOnce() + Send + 'static {
    let wake = wake.clone();
    move || {
        if let Some(tx) = wake.upgrade() {
            let _ = tx.blocking_send(ModelMsg::Checked);
        }
    }
}

/// Asks for a retry after `after`, on a timer thread that gives up when the stage ends.
fn schedule_retry(stage: &Stage, wake: &channel::WeakSender<ModelMsg>, after: Duration) {
    let wake = wake.clone();
    let stop = stage.stop.clone();
    info!(
        after_secs = after.as_secs(),
        "A model package check will be retried."
    );
    let _ = std::thread::Builder::new()
        .name("model-retry".into())
        .spawn(move || {
            let end = Instant::now() + after;
            while Instant::now() < end {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            if let Some(tx) = wake.upgrade() {
                let _ = tx.blocking_send(ModelMsg::Reload("retry"));
            }
        });
}

fn run(
    mut stage: Stage,
    mut detectors: DetectorRunner,
    mut baselines: Option<Baselines>,
    io: Io<'_>,
    mut ckpt: Checkpointer,
    mut out: Vec<Record>,
) {
    let Io {
        mut rx,
        wake,
        records,
        metrics,
    } = io;
    stage.request("start", waker(&wake));
    // Samples wait here until the start check ended.
    let mut held: Option<Vec<Vec<Sample>>> = Some(Vec::new());
    let (mut held_n, mut held_dropped) = (0usize, 0u64);
    publish(&stage, &detectors, 0, metrics);
    let mut published = Instant::now();
    if let Some(b) = &mut baselines {
        b.start(&mut detectors, &mut out);
    }
    let mut retry_at: Option<Instant> = None;
    let mut closed = false;
    // Applies a finished check: flush held samples, follow a pending trigger, plan a retry.
    let after_check = |stage: &mut Stage,
                       held: &mut Option<Vec<Vec<Sample>>>,
                       out: &mut Vec<Record>,
                       retry_at: &mut Option<Instant>| {
        if let Some(batches) = held.take() {
            for s in batches.iter().flatten() {
                stage.runner.push(s, out);
            }
        }
        if let Some(t) = stage.pending.take() {
            stage.request(t, waker(&wake));
        }
        if let Some(after) = stage.retry_after.take() {
            if retry_at.is_none_or(|t| Instant::now() >= t) {
                *retry_at = Some(Instant::now() + after);
                schedule_retry(stage, &wake, after);
            }
        }
    };
    while let Some(msg) = rx.blocking_recv() {
        metrics
            .progress
            .beat(crate::monitor::progress::Stage::Models);
        if let ModelMsg::Samples(batch) = &msg {
            // A step may end a learning phase (one eigen decomposition set per asset): beat
            // between chunks, so a batch in which many assets finish learning is progress.
            for chunk in batch.chunks(1024) {
                for s in chunk {
                    detectors.push(s, &mut out);
                }
                metrics
                    .progress
                    .beat(crate::monitor::progress::Stage::Models);
            }
        }
        if let Some(b) = &mut baselines {
            b.poll(&mut detectors, &mut out);
        }
        match msg {
            ModelMsg::Samples(batch) => match &mut held {
                Some(h) => {
                    if held_n + batch.len() <= MAX_HELD_SAMPLES {
                        held_n += batch.len();
                        h.push(batch);
                    } else {
                        held_dropped += batch.len() as u64;
                    }
                }
                None => {
                    for s in &batch {
                        stage.runner.push(s, &mut out);
                    }
                }
            },
            ModelMsg::Reload(trigger) => stage.request(trigger, waker(&wake)),
            ModelMsg::Checked => {}
        }
        if stage.poll() {
            after_check(&mut stage, &mut held, &mut out, &mut retry_at);
        }
        if !send(&stage, &detectors, &mut ckpt, &mut out, &records, false) {
            warn!("Model alerts could not be queued: the pipeline is closed.");
            closed = true;
            break;
        }
        // Publish when idle (nothing queued) or at least twice a second under load.
        if rx.is_empty() || published.elapsed() >= Duration::from_millis(500) {
            publish(&stage, &detectors, held_dropped, metrics);
            published = Instant::now();
        }
    }
    // The input ended. Samples held for the start check are scored once it ends (bounded by
    // the checks' timeouts); a reload check in flight is cancelled.
    if held.is_some() {
        let limit: Duration = stage.models.iter().map(|m| m.check_timeout).sum();
        if stage.wait(limit + Duration::from_secs(10)) {
            if let Some(batches) = held.take() {
                for s in batches.iter().flatten() {
                    stage.runner.push(s, &mut out);
                }
            }
        }
    }
    if !closed && !send(&stage, &detectors, &mut ckpt, &mut out, &records, true) {
        warn!("Model alerts could not be queued: the pipeline is closed.");
    }
    stage.stop.store(true, Ordering::Relaxed);
    publish(&stage, &detectors, held_dropped, metrics);
}

/// Fingerprint of a package's files (length and modification time), to notice changes.
fn fingerprint(dir: &PathBuf) -> Vec<(u64, Option<SystemTime>)> {
    let mut v = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if let Ok(m) = std::fs::metadata(&p) {
                v.push((m.len(), m.modified().ok()));
            }
        }
    }
    v
}

/// Ask for a reload on each `hangups` message (SIGHUP, from `app::signals`) and when a
/// package directory changes (checked every `every`). Holds only a weak sender, so it never
/// keeps the model thread alive at shutdown.
pub async fn watch(
    models: Vec<ModelConfig>,
    tx: channel::WeakSender<ModelMsg>,
    every: Duration,
    hangups: tokio::sync::mpsc::Receiver<()>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut hup = Some(hangups);
    let mut seen: BTreeMap<PathBuf, _> = models
        .iter()
        .map(|m| (m.package.clone(), fingerprint(&m.package)))
        .collect();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        let why = tokio::select! {
            _ = stop.cancelled() => return,
            got = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                if got.is_none() {
                    hup = None; // no more SIGHUPs (handler gone): watch files only
                    continue;
                }
                "SIGHUP"
            }
            _ = tick.tick() => {
                let mut changed = false;
                for (dir, fp) in seen.iter_mut() {
                    let now = fingerprint(dir);
                    if now != *fp {
                        *fp = now;
                        changed = true;
                    }
                }
                if !changed {
                    continue;
                }
                "package changed"
            }
        };
        info!(reason = why, "Reloading model packages.");
        let Some(tx) = tx.upgrade() else { return };
        if tx.send(ModelMsg::Reload(why)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
