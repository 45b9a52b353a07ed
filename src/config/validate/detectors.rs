//! `[[detectors]]`: detectors that learn normal per asset.

use super::*;
use crate::config::{
    KNN_LAGS, KNN_MAX_WINDOW, KNN_MIN_REFERENCE, MAX_DETECTOR_INPUTS, MAX_FEATURE_WINDOW,
    MAX_LEARN_VALUES,
};

/// Defaults, chosen on the Tennessee Eastman process (EVALUATION.md): two lags, 95 % of the
/// variance, an alert at 1.2 × the learned 99th percentile on 3 of 5 steps, cleared below it.
pub const DEFAULT_LAGS: usize = 2;
pub const DEFAULT_CUMULATIVE_VARIANCE: f64 = 0.95;
pub const DEFAULT_ON: f64 = 1.2;
pub const DEFAULT_OFF: f64 = 1.0;
pub const DEFAULT_K: usize = 3;
/// The longest adaptation half-life, in steps.
pub const MAX_ADAPT_HALF_LIFE: u64 = 10_000_000;
pub const DEFAULT_N: usize = 5;
/// Feature vectors (vibration): raise at twice the learned 99th percentile, clear below 1.5.
/// Windows overlap and a learning phase holds few independent ones, so that percentile is a
/// rough estimate; bearing faults move amplitudes and band energies by decades, so the margin
/// costs no detection (EVALUATION.md, CWRU: healthy windows peak at 1.3, faults score 88+).
pub const FEATURES_DEFAULT_ON: f64 = 2.0;
pub const FEATURES_DEFAULT_OFF: f64 = 1.5;
/// kNN: raise at 1.5 (4.5 standard deviations of the recent distances), clear below 1.2,
/// chosen on the NAB development files (EVALUATION.md).
pub const KNN_DEFAULT_ON: f64 = 1.5;
pub const KNN_DEFAULT_OFF: f64 = 1.2;

