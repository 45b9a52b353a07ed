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
//! - **Learning.** The first `learn_steps` complete steps are kept (at most
//!   [`crate::config::MAX_LEARN_VALUES`] values) and then learned from
//!   ([`Baseline::learn`]); the model thread spends that time once per asset (the `detect`
//!   group of the micro-benchmarks: `learn/52x500`). A step with a non-finite mean is not
//!   used and is counted.
//! - **Scoring.** Every later step gets an anomaly index ([`Scorer`]); the alert rule
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

use crate::alert::window::{Direction, Lifecycle, WindowRule, WindowRuleState};
use crate::config::{DetectorConfig, DetectorMethod};
use crate::record::{
    Alert, AlertEvent, AssetMeta, Contribution, DetectorAlertInfo, DetectorStatus, Record, Sample,
    ALERT_SCHEMA,
};
use crate::util::{FastMap, NamePair};
use crate::window::{WindowError, WindowSpec, Windower};

use super::baseline::{Baseline, Scorer};
use super::persist::{self, Provenance};
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
}

/// The steps of a learning phase so far.
#[derive(Debug, Default)]
struct Learning {
    rows: Vec<Vec<f64>>,
    /// Event time of the first step's start and of the last step's end.
    from_ns: Option<i64>,
    to_ns: i64,
    trigger: Option<BaselineTrigger>,
}

