//! Loading and reloading packages without stopping the model stage: which packages to check,
//! checking them off the model thread, and applying the result.
//!
//! A check runs on its own thread (`model-check`), one package after another: read the
//! package (manifest, checksum); skip it when it is the version already running (same version
//! and sha256); bind its signals by name to each asset ([`ModelConfig::bind`]); verify it in a
//! child process under limits ([`crate::model::verify`]); load it in process only when the child
//! passed it, with the same bytes. Meanwhile the model thread keeps scoring windows with the
//! models it has. [`Stage::apply`] then builds the new runner; a model whose instances cannot
//! be built is refused and its previous version (if any) kept, so one bad package never takes
//! the others down, and the set of running versions changes only together with the runner.
//!
//! Every outcome (loaded, unchanged, refused) is kept per model for the status. A refusal
//! whose cause may pass (the check could not start, timed out, or was killed by the kernel)
//! is retried after 30 s, then 60 s, doubling up to 30 min; any other refusal is tried again
//! at the next reload (SIGHUP or a change of the package's files).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use tracing::{error, info};

use crate::config::{BindErrors, ModelConfig};
use crate::record::{now_ns, AssetMeta, ReloadStatus};

use super::super::load::load_verified;
use super::super::package::Package;
use super::super::runner::{Binding, LoadedModel, ModelRunner};
use super::super::verify::{CheckLimits, Verdict};

/// Runs the isolated check of one package: [`crate::model::verify::run_check`] in the agent;
/// tests pass an in-process stand-in.
pub type CheckFn = Arc<dyn Fn(&Path, CheckLimits, &dyn Fn() -> bool) -> Verdict + Send + Sync>;

/// First delay before a transient refusal is retried, and the longest.
pub const RETRY_FIRST: Duration = Duration::from_secs(30);
pub const RETRY_MAX: Duration = Duration::from_secs(30 * 60);

/// The outcome of checking one package.
pub enum Outcome {
    /// The running version: nothing to do.
    Unchanged {
        version: String,
    },
    Loaded(Arc<LoadedModel>),
    Refused {
        version: Option<String>,
        reason: String,
        /// The cause may pass (retry on a timer).
        transient: bool,
    },
}

/// One finished check of every package.
pub struct Report {
    pub trigger: &'static str,
    /// Per model config index.
    pub outcomes: Vec<Outcome>,
}

/// Whether a refusal may pass without the package changing.
pub fn is_transient(v: &Verdict) -> bool {
    match v {
        Verdict::Unavailable(_) | Verdict::TimedOut { .. } => true,
        // The kernel's OOM killer picks the largest process: memory others used.
        Verdict::Crashed { signal, .. } => *signal == libc::SIGKILL,
        _ => false,
    }
}

/// Checks every package (on the checker thread). `running` is (version, sha256) per index.
pub fn check_all(
    models: &[ModelConfig],
    running: &[Option<(String, String)>],
    check: &CheckFn,
    stop: &AtomicBool,
) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(models.len());
    for (i, mc) in models.iter().enumerate() {
        let refused = |version: Option<String>, reason: String, transient: bool| Outcome::Refused {
            version,
            reason,
            transient,
        };
        let pkg = match Package::read(&mc.package) {
            Ok(p) => p,
            Err(e) => {
                out.push(refused(None, e.to_string(), false));
                continue;
            }
        };
        let m = &pkg.manifest;
        let version = Some(m.version.clone());
        if running.get(i).and_then(Option::as_ref) == Some(&(m.version.clone(), m.sha256.clone())) {
            out.push(Outcome::Unchanged {
                version: m.version.clone(),
            });
            continue;
        }
        if let Err(errors) = mc.bind(&m.signals) {
            out.push(refused(
                version,
                format!("model {} {}: {errors}", m.name, m.version),
                false,
            ));
            continue;
        }
        let limits = CheckLimits {
            timeout: mc.check_timeout,
            ..CheckLimits::default()
        };
        let verdict = check(&mc.package, limits, &|| stop.load(Ordering::Relaxed));
        let sha = match &verdict {
            Verdict::Ok { sha256, .. } => sha256.clone(),
            v => {
                out.push(refused(version, v.to_string(), is_transient(v)));
                continue;
            }
        };
        out.push(match load_verified(&mc.package, &sha) {
            Ok(m) => Outcome::Loaded(m),
            Err(e) => refused(version, e.to_string(), false),
        });
    }
    out
}

