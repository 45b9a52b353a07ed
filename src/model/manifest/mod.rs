//! `manifest.toml`: what a model package declares (format: `models/README.md`). Parsing
//! rejects unknown keys; [`Manifest::parse`] then checks meaning and every number against the
//! bounds of [`bounds`] (so that no manifest can make a window buffer, a loop or a table grow
//! without bound), and lists every problem with its field and, where the text has it, its line
//! and column ([`problems`]).
//!
//! Layout: `raw.rs` is the TOML as deserialized, `bounds.rs` the size limits, `problems.rs`
//! the typed problems and their locations; the checks of meaning are here.

use std::collections::{HashMap, HashSet};

use crate::features::{FeatureError, FeatureSet};
use crate::record::Severity;
use crate::util::check_name;
use crate::window::{WindowError, WindowSpec, Windower};

pub mod bounds;
pub mod problems;
mod raw;

pub use crate::alert::window::{Direction, WindowRule};
pub(crate) use problems::Problems;
pub use problems::{Location, ManifestErrors, ManifestProblem};
use raw::*;

/// What the model outputs and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputKind {
    /// Class probabilities, one per label, in label order; `normal` is the healthy class.
    Classes { labels: Vec<String>, normal: usize },
    /// One value (e.g. remaining useful life in `unit`).
    Regression { unit: Option<String> },
    /// One anomaly score (higher = more anomalous unless the rule says otherwise).
    Anomaly,
}

/// A golden vector: raw features in, expected output out.
#[derive(Debug, Clone, PartialEq)]
pub struct Golden {
    pub features: Vec<f32>,
    pub output: Vec<f32>,
    pub tolerance: f32,
}

/// Statistics of the training features, for drift scores.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingStats {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

/// A checked manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    pub onnx: String,
    pub sha256: String,
    pub signals: Vec<String>,
    pub features: FeatureSet,
    pub window: WindowSpec,
    /// Per feature (mean, std); the model is fed `(x − mean) / std`.
    pub normalize: Option<(Vec<f32>, Vec<f32>)>,
    pub output_name: String,
    pub output: OutputKind,
    pub alerts: Vec<WindowRule>,
    pub golden: Vec<Golden>,
    pub training: Option<TrainingStats>,
}

