//! The model stage: a dedicated thread that owns the [`ModelRunner`], fed by a bounded
//! channel from the processing task, so inference never runs on the async reactor. It
//! reloads packages on request (SIGHUP, or a package file changed): a package that fails to
//! load or verify is refused with the reason in the status, and the version before keeps
//! running; one that loads replaces the old atomically between two sample batches.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::{Config, ModelConfig};
use crate::monitor::Metrics;
use crate::record::{AssetMeta, Record, Sample};
use crate::util::{FastMap, FastSet};

use super::load::load_package;
use super::runner::{Binding, LoadedModel, ModelRunner};

/// What the processing task and the reload watcher send.
pub enum ModelMsg {
    Samples(Vec<Sample>),
    Reload,
}

/// Batches waiting for the model thread at most.
pub const MODEL_CHANNEL: usize = 64;

/// The (asset, signal) pairs some model uses: the processing task forwards only those.
pub fn wanted_signals(config: &Config) -> WantedSignals {
    let mut w = WantedSignals::default();
    for m in &config.models {
        for (a, sigs) in &m.bindings {
            w.0.entry(a.clone())
                .or_default()
                .extend(sigs.iter().cloned());
        }
    }
    w
}

/// The (asset, signal) pairs some model reads, looked up per sample by name, without cloning
/// the sample's shared names.
#[derive(Debug, Default)]
pub struct WantedSignals(FastMap<Arc<str>, FastSet<Arc<str>>>);

impl WantedSignals {
    pub fn contains(&self, asset: &str, signal: &str) -> bool {
        self.0.get(asset).is_some_and(|s| s.contains(signal))
    }
}

struct Stage {
    gateway: String,
    site: String,
    models: Vec<ModelConfig>,
    meta: HashMap<Arc<str>, AssetMeta>,
    /// Currently running version per model name.
    loaded: HashMap<String, Arc<LoadedModel>>,
    /// Why the last load of a model was refused.
    refused: HashMap<String, String>,
    runner: ModelRunner,
}

impl Stage {
    fn bindings(&self, mc: &ModelConfig) -> Vec<Binding> {
        mc.bindings
            .iter()
            .map(|(asset, signals)| Binding {
                asset: asset.clone(),
                signals: signals.clone(),
                meta: self.meta.get(asset).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// Load every package; keep what loaded before where a new load fails.
    fn load(&mut self, reason: &str) {
        let mut changed = false;
        for mc in &self.models {
            match load_package(&mc.package) {
                Ok(m) => {
                    let same = self.loaded.get(&mc.name).is_some_and(|old| {
                        old.manifest.version == m.manifest.version
                            && old.manifest.sha256 == m.manifest.sha256
                    });
                    self.refused.remove(&mc.name);
                    if !same {
                        info!(model = %mc.name, version = %m.manifest.version, %reason, "Model loaded.");
                        self.loaded.insert(mc.name.clone(), m);
                        changed = true;
                    }
                }
                Err(e) => {
                    let running = self
                        .loaded
                        .get(&mc.name)
                        .map(|m| m.manifest.version.clone());
                    error!(model = %mc.name, error = %e, running = ?running, "Model package refused.");
                    self.refused.insert(mc.name.clone(), e.to_string());
                }
            }
        }
        if changed {
            let models: Vec<(Arc<LoadedModel>, Vec<Binding>)> = self
                .models
                .iter()
                .filter_map(|mc| {
                    self.loaded
                        .get(&mc.name)
                        .map(|m| (m.clone(), self.bindings(mc)))
                })
                .collect();
            match ModelRunner::new(&self.gateway, &self.site, models) {
                Ok(mut r) => {
                    r.carry_alerts_from(&mut self.runner);
                    self.runner = r;
                }
                Err(e) => error!(error = %e, "Model runner not rebuilt; the previous one runs."),
            }
        }
    }

    fn publish(&self, metrics: &Metrics) {
        let mut status = self.runner.status();
        for (name, why) in &self.refused {
            status.entry(name.clone()).or_default().reload_error = Some(why.clone());
        }
        metrics.set_models(status);
    }
}

/// Load the models of `config` and start the model thread. Returns its sender and handle.
pub fn start(
    config: &Config,
    metrics: Arc<Metrics>,
    records: crate::channel::Sender<Vec<Record>>,
) -> std::io::Result<(mpsc::Sender<ModelMsg>, std::thread::JoinHandle<()>)> {
    let (tx, mut rx) = mpsc::channel::<ModelMsg>(MODEL_CHANNEL);
    let meta = config
        .assets
        .iter()
        .map(|a| (a.id.clone(), a.meta.clone()))
        .collect();
    let mut stage = Stage {
        gateway: config.gateway.id.clone(),
        site: config.gateway.site.clone(),
        models: config.models.clone(),
        meta,
        loaded: HashMap::new(),
        refused: HashMap::new(),
        runner: ModelRunner::new(&config.gateway.id, &config.gateway.site, Vec::new())
            .map_err(std::io::Error::other)?,
    };
    let handle = std::thread::Builder::new()
        .name("model-runner".into())
        .spawn(move || {
            stage.load("start");
            stage.publish(&metrics);
            let mut published = Instant::now();
            let mut out = Vec::new();
            while let Some(msg) = rx.blocking_recv() {
                metrics
                    .progress
                    .beat(crate::monitor::progress::Stage::Models);
                match msg {
                    ModelMsg::Samples(batch) => {
                        for s in &batch {
                            stage.runner.push(s, &mut out);
                        }
                        if !out.is_empty()
                            && records.blocking_send(std::mem::take(&mut out)).is_err()
                        {
                            warn!("Model alerts could not be queued: the pipeline is closed.");
                            break;
                        }
                    }
                    ModelMsg::Reload => stage.load("reload"),
                }
                // Publish when idle (nothing queued) or at least twice a second under load.
                if rx.is_empty() || published.elapsed() >= Duration::from_millis(500) {
                    stage.publish(&metrics);
                    published = Instant::now();
                }
            }
            stage.publish(&metrics);
        })?;
    Ok((tx, handle))
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

/// Ask for a reload on SIGHUP and when a package directory changes (checked every `every`).
/// Holds only a weak sender, so it never keeps the model thread alive at shutdown.
pub async fn watch(
    models: Vec<ModelConfig>,
    tx: mpsc::WeakSender<ModelMsg>,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut seen: BTreeMap<PathBuf, _> = models
        .iter()
        .map(|m| (m.package.clone(), fingerprint(&m.package)))
        .collect();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        let why = tokio::select! {
            _ = stop.cancelled() => return,
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => None } } => "SIGHUP",
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
        if tx.send(ModelMsg::Reload).await.is_err() {
            return;
        }
    }
}