/// The model stage's packages, runner and reload bookkeeping.
pub struct Stage {
    pub gateway: String,
    pub site: String,
    pub models: Vec<ModelConfig>,
    pub meta: HashMap<Arc<str>, AssetMeta>,
    /// The running version per model config index.
    pub loaded: Vec<Option<Arc<LoadedModel>>>,
    /// The last outcome per index, and the refusal reason when it was refused.
    pub reloads: Vec<Option<(ReloadStatus, Option<String>)>>,
    pub runner: ModelRunner,
    pub check: CheckFn,
    /// Set when the stage ends: a running check kills its child.
    pub stop: Arc<AtomicBool>,
    /// The check in flight.
    pub in_flight: Option<std_mpsc::Receiver<Report>>,
    /// A trigger that came while a check was in flight: checked when it ends.
    pub pending: Option<&'static str>,
    /// Delay before the next transient retry (doubles up to [`RETRY_MAX`]).
    pub retry_delay: Duration,
    /// Set by [`Stage::apply`] when a refusal may pass: retry after this long.
    pub retry_after: Option<Duration>,
}

impl Stage {
    pub fn new(
        gateway: String,
        site: String,
        models: Vec<ModelConfig>,
        meta: HashMap<Arc<str>, AssetMeta>,
        check: CheckFn,
    ) -> Result<Stage, crate::model::runner::RunnerError> {
        let runner = ModelRunner::new(&gateway, &site, Vec::new())?;
        let n = models.len();
        Ok(Stage {
            gateway,
            site,
            models,
            meta,
            loaded: vec![None; n],
            reloads: vec![None; n],
            runner,
            check,
            stop: Arc::new(AtomicBool::new(false)),
            in_flight: None,
            pending: None,
            retry_delay: RETRY_FIRST,
            retry_after: None,
        })
    }

    /// Starts a check of every package on the checker thread (or remembers the trigger if
    /// one runs). `done` is called on that thread when the report is ready (to wake the
    /// model thread).
    pub fn request(&mut self, trigger: &'static str, done: impl FnOnce() + Send + 'static) {
        if self.in_flight.is_some() {
            self.pending.get_or_insert(trigger);
            return;
        }
        let models = self.models.clone();
        let running: Vec<Option<(String, String)>> = self
            .loaded
            .iter()
            .map(|m| {
                m.as_ref()
                    .map(|m| (m.manifest.version.clone(), m.manifest.sha256.clone()))
            })
            .collect();
        let check = self.check.clone();
        let stop = self.stop.clone();
        let (tx, rx) = std_mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("model-check".into())
            .spawn(move || {
                let outcomes = check_all(&models, &running, &check, &stop);
                let _ = tx.send(Report { trigger, outcomes });
                done();
            });
        match spawned {
            Ok(_) => self.in_flight = Some(rx),
            Err(e) => {
                // No thread: refuse everything not running yet, and retry on the timer.
                error!(error = %e, "Cannot start the model check thread.");
                let outcomes = self
                    .models
                    .iter()
                    .map(|_| Outcome::Refused {
                        version: None,
                        reason: format!("the check could not run: no thread ({e})"),
                        transient: true,
                    })
                    .collect();
                self.apply(Report { trigger, outcomes });
            }
        }
    }

    /// Applies a finished check, if one finished. Returns whether one did.
    pub fn poll(&mut self) -> bool {
        let Some(rx) = &self.in_flight else {
            return false;
        };
        match rx.try_recv() {
            Ok(report) => {
                self.in_flight = None;
                self.apply(report);
                true
            }
            Err(std_mpsc::TryRecvError::Empty) => false,
            Err(std_mpsc::TryRecvError::Disconnected) => {
                self.in_flight = None;
                false
            }
        }
    }