/// Where one asset's detector is.
#[derive(Debug)]
enum Phase {
    Learning(Learning),
    Scoring {
        scorer: Box<Scorer>,
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
    x: Vec<f64>,
    /// Of the baseline in use (0: none yet).
    generation: u64,
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

/// The window of one grid step.
pub fn step_window(c: &DetectorConfig) -> WindowSpec {
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
                    x: vec![0.0; c.signals.len()],
                    generation: 0,
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
                            inst.phase = Phase::Scoring {
                                scorer: Box::new(Scorer::new(b)),
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
                            inst.generation = rec.generation;
                            inst.phase = Phase::Scoring {
                                scorer: Box::new(Scorer::new(b)),
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
                generation,
            } = inst;
            let stats = self.stats.entry(config.name.clone()).or_default();
            windower.push(k, s.ts_ns, s.value, |w| {
                for (v, values) in x.iter_mut().zip(w.signals) {
                    *v = values.iter().sum::<f64>() / values.len().max(1) as f64;
                }
                if x.iter().any(|v| !v.is_finite()) {
                    stats.skipped_steps += 1;
                    return;
                }
                stats.steps += 1;
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

    /// Status per detector.
    pub fn status(&self) -> BTreeMap<String, DetectorStatus> {
        let mut out: BTreeMap<String, DetectorStatus> = BTreeMap::new();
        for inst in &self.instances {
            let s = out.entry(inst.config.name.clone()).or_default();
            s.assets += 1;
            match &inst.phase {
                Phase::Learning(l) => {
                    s.learning += 1;
                    s.learning_steps = s.learning_steps.max(l.rows.len());
                }
                Phase::Scoring { relearn, .. } => {
                    s.learned += 1;
                    if let Some(l) = relearn {
                        s.relearning += 1;
                        s.learning_steps = s.learning_steps.max(l.rows.len());
                    }
                }
                Phase::Failed => s.failed += 1,
            }
            s.generation = s.generation.max(inst.generation);
            s.learn_steps = inst.config.learn_steps;
            let w = inst.windower.counters();
            for (k, n) in w.drops() {
                *s.window_drops.entry(k.to_string()).or_default() += n;
            }
        }
        for (name, st) in &self.stats {
            let s = out.entry(name.clone()).or_default();
            s.steps = st.steps;
            s.skipped_steps = st.skipped_steps;
            s.last_error = st.last_error.clone();
        }
        out
    }
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

/// The gateway and asset a step belongs to.
struct Here<'a> {
    gateway: &'a str,
    site: &'a str,
    asset: &'a str,
}

impl Learning {
    /// Keep a step's vector; true when the phase has all it needs.
    fn add(&mut self, x: &[f64], step: &Step<'_>, config: &DetectorConfig) -> bool {
        self.from_ns.get_or_insert(step.start_ns);
        self.to_ns = step.end_ns;
        self.rows.push(x.to_vec());
        self.rows.len() >= config.learn_steps
    }
}

/// Learn from the phase's steps; the baseline's record goes to `out`, the scorer and the
/// event time of its last step are returned. On failure the reason is in `last_error`.
fn learn(
    config: &DetectorConfig,
    l: &mut Learning,
    here: &Here<'_>,
    generation: &mut u64,
    out: &mut Vec<Record>,
    stats: &mut Stats,
) -> Option<(Box<Scorer>, i64)> {
    let DetectorMethod::Pca {
        lags,
        cumulative_variance,
    } = config.method;
    let rows = std::mem::take(&mut l.rows);
    let end_ns = l.to_ns;
    match Baseline::learn(&rows, lags, cumulative_variance) {
        Ok(b) => {
            *generation += 1;
            tracing::info!(
                detector = %config.name,
                asset = %here.asset,
                steps = b.steps,
                components = b.model.components(),
                explained = b.model.explained,
                generation = *generation,
                "Baseline learned."
            );
            let record = persist::to_record(
                config,
                &b,
                &Provenance {
                    gateway: here.gateway,
                    site: here.site,
                    asset: here.asset,
                    generation: *generation,
                    trigger: l.trigger.unwrap_or(BaselineTrigger::Learned),
                    learned_from_ns: l.from_ns.unwrap_or(end_ns),
                    learned_to_ns: end_ns,
                },
            );
            out.push(Record::Baseline(Box::new(record)));
            Some((Box::new(Scorer::new(b)), end_ns))
        }
        Err(e) => {
            tracing::warn!(detector = %config.name, asset = %here.asset, error = %e, "Learning failed.");
            stats.last_error = Some(e.to_string());
            None
        }
    }
}

fn score(
    gateway: &str,
    site: &str,
    step: &Step<'_>,
    scorer: &mut Scorer,
    learned_ns: i64,
    alert: &mut WindowRuleState,
    out: &mut Vec<Record>,
) {
    let sc = scorer.score(step.x);
    let before = alert.raised();
    let Some(life) = alert.observe(sc.index, step.end_ns) else {
        return;
    };
    let rule = alert.rule();
    let since = before
        .or(alert.raised())
        .map_or(step.end_ns, |r| r.since_ns);
    let (event, limit) = match life {
        Lifecycle::Raised => (AlertEvent::Raised, rule.on),
        Lifecycle::Updated => (AlertEvent::Updated, rule.on),
        Lifecycle::Cleared => (AlertEvent::Cleared, rule.off),
    };
    let c = step.config;
    out.push(Record::Alert(Alert {
        schema: ALERT_SCHEMA.into(),
        id: format!("{gateway}/{}/{}/{}/{since}", step.asset, c.name, rule.name),
        event,
        gateway: gateway.to_string(),
        site: site.to_string(),
        asset: step.asset.to_string(),
        rule: rule.name.clone(),
        severity: rule.severity,
        signal: "anomaly_index".into(),
        value: sc.index,
        limit,
        ts_ns: step.end_ns,
        since_ns: since,
        meta: step.meta.clone(),
        model: None,
        detector: Some(DetectorAlertInfo {
            name: c.name.clone(),
            baseline_ns: learned_ns,
            step_start_ns: step.start_ns,
            step_end_ns: step.end_ns,
            contributions: contributions(c, scorer, step.x),
        }),
    }));
}

/// The signals with the largest share of the last scored vector's index, largest first.
fn contributions(c: &DetectorConfig, scorer: &Scorer, x: &[f64]) -> Vec<Contribution> {
    let shares = scorer.shares();
    let model = &scorer.baseline().model;
    let mut all: Vec<Contribution> = c
        .signals
        .iter()
        .zip(x)
        .enumerate()
        .map(|(j, (name, &value))| Contribution {
            signal: name.to_string(),
            value,
            z: (value - model.mean[j]) / model.sd[j],
            share: shares.get(j).copied().unwrap_or(0.0),
        })
        .collect();
    all.sort_by(|a, b| b.share.total_cmp(&a.share));
    all.truncate(CONTRIBUTIONS);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Severity;

    const CONFIG: &str = r#"
[gateway]
id = "gw"
site = "plant"
data_dir = "/tmp/unused"
[kafka]
bootstrap_servers = "127.0.0.1:9"
[[sources]]
type = "mqtt"
name = "m"
host = "127.0.0.1"
topics = ["plant/+"]
topic_pattern = "plant/{asset}"
[[assets]]
id = "pump-1"
signals = [
  { name = "a" }, { name = "b" }, { name = "c" }, { name = "d" },
  { name = "e" }, { name = "f" }, { name = "g" }, { name = "h" },
]
[[detectors]]
name = "pump"
assets = ["pump-1"]
signals = ["a", "b", "c", "d", "e", "f", "g", "h"]
grid_secs = 10
learn = { steps = 300 }
lags = 1
alert = { severity = "critical", k = 2, n = 3 }
"#;

    fn runner() -> DetectorRunner {
        let c = crate::config::parse_str(CONFIG, "test", std::path::Path::new("/tmp"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.detectors.len(), 1);
        DetectorRunner::new("gw", "plant", &c.detectors, &[]).unwrap()
    }

    const NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

    /// Step `t` of a process: two slow factors drive eight signals; from step `fault`, signal
    /// `c` is 3 higher (about 1.3 of its standard deviations) than its relation to the others
    /// says.
    fn step(t: i64, fault: Option<i64>) -> [f64; 8] {
        let f1 = (t as f64 * 0.07).sin() * 2.0 + (t as f64 * 0.011).cos();
        let f2 = (t as f64 * 0.031).cos() * 1.5;
        let w1 = [1.0, 2.0, 0.5, -1.0, 1.5, 0.3, -0.7, 1.0];
        let w2 = [0.5, -1.0, 2.0, 1.0, 0.2, -1.5, 0.8, 1.0];
        let mut x = [0.0; 8];
        for (j, v) in x.iter_mut().enumerate() {
            let k = j as i64;
            let noise = (((t * 7919 + k * 104_729) % 1000) as f64 / 1000.0 - 0.5) * 0.1;
            *v = 10.0 * (k + 1) as f64 + w1[j] * f1 + w2[j] * f2 + noise;
        }
        if fault.is_some_and(|at| t >= at) {
            x[2] += 3.0;
        }
        x
    }

    fn feed(r: &mut DetectorRunner, from: i64, to: i64, fault: Option<i64>) -> Vec<Alert> {
        feed_all(r, from, to, fault)
            .into_iter()
            .filter_map(|r| match r {
                Record::Alert(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    fn baselines(records: &[Record]) -> Vec<&BaselineRecord> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Baseline(b) => Some(&**b),
                _ => None,
            })
            .collect()
    }

    fn feed_all(r: &mut DetectorRunner, from: i64, to: i64, fault: Option<i64>) -> Vec<Record> {
        let mut out = Vec::new();
        for t in from..to {
            for (k, v) in step(t, fault).iter().enumerate() {
                let s = Sample {
                    asset: Arc::from("pump-1"),
                    signal: Arc::from(NAMES[k]),
                    value: *v,
                    ts_ns: 1_767_225_600_000_000_000 + t * 10_000_000_000,
                };
                r.push(&s, &mut out);
            }
        }
        out
    }

    #[test]
    fn learning_sends_the_baseline_and_a_stored_one_scores_from_the_first_step() {
        let mut r = runner();
        let records = feed_all(&mut r, 0, 301, None);
        let learned = baselines(&records);
        assert_eq!(learned.len(), 1, "{records:?}");
        let b = learned[0].clone();
        assert_eq!((b.detector.as_str(), b.asset.as_str()), ("pump", "pump-1"));
        assert_eq!((b.generation, b.trigger), (1, BaselineTrigger::Learned));
        assert_eq!(b.steps, 300);
        assert_eq!(b.learned_to_ns - b.learned_from_ns, 300 * 10_000_000_000);
        assert_eq!(b.stats.len(), 8);

        // A new start with it stored: learned at once, and the fault is raised without a
        // learning phase.
        let c = crate::config::parse_str(CONFIG, "test", std::path::Path::new("/tmp")).unwrap();
        let mut again =
            DetectorRunner::new("gw", "plant", &c.detectors, std::slice::from_ref(&b)).unwrap();
        let st = &again.status()["pump"];
        assert_eq!(
            (st.learned, st.learning, st.generation),
            (1, 0, 1),
            "{st:?}"
        );
        let alerts = feed(&mut again, 1000, 1050, Some(1000));
        assert!(alerts.iter().any(|a| a.event == AlertEvent::Raised));

        // Stored for other signals: not used, the reason named, learning again.
        let mut other = b.clone();
        other.signals.swap(0, 1);
        let fresh = DetectorRunner::new("gw", "plant", &c.detectors, &[other]).unwrap();
        let st = &fresh.status()["pump"];
        assert_eq!((st.learned, st.learning), (0, 1), "{st:?}");
        assert!(
            st.last_error.as_deref().unwrap_or("").contains("signals"),
            "{st:?}"
        );
    }

    #[test]
    fn relearn_keeps_scoring_until_the_new_baseline_then_switches_and_reset_forgets() {
        let mut r = runner();
        feed_all(&mut r, 0, 301, None);
        let mut out = Vec::new();
        r.apply("pump", "pump-1", Action::Relearn, None, &mut out);
        assert!(out.is_empty());
        assert_eq!(r.status()["pump"].relearning, 1);
        // During the relearn a fault is still raised by the old baseline.
        let records = feed_all(&mut r, 301, 320, Some(305));
        assert!(records
            .iter()
            .any(|x| matches!(x, Record::Alert(a) if a.event == AlertEvent::Raised)));
        // 300 steps later the new baseline is out, generation 2, relearned.
        let records = feed_all(&mut r, 320, 610, None);
        let b = baselines(&records);
        assert_eq!(b.len(), 1);
        assert_eq!(
            (b[0].generation, b[0].trigger),
            (2, BaselineTrigger::Relearned)
        );
        let st = &r.status()["pump"];
        assert_eq!(
            (st.learned, st.relearning, st.generation),
            (1, 0, 2),
            "{st:?}"
        );

        // Reset: learning from the next step, nothing scored meanwhile.
        r.apply("pump", "pump-1", Action::Reset, None, &mut out);
        let st = &r.status()["pump"];
        assert_eq!((st.learned, st.learning), (0, 1), "{st:?}");
        let records = feed_all(&mut r, 700, 760, Some(700));
        assert!(records.is_empty(), "{records:?}");
    }

    #[test]
    fn an_import_is_scored_with_at_once_and_sent_as_this_gateways() {
        let mut source = runner();
        let records = feed_all(&mut source, 0, 301, None);
        let mut b = baselines(&records)[0].clone();
        b.gateway = "old-gw".into();
        b.trigger = BaselineTrigger::Imported;
        b.generation = 1;
        let mut r = runner();
        let mut out = Vec::new();
        r.apply("pump", "pump-1", Action::Import, Some(&b), &mut out);
        let sent = baselines(&out);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].gateway, "gw");
        assert_eq!(sent[0].trigger, BaselineTrigger::Imported);
        assert_eq!(r.status()["pump"].learned, 1);
        let alerts = feed(&mut r, 1000, 1050, Some(1000));
        assert!(alerts.iter().any(|a| a.event == AlertEvent::Raised));
    }

    #[test]
    fn learns_then_raises_an_explained_alert_and_clears_it() {
        let mut r = runner();
        // 300 steps to learn (the 301st sample time closes the 300th step); nothing raised.
        assert!(feed(&mut r, 0, 301, None).is_empty());
        let st = &r.status()["pump"];
        assert_eq!((st.assets, st.learned, st.learning), (1, 1, 0), "{st:?}");
        // Normal operation continues: no alert.
        assert!(feed(&mut r, 301, 600, None).is_empty());
        // The fault: raised on the second step past `on` (2 of 3), naming signal c first.
        let alerts = feed(&mut r, 600, 650, Some(600));
        let raised = alerts
            .iter()
            .find(|a| a.event == AlertEvent::Raised)
            .unwrap();
        assert_eq!(raised.severity, Severity::Critical);
        assert_eq!(raised.rule, "pump-anomaly");
        assert_eq!(raised.signal, "anomaly_index");
        assert!(raised.value >= 1.2, "{}", raised.value);
        let info = raised.detector.as_ref().unwrap();
        assert_eq!(info.name, "pump");
        assert_eq!(info.contributions.len(), CONTRIBUTIONS);
        assert_eq!(
            info.contributions[0].signal, "c",
            "{:?}",
            info.contributions
        );
        assert!(
            info.contributions[0].share > 0.5,
            "{:?}",
            info.contributions
        );
        let step_ns = 10_000_000_000;
        assert_eq!(info.step_end_ns - info.step_start_ns, step_ns);
        assert!(raised.ts_ns <= 1_767_225_600_000_000_000 + 603 * step_ns);
        // Back to normal: cleared, with the raise's id.
        let alerts = feed(&mut r, 650, 700, None);
        let cleared = alerts
            .iter()
            .find(|a| a.event == AlertEvent::Cleared)
            .unwrap();
        assert_eq!(cleared.id, raised.id);
        assert!(cleared.value < 1.0);
        assert_eq!(r.status()["pump"].steps, 699);
    }

    #[test]
    fn steps_with_a_missing_signal_are_gaps_not_vectors() {
        let mut r = runner();
        let mut out = Vec::new();
        // Only signal a: no step completes, nothing is learned.
        for t in 0..1000 {
            r.push(
                &Sample {
                    asset: Arc::from("pump-1"),
                    signal: Arc::from("a"),
                    value: 1.0,
                    ts_ns: t * 10_000_000_000,
                },
                &mut out,
            );
        }
        let st = &r.status()["pump"];
        assert_eq!(
            (st.steps, st.learning, st.learning_steps),
            (0, 1, 0),
            "{st:?}"
        );
        assert!(
            st.window_drops.get("gap").copied().unwrap_or(0) > 900,
            "{st:?}"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn non_finite_means_are_skipped_and_counted() {
        let mut r = runner();
        let mut out = Vec::new();
        for t in 0..50 {
            for k in NAMES {
                r.push(
                    &Sample {
                        asset: Arc::from("pump-1"),
                        signal: Arc::from(k),
                        value: if k == "b" && t % 2 == 0 {
                            f64::INFINITY
                        } else {
                            1.0
                        },
                        ts_ns: t * 10_000_000_000,
                    },
                    &mut out,
                );
            }
        }
        let st = &r.status()["pump"];
        assert_eq!(st.skipped_steps + st.steps, 49, "{st:?}");
        assert!(st.skipped_steps >= 24, "{st:?}");
    }
}