impl Manifest {
    /// Parse and check `text`: every field against its type, its meaning and its bounds
    /// ([`bounds`]); every problem is listed with its field, and with its line and column
    /// where the text has the field ([`ManifestProblem`]).
    pub fn parse(text: &str) -> Result<Manifest, ManifestErrors> {
        if text.len() > bounds::MAX_MANIFEST_BYTES {
            return Err(ManifestErrors::whole(format!(
                "the manifest is {} bytes (limit {})",
                text.len(),
                bounds::MAX_MANIFEST_BYTES
            )));
        }
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| ManifestErrors::from_toml(text, &e))?;
        let mut p = Problems::default();
        bounds::check(&raw, &mut p);
        let m = &raw.model;
        if let Err(e) = check_name(&m.name) {
            p.add("model.name", format!("{:?} {e}", m.name));
        }
        if m.version.trim().is_empty() {
            p.add("model.version", "is empty");
        }
        let sha = m.sha256.to_ascii_lowercase();
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            p.add("model.sha256", "must be 64 hex digits");
        }
        if m.onnx.is_empty() || m.onnx.contains("..") || m.onnx.starts_with('/') {
            p.add(
                "model.onnx",
                format!("{:?} must be a file name inside the package", m.onnx),
            );
        }

        let features = match FeatureSet::parse(&raw.input.features) {
            Ok(f) => Some(f),
            Err(e) => {
                p.add("input.features", e.to_string());
                None
            }
        };
        if raw.input.signals.is_empty() {
            p.add("input.signals", "is empty");
        }
        // Sets, not list scans: a hostile manifest's lists can hold 100,000s of entries.
        let mut listed = HashSet::new();
        for s in &raw.input.signals {
            if !listed.insert(s.as_str()) {
                p.add("input.signals", format!("lists {s:?} twice"));
            }
        }
        if let Some(f) = &features {
            let used: HashSet<&str> = f.signals().iter().map(String::as_str).collect();
            for s in f.signals() {
                if !listed.contains(s.as_str()) {
                    p.add(
                        "input.features",
                        format!("uses signal {s:?}, which input.signals does not list"),
                    );
                }
            }
            for s in &raw.input.signals {
                if !used.contains(s.as_str()) {
                    p.add(
                        "input.signals",
                        format!("lists {s:?}, which no feature uses"),
                    );
                }
            }
        }
        let nf = raw.input.features.len();
        // A window is built (to check it the way the runner will) only within the bounds:
        // its buffers are sized from these numbers.
        let bounded =
            !p.0.iter()
                .any(|x| x.field.starts_with("input.window") || x.field == "input.signals");
        let window = bounded.then(|| {
            window_spec(&raw.input.window)
                .and_then(|w| Windower::new(w, raw.input.signals.len().max(1)).map(|_| w))
        });
        let window = match window {
            Some(Ok(w)) => Some(w),
            Some(Err(e)) => {
                p.add("input.window", e.to_string());
                None
            }
            None => None,
        };
        let normalize = raw.input.normalize.map(|n| {
            if n.mean.len() != nf || n.std.len() != nf {
                p.add(
                    "input.normalize",
                    format!(
                        "needs {nf} means and stds (one per feature), has {} and {}",
                        n.mean.len(),
                        n.std.len()
                    ),
                );
            }
            if n.mean.iter().any(|x| !x.is_finite()) {
                p.add("input.normalize.mean", "must be finite");
            }
            if n.std.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
                p.add("input.normalize.std", "must be finite and > 0");
            }
            (n.mean, n.std)
        });

        let o = &raw.output;
        let output = match o.kind.as_str() {
            "classes" => {
                if o.labels.len() < 2 {
                    p.add("output.labels", "needs at least two classes");
                }
                let normal = match &o.normal {
                    Some(n) => match o.labels.iter().position(|l| l == n) {
                        Some(i) => i,
                        None => {
                            p.add(
                                "output.normal",
                                format!("{n:?} is not one of output.labels"),
                            );
                            0
                        }
                    },
                    None => {
                        p.add("output.normal", "is required for classes");
                        0
                    }
                };
                Some(OutputKind::Classes {
                    labels: o.labels.clone(),
                    normal,
                })
            }
            "regression" => Some(OutputKind::Regression {
                unit: o.unit.clone(),
            }),
            "anomaly" => Some(OutputKind::Anomaly),
            k => {
                p.add(
                    "output.kind",
                    format!("{k:?}: expected classes, regression or anomaly"),
                );
                None
            }
        };
        if o.name.is_empty() {
            p.add("output.name", "is empty");
        }

        // Label → its first index, for the rules' classes.
        let mut label_index: HashMap<&str, usize> = HashMap::new();
        if let Some(OutputKind::Classes { labels, .. }) = &output {
            for (i, l) in labels.iter().enumerate() {
                label_index.entry(l.as_str()).or_insert(i);
            }
        }
        let mut alert_names = HashSet::new();
        let mut alerts = Vec::new();
        for (i, a) in raw.alerts.iter().enumerate() {
            let at = format!("alerts[{i}]");
            if let Err(e) = check_name(&a.name) {
                p.add(format!("{at}.name"), format!("{:?} {e}", a.name));
            }
            let direction = match a.direction.as_str() {
                "above" => Direction::Above,
                "below" => Direction::Below,
                d => {
                    p.add(
                        format!("{at}.direction"),
                        format!("{d:?}: expected above or below"),
                    );
                    Direction::Above
                }
            };
            if !a.on.is_finite() {
                p.add(format!("{at}.on"), "must be finite");
            }
            if !a.off.is_finite() {
                p.add(format!("{at}.off"), "must be finite");
            }
            if a.on.is_finite()
                && a.off.is_finite()
                && ((direction == Direction::Above && a.off > a.on)
                    || (direction == Direction::Below && a.off < a.on))
            {
                p.add(
                    format!("{at}.off"),
                    "must be on the clearing side of on (hysteresis): above needs off <= on, below needs off >= on",
                );
            }
            let class = match (&a.class, &output) {
                (None, _) => None,
                (Some(c), Some(OutputKind::Classes { .. })) => {
                    match label_index.get(c.as_str()).copied() {
                        Some(i) => Some(i),
                        None => {
                            p.add(
                                format!("{at}.class"),
                                format!("{c:?} is not one of output.labels"),
                            );
                            None
                        }
                    }
                }
                (Some(_), _) => {
                    p.add(format!("{at}.class"), "applies only to classes outputs");
                    None
                }
            };
            let (k, n) = a.debounce.as_ref().map_or((1, 1), |d| (d.k, d.n));
            if k == 0 || n == 0 || k > n || n > bounds::MAX_DEBOUNCE_N {
                p.add(
                    format!("{at}.debounce"),
                    format!("need 1 <= k <= n <= {}", bounds::MAX_DEBOUNCE_N),
                );
            }
            if !alert_names.insert(a.name.as_str()) {
                p.add(format!("{at}.name"), format!("{:?} is used twice", a.name));
            }
            alerts.push(WindowRule {
                name: a.name.clone(),
                severity: a.severity.unwrap_or(Severity::Warning),
                class,
                direction,
                on: a.on,
                off: a.off,
                k,
                n,
            });
        }

        let mut golden = Vec::new();
        for (i, g) in raw.golden.iter().enumerate() {
            if g.features.len() != nf {
                p.add(
                    format!("golden[{i}].features"),
                    format!("has {} features, the model takes {nf}", g.features.len()),
                );
            }
            if g.output.is_empty() {
                p.add(format!("golden[{i}].output"), "is empty");
            }
            if !(g.tolerance.is_finite() && g.tolerance >= 0.0) {
                p.add(format!("golden[{i}].tolerance"), "must be finite and >= 0");
            }
            golden.push(Golden {
                features: g.features.clone(),
                output: g.output.clone(),
                tolerance: g.tolerance,
            });
        }
        if golden.is_empty() {
            p.add("golden", "at least one [[golden]] vector is required");
        }

        let training = raw.training.map(|t| {
            let lens = [t.mean.len(), t.std.len()];
            if lens.iter().any(|&l| l != nf)
                || (!t.min.is_empty() && t.min.len() != nf)
                || (!t.max.is_empty() && t.max.len() != nf)
            {
                p.add(
                    "training",
                    format!("statistics need one value per feature ({nf})"),
                );
            }
            TrainingStats {
                mean: t.mean,
                std: t.std,
                min: t.min,
                max: t.max,
            }
        });

        match (p.is_empty(), features, window, output) {
            (true, Some(features), Some(window), Some(output)) => Ok(Manifest {
                name: raw.model.name,
                version: raw.model.version,
                description: raw.model.description,
                onnx: raw.model.onnx,
                sha256: sha,
                signals: raw.input.signals,
                features,
                window,
                normalize,
                output_name: raw.output.name,
                output,
                alerts,
                golden,
                training,
            }),
            _ => Err(p.located(text)),
        }
    }

    /// Output values the model must produce (classes: one per label; otherwise 1).
    pub fn output_len(&self) -> usize {
        match &self.output {
            OutputKind::Classes { labels, .. } => labels.len(),
            _ => 1,
        }
    }
}

fn window_spec(w: &RawWindow) -> Result<WindowSpec, WindowError> {
    match (w.samples, w.hop, w.secs, w.hop_secs) {
        (Some(len), Some(hop), None, None) => {
            if w.lateness_secs.is_some() {
                return Err(WindowError::BadDuration(
                    "lateness_secs (only for time windows)",
                ));
            }
            Ok(WindowSpec::Samples {
                len,
                hop,
                sample_rate_hz: w.sample_rate_hz,
                max_gap_secs: w.max_gap_secs,
            })
        }
        (None, None, Some(secs), Some(hop_secs)) => Ok(WindowSpec::Time {
            secs,
            hop_secs,
            sample_rate_hz: w.sample_rate_hz,
            max_gap_secs: w.max_gap_secs,
            lateness_secs: w.lateness_secs.unwrap_or(0.0),
        }),
        _ => Err(WindowError::BadDuration(
            "window: give either samples and hop, or secs and hop_secs",
        )),
    }
}

impl From<FeatureError> for ManifestErrors {
    fn from(e: FeatureError) -> ManifestErrors {
        ManifestErrors(vec![ManifestProblem {
            field: "input.features".into(),
            message: e.to_string(),
            at: None,
        }])
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_problems;
