//! `[[detectors]]`: detectors that learn normal per asset.

use super::*;
use crate::config::{
    KNN_LAGS, KNN_MAX_WINDOW, KNN_MIN_REFERENCE, MAX_DETECTOR_INPUTS, MAX_LEARN_VALUES,
};

/// Defaults, chosen on the Tennessee Eastman process (EVALUATION.md): two lags, 95 % of the
/// variance, an alert at 1.2 × the learned 99th percentile on 3 of 5 steps, cleared below it.
pub const DEFAULT_LAGS: usize = 2;
pub const DEFAULT_CUMULATIVE_VARIANCE: f64 = 0.95;
pub const DEFAULT_ON: f64 = 1.2;
pub const DEFAULT_OFF: f64 = 1.0;
pub const DEFAULT_K: usize = 3;
pub const DEFAULT_N: usize = 5;
/// kNN: raise at 1.5 (4.5 standard deviations of the recent distances), clear below 1.2,
/// chosen on the NAB development files (EVALUATION.md).
pub const KNN_DEFAULT_ON: f64 = 1.5;
pub const KNN_DEFAULT_OFF: f64 = 1.2;

pub(super) fn detector(
    d: &RawDetector,
    assets: &[AssetConfig],
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
    let lags = d.lags.unwrap_or(DEFAULT_LAGS);
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
    let inputs = method.inputs(signals.len());
    if inputs > MAX_DETECTOR_INPUTS {
        problem(
            p,
            format!("{f}.signals"),
            format!(
                "{} signals × {} steps (lags + 1) = {inputs} inputs; at most {MAX_DETECTOR_INPUTS}",
                signals.len(),
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

    if !(d.grid_secs.is_finite() && d.grid_secs >= 0.001 && d.grid_secs <= 86_400.0) {
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
        (None, Some(t), false) if t.is_finite() && t > 0.0 && d.grid_secs > 0.0 => {
            (t / d.grid_secs).ceil().min(u64::MAX as f64) as u64
        }
        (None, Some(_), false) => {
            problem(p, format!("{f}.learn.secs"), "must be a positive number");
            0
        }
        (None, None, true) => {
            let (from, until) = (time("from", &l.from, p), time("until", &l.until, p));
            match (from, until) {
                (Some(a), Some(b)) if a < b && d.grid_secs > 0.0 => {
                    learn_span = Some((a, b));
                    ((b - a) as f64 / (d.grid_secs * 1e9))
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
        (MAX_LEARN_VALUES / signals.len().max(1)) as u64
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

    let a = &d.alert;
    let (default_on, default_off) = if knn {
        (KNN_DEFAULT_ON, KNN_DEFAULT_OFF)
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
        grid_secs: d.grid_secs,
        samples_per_step,
        learn_steps: learn_steps as usize,
        learn_span,
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