pub(super) fn detector(
    d: &RawDetector,
    assets: &[AssetConfig],
    reader: Option<&dyn crate::config::PackageReader>,
    f: &str,
    p: &mut Problems,
) -> Option<DetectorConfig> {
    let n0 = p.len();
    if !is_name(&d.name) {
        problem(
            p,
            format!("{f}.name"),
            "must be letters, digits, `.`, `_` or `-`",
        );
    }
    // A feature vector already describes its window (and windows overlap): no lags by default.
    let lags = d.lags.unwrap_or(if d.features.is_some() {
        0
    } else {
        DEFAULT_LAGS
    });
    let cumulative_variance = d.cumulative_variance.unwrap_or(DEFAULT_CUMULATIVE_VARIANCE);
    let method = match d.method.as_deref() {
        None | Some("pca") => DetectorMethod::Pca {
            lags,
            cumulative_variance,
        },
        Some("knn") => {
            for (key, given) in [
                ("lags", d.lags.is_some()),
                ("cumulative_variance", d.cumulative_variance.is_some()),
                ("adapt", d.adapt.is_some()),
            ] {
                if given {
                    problem(p, format!("{f}.{key}"), "applies to method = \"pca\" only");
                }
            }
            DetectorMethod::Knn
        }
        Some(other) => {
            problem(
                p,
                format!("{f}.method"),
                format!("`{other}`: expected pca or knn"),
            );
            DetectorMethod::Pca {
                lags,
                cumulative_variance,
            }
        }
    };
    let knn = method == DetectorMethod::Knn;
    if lags > 16 {
        problem(p, format!("{f}.lags"), "must be from 0 to 16");
    }
    if !(cumulative_variance > 0.0 && cumulative_variance <= 1.0) {
        problem(
            p,
            format!("{f}.cumulative_variance"),
            "must be above 0 and at most 1",
        );
    }

    let mut signals: Vec<Arc<str>> = Vec::new();
    if d.signals.is_empty() {
        problem(p, format!("{f}.signals"), "must list at least one signal");
    }
    for (j, s) in d.signals.iter().enumerate() {
        if signals.iter().any(|x| &**x == s) {
            problem(
                p,
                format!("{f}.signals[{j}]"),
                format!("signal `{s}` is listed twice"),
            );
        }
        signals.push(Arc::from(s.as_str()));
    }
    let (step, features) = step(d, &signals, reader, f, p);
    let names: Vec<Arc<str>> = match &features {
        Some(x) => signals
            .iter()
            .flat_map(|s| x.kinds.iter().map(move |k| Arc::from(format!("{s}.{k}"))))
            .collect(),
        None => signals.clone(),
    };
    let inputs = method.inputs(names.len());
    if inputs > MAX_DETECTOR_INPUTS {
        let per = if features.is_some() {
            format!(
                "{} signals × {} features",
                signals.len(),
                names.len() / signals.len().max(1)
            )
        } else {
            format!("{} signals", signals.len())
        };
        problem(
            p,
            format!("{f}.signals"),
            format!(
                "{per} × {} steps (lags + 1) = {inputs} inputs; at most {MAX_DETECTOR_INPUTS}",
                lags + 1
            ),
        );
    }

    let mut bound = Vec::new();
    if d.assets.is_empty() {
        problem(p, format!("{f}.assets"), "must list at least one asset");
    }
    for (j, a) in d.assets.iter().enumerate() {
        let Some(asset) = assets.iter().find(|x| &*x.id == a) else {
            problem(
                p,
                format!("{f}.assets[{j}]"),
                format!("unknown asset `{a}`"),
            );
            continue;
        };
        for s in &signals {
            if !asset.signals.iter().any(|x| x.name == *s) {
                problem(
                    p,
                    format!("{f}.assets[{j}]"),
                    format!("asset `{a}` has no signal `{s}`"),
                );
            }
        }
        bound.push((asset.id.clone(), asset.meta.clone()));
    }

    let (grid_secs, samples_per_step) = step;

    let l = &d.learn;
    let time = |key: &str, v: &Option<String>, p: &mut Problems| -> Option<i64> {
        let v = v.as_deref()?;
        match chrono::DateTime::parse_from_rfc3339(v) {
            Ok(t) => t.timestamp_nanos_opt().or_else(|| {
                problem(p, format!("{f}.learn.{key}"), "out of range");
                None
            }),
            Err(e) => {
                problem(
                    p,
                    format!("{f}.learn.{key}"),
                    format!("`{v}`: not an RFC 3339 time ({e}), e.g. \"2026-03-01T00:00:00Z\""),
                );
                None
            }
        }
    };
    let mut learn_span = None;
    let learn_steps = match (l.steps, l.secs, l.from.is_some() || l.until.is_some()) {
        (Some(n), None, false) => n,
        (None, Some(t), false) if t.is_finite() && t > 0.0 && grid_secs > 0.0 => {
            (t / grid_secs).ceil().min(u64::MAX as f64) as u64
        }
        (None, Some(_), false) => {
            problem(p, format!("{f}.learn.secs"), "must be a positive number");
            0
        }
        (None, None, true) => {
            let (from, until) = (time("from", &l.from, p), time("until", &l.until, p));
            match (from, until) {
                (Some(a), Some(b)) if a < b && grid_secs > 0.0 => {
                    learn_span = Some((a, b));
                    ((b - a) as f64 / (grid_secs * 1e9))
                        .ceil()
                        .min(u64::MAX as f64) as u64
                }
                (Some(_), Some(_)) => {
                    problem(p, format!("{f}.learn.until"), "must be after `from`");
                    0
                }
                _ => {
                    if l.from.is_none() || l.until.is_none() {
                        problem(
                            p,
                            format!("{f}.learn"),
                            "a span needs both `from` and `until`",
                        );
                    }
                    0
                }
            }
        }
        _ => {
            problem(
                p,
                format!("{f}.learn"),
                "give one of `steps`, `secs` or `from` and `until` (e.g. learn = { steps = 480 })",
            );
            0
        }
    };
    // PCA: enough vectors for a covariance of `inputs` inputs, with room for five folds. kNN:
    // enough patterns for a first index and its reference distances.
    let min_steps = if knn {
        (2 * KNN_LAGS + KNN_MIN_REFERENCE + 1) as u64
    } else {
        (2 * inputs).max(50) as u64 + lags as u64
    };
    let max_steps = if knn {
        KNN_MAX_WINDOW as u64
    } else {
        (MAX_LEARN_VALUES / names.len().max(1)) as u64
    };
    if learn_steps != 0 && !(min_steps..=max_steps).contains(&learn_steps) {
        problem(
            p,
            format!("{f}.learn"),
            format!(
                "{learn_steps} steps; with {inputs} inputs learning needs from {min_steps} to {max_steps}"
            ),
        );
    }

    let adapt_half_life_steps = match &d.adapt {
        Some(a) if !knn => {
            if !(1..=MAX_ADAPT_HALF_LIFE).contains(&a.half_life_steps) {
                problem(
                    p,
                    format!("{f}.adapt.half_life_steps"),
                    format!("must be from 1 to {MAX_ADAPT_HALF_LIFE}"),
                );
            }
            Some(a.half_life_steps.min(MAX_ADAPT_HALF_LIFE) as usize)
        }
        _ => None,
    };

    let a = &d.alert;
    let (default_on, default_off) = if knn {
        (KNN_DEFAULT_ON, KNN_DEFAULT_OFF)
    } else if d.features.is_some() {
        (FEATURES_DEFAULT_ON, FEATURES_DEFAULT_OFF)
    } else {
        (DEFAULT_ON, DEFAULT_OFF)
    };
    let on = a.on.unwrap_or(default_on);
    let off = a.off.unwrap_or(default_off.min(on));
    if !(on.is_finite() && on > 0.0) {
        problem(p, format!("{f}.alert.on"), "must be a positive number");
    }
    if !(off.is_finite() && off <= on) {
        problem(p, format!("{f}.alert.off"), "must be a number at most `on`");
    }
    let (k, n) = if knn {
        // The kNN index already holds its peak for 12 steps: raise on the first.
        (a.k.unwrap_or(1), a.n.unwrap_or(1))
    } else {
        (a.k.unwrap_or(DEFAULT_K), a.n.unwrap_or(DEFAULT_N))
    };
    if !(1..=1000).contains(&n) || !(1..=n).contains(&k) {
        problem(
            p,
            format!("{f}.alert"),
            "needs 1 ≤ k ≤ n ≤ 1000 (raise on k of the last n steps)",
        );
    }
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-anomaly", d.name));
    if !is_name(&name) {
        problem(
            p,
            format!("{f}.alert.name"),
            "must be letters, digits, `.`, `_` or `-`",
        );
    }
    let severity = severity(a.severity.as_deref(), &format!("{f}.alert.severity"), p);

    (p.len() == n0).then(|| DetectorConfig {
        name: d.name.clone(),
        method,
        assets: bound,
        signals,
        inputs: names,
        grid_secs,
        samples_per_step,
        features,
        learn_steps: learn_steps as usize,
        learn_span,
        adapt_half_life_steps,
        alert: DetectorAlert {
            name,
            severity,
            on,
            off,
            k,
            n,
        },
    })
}

