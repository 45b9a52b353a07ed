//! Running models on an asset's samples: route each sample to the windows that use it, and for
//! every finished window extract features, normalise, infer, and evaluate the alert rules.
//!
//! [`ModelRunner`] is synchronous and owns no thread: `app` runs it on a dedicated thread fed by
//! a bounded channel, never on the async reactor (inference takes microseconds to
//! milliseconds). The inference itself goes through [`Infer`], which the tract runtime
//! implements ([`super::onnx`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::features::{FeatureError, FeatureExtractor};
use crate::record::{
    Alert, AlertEvent, AssetMeta, Driver, ModelAlertInfo, ModelStatus, Record, Sample, ALERT_SCHEMA,
};
use crate::util::{FastMap, NamePair};
use crate::window::{WindowCounters, Windower};

use super::manifest::{Manifest, OutputKind};
use super::monitor::{FeatureMonitor, LatencyHistogram};
use super::onnx::ModelError;
use super::package::normalize;
use super::rule::score;
use crate::alert::window::{Lifecycle, RuleSnapshot, WindowRuleState};

mod checkpoint;
pub use checkpoint::{ModelMonitor, ModelWindow, MAX_PARKED};

/// A loaded model: normalised features in, the manifest's output tensor out (flattened).
pub trait Infer: Send + Sync {
    fn infer(&self, features: &[f32]) -> Result<Vec<f32>, InferError>;
}

/// Why one window's inference gave no usable output. Counted in the model's `errors`; the
/// status shows the last one as text (`last_error`).
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The runtime refused the input or failed running the model.
    #[error(transparent)]
    Model(Box<ModelError>),
    /// The model ran but has no output of the name the manifest reads.
    #[error("the model has no output {0:?}")]
    NoOutput(String),
    /// The output has another number of values than the manifest declares.
    #[error("output has {got} values, the manifest declares {want}")]
    OutputLen { got: usize, want: usize },
}

/// A package loaded and verified, shared by every asset it runs for.
pub struct LoadedModel {
    pub manifest: Manifest,
    pub model: Box<dyn Infer>,
}

/// Where a model runs: one asset, and which of its signals feed the model's signals.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub asset: Arc<str>,
    /// Asset signal per model signal, in the manifest's signal order.
    pub signals: Vec<Arc<str>>,
    pub meta: AssetMeta,
}

/// One model on one asset.
struct Instance {
    model: Arc<LoadedModel>,
    binding: Binding,
    windower: Windower,
    extractor: FeatureExtractor,
    raw: Vec<f32>,
    input: Vec<f32>,
    alerts: Vec<WindowRuleState>,
}

/// Counters and summaries of one model (all its assets), for the status.
#[derive(Debug, Clone, Default)]
pub struct ModelStats {
    pub version: String,
    /// The ONNX file's sha256, as the manifest gives it (and the load checked).
    pub sha256: String,
    pub assets: usize,
    pub inferences: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    pub latency: LatencyHistogram,
    pub monitor: FeatureMonitor,
}

/// (asset, signal).
type SignalKey = (Arc<str>, Arc<str>);

/// Every model bound to this gateway's assets.
pub struct ModelRunner {
    gateway: String,
    site: String,
    instances: Vec<Instance>,
    /// (asset, signal) → (instance, model signal index).
    routes: FastMap<SignalKey, Vec<(usize, usize)>>,
    stats: HashMap<String, ModelStats>,
    /// Alert states of a model, asset and rule that does not run now (its package not checked
    /// yet after a start, or refused), kept for when it does (at most [`MAX_PARKED`]).
    parked: Vec<RuleSnapshot>,
    /// The same for windows in progress ...
    parked_windows: Vec<ModelWindow>,
    /// ... and for hourly summaries.
    parked_monitors: Vec<ModelMonitor>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(
        "model {model}: binding for asset {asset} gives {got} signals, the model takes {want}"
    )]
    SignalCount {
        model: String,
        asset: String,
        got: usize,
        want: usize,
    },
    #[error("model {model}: {source}")]
    Features { model: String, source: FeatureError },
    #[error("model {model}: {source}")]
    Window {
        model: String,
        source: crate::window::WindowError,
    },
}

impl From<ModelError> for InferError {
    fn from(e: ModelError) -> InferError {
        InferError::Model(Box::new(e))
    }
}

impl RunnerError {
    /// The model whose instances could not be built.
    pub fn model(&self) -> &str {
        match self {
            RunnerError::SignalCount { model, .. }
            | RunnerError::Features { model, .. }
            | RunnerError::Window { model, .. } => model,
        }
    }
}

