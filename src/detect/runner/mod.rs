//! Running the detectors of the provisioning file: per detector and asset, the signals on an
//! event-time grid, a learning phase, then an anomaly index per step and its alert rule.
//!
//! [`DetectorRunner`] is synchronous and owns no thread: the model stage runs it on its thread
//! beside the models (`model::stage`), fed with the same samples.
//!
//! Per detector and asset:
//! - **Steps.** A time window of one grid step (`grid_secs`, `samples_per_step` values per
//!   signal by sample and hold, [`crate::window`]), so late, out-of-order and jumping event
//!   times are handled as for the models' windows; a step's vector is each signal's mean.
//! - **Learning.** The first `learn_steps` complete steps (or those within the configured
//!   event-time span, [`Learning::add`]) are kept (at most
//!   [`crate::config::MAX_LEARN_VALUES`] values) and then learned from
//!   ([`Baseline::learn`]); the model thread spends that time once per asset (the `detect`
//!   group of the micro-benchmarks: `learn/52x500`). A step with a non-finite mean is not
//!   used and is counted.
//! - **Scoring.** Every later step gets an anomaly index ([`AnyScorer`]: PCA or kNN); the alert rule
//!   ([`WindowRuleState`]: `on`, `off`, `k` of `n`) raises, updates and clears an alert whose
//!   `detector.contributions` name the signals with the largest share.
//! - **Baselines kept.** A learned baseline leaves as a [`Record::Baseline`]: the outbox
//!   writer stores it (the `baselines` database, [`crate::outbox::baselines`]) in the same
//!   transaction that queues it for Kafka. At start, a stored baseline that fits the
//!   configured detector ([`persist::adopt`]) is scored with at once; one that does not is
//!   named in `last_error` and the asset learns again.
//! - **Requests** from `forewarn baseline` ([`DetectorRunner::apply`]): `reset` forgets the
//!   baseline and learns from the next step; `relearn` learns a new one from the next steps
//!   while the old one keeps scoring, then switches; `import` scores with the imported one.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::alert::window::{Direction, WindowRule, WindowRuleState};
use crate::config::DetectorConfig;
use crate::features::{Feature, FeatureError, FeatureExtractor, FeatureSet};
use crate::record::{AssetMeta, Record, Sample};
use crate::util::{FastMap, NamePair};
use crate::window::{WindowError, WindowSpec, Windower};

use super::learned::AnyScorer;
use super::persist;
use crate::outbox::baselines::Action;
use crate::record::{BaselineRecord, BaselineTrigger};

/// Contributions named in an alert.
pub const CONTRIBUTIONS: usize = 3;

/// Why the detectors could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("detector `{detector}`: {source}")]
    Window {
        detector: String,
        source: WindowError,
    },
    #[error("detector `{detector}`: {source}")]
    Features {
        detector: String,
        source: FeatureError,
    },
}

/// The steps of a learning phase so far.
#[derive(Debug, Default)]
struct Learning {
    rows: Vec<Vec<f64>>,
    /// Event time of the first step's start and of the last step's end.
    from_ns: Option<i64>,
    to_ns: i64,
    trigger: Option<BaselineTrigger>,
    /// The configured learning span was over before this phase kept a step.
    span_missed: bool,
}

/// Where one asset's detector is.
#[derive(Debug)]
enum Phase {
    Learning(Learning),
    Scoring {
        scorer: Box<AnyScorer>,
        /// Event time of the baseline's last learned step.
        learned_ns: i64,
        /// A relearn in progress: the old baseline scores until the new one is learned.
        relearn: Option<Learning>,
    },
    /// Learning failed (the reason is in the status's `last_error`); nothing is scored for
    /// this asset until a `baseline reset`, `relearn` or a restart.
    Failed,
}

impl Phase {
    fn learning(trigger: BaselineTrigger) -> Phase {
        Phase::Learning(Learning {
            trigger: Some(trigger),
            ..Learning::default()
        })
    }
}