/// A step: `(grid_secs, samples_per_step)`, and the features when a step is a feature vector.
fn step(
    d: &RawDetector,
    signals: &[Arc<str>],
    reader: Option<&dyn crate::config::PackageReader>,
    f: &str,
    p: &mut Problems,
) -> ((f64, usize), Option<DetectorFeatures>) {
    let Some(kinds) = &d.features else {
        if d.window.is_some() {
            problem(p, format!("{f}.window"), "applies with `features` only");
        }
        let grid_secs = d.grid_secs.unwrap_or(0.0);
        if d.grid_secs.is_none() {
            problem(
                p,
                format!("{f}.grid_secs"),
                "missing: give `grid_secs` (a vector of signal means per step) or `features` and `window`",
            );
        } else if !(grid_secs.is_finite() && (0.001..=86_400.0).contains(&grid_secs)) {
            problem(
                p,
                format!("{f}.grid_secs"),
                "must be from 0.001 to 86400 seconds",
            );
        }
        let samples_per_step = d.samples_per_step.unwrap_or(1);
        if !(1..=4096).contains(&samples_per_step) {
            problem(p, format!("{f}.samples_per_step"), "must be from 1 to 4096");
        }
        return ((grid_secs, samples_per_step), None);
    };
    for (key, given) in [
        ("grid_secs", d.grid_secs.is_some()),
        ("samples_per_step", d.samples_per_step.is_some()),
    ] {
        if given {
            problem(
                p,
                format!("{f}.{key}"),
                "does not apply with `features` (their `window` makes the steps)",
            );
        }
    }
    let Some(w) = &d.window else {
        problem(
            p,
            format!("{f}.window"),
            "missing: features need a window, e.g. window = { samples = 2048, hop = 1024, sample_rate_hz = 12000 }",
        );
        return ((0.0, 1), None);
    };
    let n0 = p.len();
    if kinds.is_empty() {
        problem(p, format!("{f}.features"), "must list at least one feature");
    }
    if !(2..=MAX_FEATURE_WINDOW).contains(&w.samples) {
        problem(
            p,
            format!("{f}.window.samples"),
            format!("must be from 2 to {MAX_FEATURE_WINDOW}"),
        );
    }
    let hop = w.hop.unwrap_or(w.samples);
    if hop == 0 || hop > w.samples {
        problem(
            p,
            format!("{f}.window.hop"),
            "must be from 1 to the window's samples",
        );
    }
    if !(w.sample_rate_hz.is_finite() && w.sample_rate_hz > 0.0 && w.sample_rate_hz <= 1e7) {
        problem(
            p,
            format!("{f}.window.sample_rate_hz"),
            "must be above 0 and at most 10000000",
        );
    }
    let mut kinds = kinds.clone();
    if p.len() == n0 {
        if let (Some(reader), Some(signal)) = (reader, signals.first()) {
            match reader.features(signal, &kinds, w.samples, w.sample_rate_hz) {
                Ok(canonical) => kinds = canonical,
                Err(e) => problem(p, format!("{f}.features"), e),
            }
        }
    }
    let grid_secs = hop as f64 / w.sample_rate_hz;
    let features = DetectorFeatures {
        kinds,
        samples: w.samples,
        hop,
        sample_rate_hz: w.sample_rate_hz,
    };
    ((grid_secs, w.samples), Some(features))
}