impl ModelRunner {
    /// Bind each model to its assets. Every model/asset pair gets its own windows and alert
    /// states; the loaded model is shared.
    pub fn new(
        gateway: &str,
        site: &str,
        models: Vec<(Arc<LoadedModel>, Vec<Binding>)>,
    ) -> Result<ModelRunner, RunnerError> {
        let mut r = ModelRunner {
            gateway: gateway.to_string(),
            site: site.to_string(),
            instances: Vec::new(),
            routes: FastMap::default(),
            stats: HashMap::new(),
            parked: Vec::new(),
            parked_windows: Vec::new(),
            parked_monitors: Vec::new(),
        };
        for (model, bindings) in models {
            let m = &model.manifest;
            let stats = r.stats.entry(m.name.clone()).or_default();
            stats.version = m.version.clone();
            stats.sha256 = m.sha256.clone();
            stats.assets += bindings.len();
            stats.monitor = FeatureMonitor::new(m);
            for binding in bindings {
                if binding.signals.len() != m.signals.len() {
                    return Err(RunnerError::SignalCount {
                        model: m.name.clone(),
                        asset: binding.asset.to_string(),
                        got: binding.signals.len(),
                        want: m.signals.len(),
                    });
                }
                let windower = Windower::new(m.window, m.signals.len()).map_err(|source| {
                    RunnerError::Window {
                        model: m.name.clone(),
                        source,
                    }
                })?;
                // The extractor takes one window per feature-set signal, in its order.
                let shapes = vec![m.window.shape(); m.features.signals().len()];
                let extractor =
                    FeatureExtractor::new(m.features.clone(), &shapes).map_err(|source| {
                        RunnerError::Features {
                            model: m.name.clone(),
                            source,
                        }
                    })?;
                let idx = r.instances.len();
                for (k, s) in binding.signals.iter().enumerate() {
                    r.routes
                        .entry((binding.asset.clone(), s.clone()))
                        .or_default()
                        .push((idx, k));
                }
                r.instances.push(Instance {
                    alerts: m.alerts.iter().cloned().map(WindowRuleState::new).collect(),
                    raw: vec![0.0; m.features.len()],
                    input: vec![0.0; m.features.len()],
                    windower,
                    extractor,
                    binding,
                    model: model.clone(),
                });
            }
        }
        Ok(r)
    }

    /// Whether any model uses this sample's signal (callers skip forwarding the rest).
    pub fn wants(&self, asset: &Arc<str>, signal: &Arc<str>) -> bool {
        self.routes
            .contains_key(&(asset.as_ref(), signal.as_ref()) as &dyn NamePair)
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    pub fn stats(&self) -> &HashMap<String, ModelStats> {
        &self.stats
    }

    /// Feed one sample; alert records it causes go to `out`.
    ///
    /// Every window the sample closes is featurised, inferred and run through the alert rules,
    /// oldest first (at most [`crate::window::MAX_WINDOWS_PER_PUSH`] per model and asset; the
    /// windower counts what it skips, by reason).
    pub fn push(&mut self, s: &Sample, out: &mut Vec<Record>) {
        let key: &dyn NamePair = &(s.asset.as_ref(), s.signal.as_ref());
        let Some(routes) = self.routes.get(key) else {
            return;
        };
        let (gateway, site) = (self.gateway.as_str(), self.site.as_str());
        let stats = &mut self.stats;
        for &(i, k) in routes {
            let Some(inst) = self.instances.get_mut(i) else {
                continue;
            };
            let Instance {
                model,
                binding,
                windower,
                extractor,
                raw,
                input,
                alerts,
                ..
            } = inst;
            let m = &model.manifest;
            windower.push(k, s.ts_ns, s.value, |w| {
                let stats = stats.entry(m.name.clone()).or_default();
                // Model signal order → feature-set signal order.
                let slices: Vec<&[f64]> = m
                    .features
                    .signals()
                    .iter()
                    .filter_map(|fs| m.signals.iter().position(|x| x == fs))
                    .filter_map(|j| w.signals.get(j).map(Vec::as_slice))
                    .collect();
                if let Err(e) = extractor.extract(&slices, raw) {
                    stats.errors += 1;
                    stats.last_error = Some(e.to_string());
                    return;
                }
                let scoring = Scoring {
                    model,
                    binding,
                    raw,
                    input,
                    alerts,
                };
                run_window(gateway, site, scoring, stats, w.start_ns, w.end_ns, out);
            });
        }
    }

    /// Window counters of every asset a model runs for, summed.
    pub fn window_counters(&self, model: &str) -> WindowCounters {
        let mut c = WindowCounters::default();
        for i in self
            .instances
            .iter()
            .filter(|i| i.model.manifest.name == model)
        {
            c.add(&i.windower.counters());
        }
        c
    }

    /// Status per model.
    pub fn status(&self) -> std::collections::BTreeMap<String, ModelStatus> {
        self.stats
            .iter()
            .map(|(name, st)| {
                let w = self.window_counters(name);
                let (hour, features, previous) = st.monitor.summaries();
                let drops = w.drops().map(|(k, n)| (k.to_string(), n)).collect();
                let s = ModelStatus {
                    version: st.version.clone(),
                    sha256: st.sha256.clone(),
                    assets: st.assets,
                    windows: w.windows,
                    window_drops: drops,
                    inferences: st.inferences,
                    errors: st.errors,
                    last_error: st.last_error.clone(),
                    latency_p50_us: st.latency.quantile_us(0.5),
                    latency_p99_us: st.latency.quantile_us(0.99),
                    drift_score: st.monitor.drift_score(),
                    hour_start_ns: hour,
                    features,
                    features_previous_hour: previous,
                    outputs: st.monitor.output_summaries(),
                    reload_error: None,
                    running: true,
                    last_reload: None,
                };
                (name.clone(), s)
            })
            .collect()
    }
}

/// What scoring one window needs of an [`Instance`] (whose windower is busy producing it).
struct Scoring<'a> {
    model: &'a LoadedModel,
    binding: &'a Binding,
    /// The window's features, as extracted.
    raw: &'a [f32],
    input: &'a mut [f32],
    alerts: &'a mut [WindowRuleState],
}