struct Instance {
    config: Arc<DetectorConfig>,
    asset: Arc<str>,
    meta: AssetMeta,
    windower: Windower,
    phase: Phase,
    alert: WindowRuleState,
    /// A step's vector: each signal's mean, or with features the window's feature vector.
    x: Vec<f64>,
    features: Option<FeatureStep>,
    /// Of the baseline in use (0: none yet).
    generation: u64,
    /// Event time of the last step's start and end.
    last_step: (i64, i64),
}

impl Instance {
    fn learned_ns(&self) -> Option<i64> {
        match &self.phase {
            Phase::Scoring { learned_ns, .. } => Some(*learned_ns),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    steps: u64,
    skipped_steps: u64,
    last_error: Option<String>,
}

/// (asset, signal) → every (instance, signal index) it feeds.
type Routes = FastMap<(Arc<str>, Arc<str>), Vec<(usize, usize)>>;

/// Every detector of the provisioning file on every asset it is bound to.
pub struct DetectorRunner {
    gateway: String,
    site: String,
    instances: Vec<Instance>,
    routes: Routes,
    stats: BTreeMap<String, Stats>,
}

/// The window of one step: a grid step, or the window features are computed over.
pub fn step_window(c: &DetectorConfig) -> WindowSpec {
    if let Some(f) = &c.features {
        return WindowSpec::Samples {
            len: f.samples,
            hop: f.hop,
            sample_rate_hz: f.sample_rate_hz,
            max_gap_secs: None,
        };
    }
    WindowSpec::Time {
        secs: c.grid_secs,
        hop_secs: c.grid_secs,
        sample_rate_hz: c.samples_per_step as f64 / c.grid_secs,
        max_gap_secs: None,
        lateness_secs: 0.0,
    }
}

/// The alert rule of a detector.
pub fn rule(c: &DetectorConfig) -> WindowRule {
    WindowRule {
        name: c.alert.name.clone(),
        severity: c.alert.severity,
        class: None,
        direction: Direction::Above,
        on: c.alert.on,
        off: c.alert.off,
        k: c.alert.k,
        n: c.alert.n,
    }
}

impl DetectorRunner {
    /// The runner for `detectors`, scoring at once where `stored` holds a baseline that fits.
    pub fn new(
        gateway: &str,
        site: &str,
        detectors: &[DetectorConfig],
        stored: &[BaselineRecord],
    ) -> Result<DetectorRunner, DetectorError> {
        let mut r = DetectorRunner {
            gateway: gateway.to_string(),
            site: site.to_string(),
            instances: Vec::new(),
            routes: FastMap::default(),
            stats: BTreeMap::new(),
        };
        for c in detectors {
            let c = Arc::new(c.clone());
            r.stats.insert(c.name.clone(), Stats::default());
            for (asset, meta) in &c.assets {
                let windower =
                    Windower::new(step_window(&c), c.signals.len()).map_err(|source| {
                        DetectorError::Window {
                            detector: c.name.clone(),
                            source,
                        }
                    })?;
                let features = feature_step(&c).map_err(|source| DetectorError::Features {
                    detector: c.name.clone(),
                    source,
                })?;
                let idx = r.instances.len();
                for (k, s) in c.signals.iter().enumerate() {
                    r.routes
                        .entry((asset.clone(), s.clone()))
                        .or_default()
                        .push((idx, k));
                }
                let mut inst = Instance {
                    config: c.clone(),
                    asset: asset.clone(),
                    meta: meta.clone(),
                    windower,
                    phase: Phase::learning(BaselineTrigger::Learned),
                    alert: WindowRuleState::new(rule(&c)),
                    x: vec![0.0; c.inputs.len()],
                    features,
                    generation: 0,
                    last_step: (0, 0),
                };
                if let Some(rec) = stored
                    .iter()
                    .find(|b| b.detector == c.name && *b.asset == **asset)
                {
                    let stats = r.stats.entry(c.name.clone()).or_default();
                    inst.generation = rec.generation;
                    match persist::adopt(&c, rec) {
                        Ok(b) => {
                            tracing::info!(detector = %c.name, %asset, generation = rec.generation,
                                "Stored baseline in use.");
                            let mut scorer = AnyScorer::new(b, c.adapt_half_life_steps);
                            scorer.forget_past();
                            inst.phase = Phase::Scoring {
                                scorer: Box::new(scorer),
                                learned_ns: rec.learned_to_ns,
                                relearn: None,
                            };
                        }
                        Err(why) => {
                            let e = format!(
                                "stored baseline for {asset} not used: {why}; learning again"
                            );
                            tracing::warn!(detector = %c.name, "{e}");
                            stats.last_error = Some(e);
                        }
                    }
                }
                r.instances.push(inst);
            }
        }
        Ok(r)
    }

    /// Carry out a `forewarn baseline` request for `detector` on `asset` (`stored`: the
    /// baseline the request stored, for an import). Baseline records it causes go to `out`.
    pub fn apply(
        &mut self,
        detector: &str,
        asset: &str,
        action: Action,
        stored: Option<&BaselineRecord>,
        out: &mut Vec<Record>,
    ) {
        let (gateway, site) = (self.gateway.as_str(), self.site.as_str());
        for inst in self
            .instances
            .iter_mut()
            .filter(|i| i.config.name == detector && &*i.asset == asset)
        {
            let stats = self.stats.entry(inst.config.name.clone()).or_default();
            match action {
                Action::Reset => {
                    tracing::info!(%detector, %asset, "Baseline reset: learning from the next step.");
                    out.extend(score::cleared_by(gateway, site, inst, "baseline reset"));
                    inst.phase = Phase::learning(BaselineTrigger::Learned);
                }
                Action::Relearn => match &mut inst.phase {
                    Phase::Scoring { relearn, .. } => {
                        tracing::info!(%detector, %asset,
                            "Relearning: the current baseline scores until the new one is learned.");
                        *relearn = Some(Learning {
                            trigger: Some(BaselineTrigger::Relearned),
                            ..Learning::default()
                        });
                    }
                    Phase::Failed => inst.phase = Phase::learning(BaselineTrigger::Learned),
                    Phase::Learning(_) => {}
                },
                Action::Import => {
                    let Some(rec) = stored else { continue };
                    match persist::adopt(&inst.config, rec) {
                        Ok(b) => {
                            tracing::info!(%detector, %asset, generation = rec.generation,
                                "Imported baseline in use.");
                            out.extend(score::cleared_by(gateway, site, inst, "baseline imported"));
                            inst.generation = rec.generation;
                            inst.phase = Phase::Scoring {
                                scorer: Box::new(AnyScorer::new(
                                    b,
                                    inst.config.adapt_half_life_steps,
                                )),
                                learned_ns: rec.learned_to_ns,
                                relearn: None,
                            };
                            let mut r = rec.clone();
                            r.gateway = gateway.to_string();
                            r.site = site.to_string();
                            out.push(Record::Baseline(Box::new(r)));
                        }
                        Err(why) => {
                            let e = format!("imported baseline for {asset} not used: {why}");
                            tracing::warn!(%detector, "{e}");
                            stats.last_error = Some(e);
                        }
                    }
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Feed one sample; alert records it causes go to `out`.
    pub fn push(&mut self, s: &Sample, out: &mut Vec<Record>) {
        let key: &dyn NamePair = &(s.asset.as_ref(), s.signal.as_ref());
        let Some(routes) = self.routes.get(key) else {
            return;
        };
        let (gateway, site) = (self.gateway.as_str(), self.site.as_str());
        for &(i, k) in routes {
            let Some(inst) = self.instances.get_mut(i) else {
                continue;
            };
            let Instance {
                config,
                asset,
                meta,
                windower,
                phase,
                alert,
                x,
                features,
                generation,
                last_step,
            } = inst;
            let stats = self.stats.entry(config.name.clone()).or_default();
            windower.push(k, s.ts_ns, s.value, |w| {
                let ok = match features {
                    Some(FeatureStep { extractor: e, log }) => {
                        let windows: Vec<&[f64]> = w.signals.iter().map(Vec::as_slice).collect();
                        // A window the extractor refuses leaves `x` as it was: skipped below.
                        let ok = e.extract_f64(&windows, x).is_ok();
                        if ok {
                            for (v, _) in x.iter_mut().zip(log.iter()).filter(|(_, l)| **l) {
                                *v = v.max(LOG_FLOOR).log10();
                            }
                        }
                        ok
                    }
                    None => {
                        for (v, values) in x.iter_mut().zip(w.signals) {
                            *v = values.iter().sum::<f64>() / values.len().max(1) as f64;
                        }
                        true
                    }
                };
                if !ok || x.iter().any(|v| !v.is_finite()) {
                    stats.skipped_steps += 1;
                    return;
                }
                stats.steps += 1;
                *last_step = (w.start_ns, w.end_ns);
                let step = Step {
                    config,
                    asset,
                    meta,
                    x,
                    start_ns: w.start_ns,
                    end_ns: w.end_ns,
                };
                let here = Here {
                    gateway,
                    site,
                    asset,
                };
                match phase {
                    Phase::Learning(l) => {
                        if l.add(x, &step, config) {
                            *phase = match learn(config, l, &here, generation, out, stats) {
                                Some((scorer, learned_ns)) => Phase::Scoring {
                                    scorer,
                                    learned_ns,
                                    relearn: None,
                                },
                                None => Phase::Failed,
                            };
                        }
                    }
                    Phase::Scoring {
                        scorer,
                        learned_ns,
                        relearn,
                    } => {
                        score(gateway, site, &step, scorer, *learned_ns, alert, out);
                        if let Some(l) = relearn {
                            if l.add(x, &step, config) {
                                // A failed relearn keeps the baseline in use.
                                if let Some((s, ns)) =
                                    learn(config, l, &here, generation, out, stats)
                                {
                                    *scorer = s;
                                    *learned_ns = ns;
                                }
                                *relearn = None;
                            }
                        }
                    }
                    Phase::Failed => {}
                }
            });
        }
    }
}

/// The smallest amplitude or energy taken to `log10` (a dead, constant sensor scores −30).
const LOG_FLOOR: f64 = 1e-30;

/// The feature extractor of a detector over feature vectors, and per feature whether it is
/// an amplitude or an energy (`std`, `rms`, `peak_to_peak`, `band_energy`, `env_band`): such
/// features spread over decades and grow by factors when a fault develops, so they are learned
/// and scored as `log10` (decibels / 10), which keeps a few loud healthy windows from setting
/// the scale. EVALUATION.md (CWRU) measures the choice.
fn feature_step(c: &DetectorConfig) -> Result<Option<FeatureStep>, FeatureError> {
    if c.features.is_none() {
        return Ok(None);
    }
    let set = FeatureSet::parse(c.inputs.iter().map(|n| &**n))?;
    let log = set
        .names()
        .iter()
        .map(|n| {
            matches!(
                n.feature,
                Feature::Std
                    | Feature::Rms
                    | Feature::PeakToPeak
                    | Feature::BandEnergy(_)
                    | Feature::EnvBand { .. }
            )
        })
        .collect();
    let shapes = vec![step_window(c).shape(); set.signals().len()];
    let extractor = FeatureExtractor::new(set, &shapes)?;
    Ok(Some(FeatureStep { extractor, log }))
}

/// What turns a window into a step's vector, for a detector over feature vectors.
struct FeatureStep {
    extractor: FeatureExtractor,
    /// Per feature: learned and scored as `log10`.
    log: Vec<bool>,
}

/// One finished step of one asset.
struct Step<'a> {
    config: &'a DetectorConfig,
    asset: &'a Arc<str>,
    meta: &'a AssetMeta,
    x: &'a [f64],
    start_ns: i64,
    end_ns: i64,
}

mod checkpoint;
mod learn;
mod score;
mod status;
#[cfg(test)]
mod tests;

pub use checkpoint::DetectorSnapshot;
use learn::{learn, Here};
use score::score;