    /// Waits up to `timeout` for the check in flight and applies it.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let Some(rx) = self.in_flight.take() else {
            return false;
        };
        match rx.recv_timeout(timeout) {
            Ok(report) => {
                self.apply(report);
                true
            }
            Err(_) => false,
        }
    }

    /// The runner's bindings for config `i` running `m`, by signal name.
    pub fn bindings(&self, i: usize, m: &LoadedModel) -> Result<Vec<Binding>, BindErrors> {
        let mc = &self.models[i];
        let bound = mc.bind(&m.manifest.signals)?;
        Ok(bound
            .into_iter()
            .map(|(asset, signals)| Binding {
                meta: self.meta.get(&asset).cloned().unwrap_or_default(),
                asset,
                signals,
            })
            .collect())
    }

    /// Builds a runner from `next`; a model that cannot be bound or built is taken back to
    /// its running version (or out), with the reason in `refusals`.
    fn build(
        &self,
        next: &mut [Option<Arc<LoadedModel>>],
        refusals: &mut [Option<String>],
    ) -> Option<ModelRunner> {
        // Each round either builds or takes one model back: at most 2 × models rounds.
        for _ in 0..=2 * next.len() {
            let mut models = Vec::new();
            let mut failed = None;
            for (i, m) in next.iter().enumerate() {
                let Some(m) = m else { continue };
                match self.bindings(i, m) {
                    Ok(b) => models.push((m.clone(), b)),
                    Err(e) => {
                        failed = Some((i, e.to_string()));
                        break;
                    }
                }
            }
            if failed.is_none() {
                match ModelRunner::new(&self.gateway, &self.site, models) {
                    Ok(r) => return Some(r),
                    Err(e) => {
                        let i = next
                            .iter()
                            .position(|m| m.as_ref().is_some_and(|m| m.manifest.name == e.model()));
                        failed = i.map(|i| (i, e.to_string()));
                    }
                }
            }
            let (i, reason) = failed?;
            let back = self.loaded[i]
                .clone()
                .filter(|old| !next[i].as_ref().is_some_and(|n| Arc::ptr_eq(n, old)));
            next[i] = back;
            refusals[i] = Some(reason);
        }
        None
    }

    /// Applies a finished check: build the runner with the new versions, swap, and record
    /// every outcome.
    pub fn apply(&mut self, report: Report) {
        let n = self.models.len();
        let mut next = self.loaded.clone();
        let mut refusals: Vec<Option<String>> = vec![None; n];
        let mut versions: Vec<Option<String>> = vec![None; n];
        let mut transient = false;
        let mut loaded_new = vec![false; n];
        for (i, o) in report.outcomes.into_iter().enumerate().take(n) {
            match o {
                Outcome::Unchanged { version } => versions[i] = Some(version),
                Outcome::Loaded(m) => {
                    versions[i] = Some(m.manifest.version.clone());
                    // A second binding of one model name would merge two models' state.
                    let taken = self.models.iter().enumerate().any(|(j, mc)| {
                        j != i
                            && next[j]
                                .as_ref()
                                .map_or(mc.name.as_str(), |x| x.manifest.name.as_str())
                                == m.manifest.name
                    });
                    if taken {
                        refusals[i] = Some(format!(
                            "model name {} is already bound by another [[models]] entry",
                            m.manifest.name
                        ));
                    } else {
                        next[i] = Some(m);
                        loaded_new[i] = true;
                    }
                }
                Outcome::Refused {
                    version,
                    reason,
                    transient: t,
                } => {
                    versions[i] = version;
                    refusals[i] = Some(reason);
                    transient |= t;
                }
            }
        }
        let changed = next.iter().zip(&self.loaded).any(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, None) => false,
            _ => true,
        });
        if changed {
            match self.build(&mut next, &mut refusals) {
                Some(mut runner) => {
                    runner.carry_alerts_from(&self.runner);
                    self.runner = runner;
                    self.loaded = next;
                }
                None => {
                    // Not expected (each round takes one model back); keep what runs and
                    // refuse what was new, so the next trigger tries again.
                    for (i, new) in loaded_new.iter_mut().enumerate() {
                        if std::mem::take(new) {
                            refusals[i] = Some("the model runner could not be rebuilt".into());
                        }
                    }
                }
            }
        }
        for (i, new) in loaded_new.iter_mut().enumerate() {
            // A new version taken back by `build` is not loaded.
            if *new && refusals[i].is_some() {
                *new = false;
            }
        }
        let at_ns = now_ns();
        for i in 0..n {
            let prev = self.reloads[i].as_ref().map(|(r, _)| r.clone());
            let (attempts, refusals_so_far) = prev.map_or((0, 0), |r| (r.attempts, r.refusals));
            let name = &self.models[i].name;
            let outcome = match &refusals[i] {
                Some(reason) => {
                    let running = self.loaded[i].as_ref().map(|m| m.manifest.version.clone());
                    error!(model = %name, error = %reason, running = ?running, trigger = report.trigger, "Model package refused.");
                    "refused"
                }
                None if loaded_new[i] => {
                    let version = self.loaded[i].as_ref().map(|m| m.manifest.version.clone());
                    info!(model = %name, version = %version.unwrap_or_default(), reason = report.trigger, "Model loaded.");
                    "loaded"
                }
                None => "unchanged",
            };
            if let Some(m) = &self.loaded[i] {
                // The status is keyed by the running package's name.
                self.models[i].name = m.manifest.name.clone();
            }
            self.reloads[i] = Some((
                ReloadStatus {
                    at_ns,
                    trigger: report.trigger.to_string(),
                    outcome: outcome.to_string(),
                    version: versions[i].clone(),
                    attempts: attempts + 1,
                    refusals: refusals_so_far + u64::from(refusals[i].is_some()),
                },
                refusals[i].clone(),
            ));
        }
        if transient {
            self.retry_after = Some(self.retry_delay);
            self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
        } else {
            self.retry_after = None;
            self.retry_delay = RETRY_FIRST;
        }
    }
}