/// Normalise, infer, monitor, and evaluate the alert rules for one finished window.
fn run_window(
    gateway: &str,
    site: &str,
    inst: Scoring<'_>,
    stats: &mut ModelStats,
    start_ns: i64,
    end_ns: i64,
    out: &mut Vec<Record>,
) {
    let m = &inst.model.manifest;
    inst.input.copy_from_slice(inst.raw);
    normalize(m, inst.input);
    stats.monitor.observe(inst.raw, end_ns);
    let t = Instant::now();
    let output = inst.model.model.infer(inst.input);
    stats.latency.record(t.elapsed());
    let output = match output {
        Ok(o) if o.len() == m.output_len() => Ok(o),
        Ok(o) => Err(InferError::OutputLen {
            got: o.len(),
            want: m.output_len(),
        }),
        Err(e) => Err(e),
    };
    // The status schema shows the last error as text: formatted here, at that edge.
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            stats.errors += 1;
            stats.last_error = Some(e.to_string());
            return;
        }
    };
    stats.inferences += 1;
    stats.monitor.observe_output(&output);
    for state in inst.alerts.iter_mut() {
        let Some(sc) = score(state.rule(), &m.output, &output) else {
            continue;
        };
        let before = state.raised();
        let Some(life) = state.observe(sc, end_ns) else {
            continue;
        };
        let rule = state.rule();
        // The raise's window end identifies the alert; cleared and updated events keep it.
        let since = before.or(state.raised()).map_or(end_ns, |r| r.since_ns);
        let (event, limit) = match life {
            Lifecycle::Raised => (AlertEvent::Raised, rule.on),
            Lifecycle::Updated => (AlertEvent::Updated, rule.on),
            Lifecycle::Cleared => (AlertEvent::Cleared, rule.off),
        };
        let signal = match (&m.output, rule.class) {
            (OutputKind::Classes { labels, .. }, Some(c)) => {
                labels.get(c).cloned().unwrap_or_default()
            }
            (OutputKind::Classes { labels, normal }, None) => {
                format!(
                    "not-{}",
                    labels.get(*normal).map_or("normal", String::as_str)
                )
            }
            _ => m.output_name.clone(),
        };
        out.push(Record::Alert(Alert {
            schema: ALERT_SCHEMA.into(),
            id: format!(
                "{gateway}/{}/{}/{}/{since}",
                inst.binding.asset, m.name, rule.name
            ),
            event,
            gateway: gateway.to_string(),
            site: site.to_string(),
            asset: inst.binding.asset.to_string(),
            rule: rule.name.clone(),
            severity: rule.severity,
            signal,
            value: sc,
            limit,
            ts_ns: end_ns,
            since_ns: since,
            meta: inst.binding.meta.clone(),
            model: Some(ModelAlertInfo {
                name: m.name.clone(),
                version: m.version.clone(),
                window_start_ns: start_ns,
                window_end_ns: end_ns,
                drivers: drivers(m, inst.raw, 3),
            }),
            detector: None,
        }));
    }
}

/// The `n` features furthest from their training mean, in standard deviations (training
/// statistics, else the normalisation), most unusual first.
pub fn drivers(m: &Manifest, raw: &[f32], n: usize) -> Vec<Driver> {
    let (mean, std): (Vec<f64>, Vec<f64>) = match (&m.training, &m.normalize) {
        (Some(t), _) => (t.mean.clone(), t.std.clone()),
        (None, Some((mu, sd))) => (
            mu.iter().map(|&x| f64::from(x)).collect(),
            sd.iter().map(|&x| f64::from(x)).collect(),
        ),
        (None, None) => return Vec::new(),
    };
    let mut all: Vec<Driver> = m
        .features
        .names()
        .iter()
        .zip(raw)
        .zip(mean.iter().zip(&std))
        .map(|((name, &v), (&mu, &sd))| Driver {
            feature: name.to_string(),
            value: f64::from(v),
            z: if sd > 0.0 {
                (f64::from(v) - mu) / sd
            } else {
                0.0
            },
        })
        .collect();
    all.sort_by(|a, b| b.z.abs().total_cmp(&a.z.abs()));
    all.truncate(n);
    all
}
