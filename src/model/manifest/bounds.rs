//! Bounds on every number and list of a manifest, so that no package can make a window
//! buffer, a loop or a table grow without bound, whatever it declares:
//!
//! | field | bound |
//! |---|---|
//! | the file | at most [`MAX_MANIFEST_BYTES`] (1 MiB) |
//! | `input.signals` | 1 to [`MAX_SIGNALS`] (64), no name twice |
//! | `input.features` | 1 to [`MAX_FEATURES`] (4,096) |
//! | `input.window.sample_rate_hz` | finite, [`MIN_SAMPLE_RATE_HZ`] (1e-6 Hz) to [`MAX_SAMPLE_RATE_HZ`] (1 MHz) |
//! | `input.window.samples`, `.hop` | 1 ≤ hop ≤ samples; samples × signals ≤ [`MAX_WINDOW_POINTS`] (262,144) |
//! | `input.window.secs` | finite, > 0, ≤ [`MAX_WINDOW_SECS`] (7 days); `secs × sample_rate_hz` × signals ≤ [`MAX_WINDOW_POINTS`] |
//! | `input.window.hop_secs` | finite, [`MIN_HOP_SECS`] (1 ms) ≤ hop_secs ≤ secs |
//! | `input.window.max_gap_secs` | finite, ≥ 0, ≤ [`MAX_WINDOW_SECS`] |
//! | `input.window.lateness_secs` | finite, ≥ 0, ≤ [`MAX_LATENESS_SECS`] (1 day) |
//! | `output.labels` | at most [`MAX_LABELS`] (4,096), each 1–64 characters, no label twice |
//! | `alerts` | at most [`MAX_ALERTS`] (64); `on`, `off` finite; debounce 1 ≤ k ≤ n ≤ [`MAX_DEBOUNCE_N`] (1,000) |
//! | `golden` | 1 to [`MAX_GOLDEN`] (1,000) vectors; features and outputs finite, at most [`MAX_LABELS`] outputs; tolerance finite, 0 to 1e6 |
//! | `training` | every value finite, `std` ≥ 0 |
//! | texts | `model.version` 1–64 characters, `model.description` ≤ 4,096, `output.name` 1–256, `output.unit` ≤ 64 |
//!
//! A window buffer therefore holds at most 262,144 points per model and asset: 4 MiB as
//! (timestamp, value) pairs for a sample-count window; a time window buffers at most
//! `8 × len + 1024` samples per signal (`src/window/`), 32 MiB at the bound. The smallest hop
//! closes at most 1,000 windows per second of event time.

use super::{Problems, RawManifest, RawWindow};

/// Largest manifest file.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
/// Most model signals.
pub const MAX_SIGNALS: usize = 64;
/// Most features (the model's input width).
pub const MAX_FEATURES: usize = 4096;
/// Most class labels (and golden output values): the tree ensembles' output limit.
pub const MAX_LABELS: usize = crate::model::limits::MAX_TREE_OUTPUTS;
/// Most alert rules.
pub const MAX_ALERTS: usize = 64;
/// Longest debounce history.
pub const MAX_DEBOUNCE_N: usize = 1000;
/// Most golden vectors (each is one inference at load).
pub const MAX_GOLDEN: usize = 1000;
/// Slowest sample rate: one sample in about 11.6 days.
pub const MIN_SAMPLE_RATE_HZ: f64 = 1e-6;
/// Fastest sample rate.
pub const MAX_SAMPLE_RATE_HZ: f64 = 1e6;
/// Most points in one window, over all its signals.
pub const MAX_WINDOW_POINTS: usize = 1 << 18;
/// Longest time window, gap and hop.
pub const MAX_WINDOW_SECS: f64 = 7.0 * 86_400.0;
/// Shortest hop of a time window.
pub const MIN_HOP_SECS: f64 = 0.001;
/// Longest lateness a time window waits for.
pub const MAX_LATENESS_SECS: f64 = 86_400.0;
/// Largest golden tolerance.
const MAX_TOLERANCE: f32 = 1e6;

fn finite_in(x: f64, lo: f64, hi: f64) -> bool {
    x.is_finite() && (lo..=hi).contains(&x)
}

fn count(p: &mut Problems, field: &str, n: usize, min: usize, max: usize) {
    if n < min || n > max {
        p.add(field, format!("has {n} entries; expected {min} to {max}"));
    }
}

fn text(p: &mut Problems, field: &str, s: &str, min: usize, max: usize) {
    let n = s.chars().count();
    if n < min || n > max {
        p.add(field, format!("is {n} characters; expected {min} to {max}"));
    }
    if s.chars().any(char::is_control) {
        p.add(field, "holds control characters");
    }
}

/// Adds a problem for every number, list and text of `raw` outside its bounds.
pub(super) fn check(raw: &RawManifest, p: &mut Problems) {
    text(p, "model.version", &raw.model.version, 1, 64);
    text(p, "model.description", &raw.model.description, 0, 4096);
    text(p, "output.name", &raw.output.name, 1, 256);
    if let Some(u) = &raw.output.unit {
        text(p, "output.unit", u, 0, 64);
    }
    let signals = raw.input.signals.len();
    count(p, "input.signals", signals, 1, MAX_SIGNALS);
    count(
        p,
        "input.features",
        raw.input.features.len(),
        1,
        MAX_FEATURES,
    );
    window(&raw.input.window, signals.clamp(1, MAX_SIGNALS), p);
    count(p, "output.labels", raw.output.labels.len(), 0, MAX_LABELS);
    let mut seen = std::collections::HashSet::new();
    for (i, l) in raw.output.labels.iter().enumerate() {
        text(p, &format!("output.labels[{i}]"), l, 1, 64);
        if !seen.insert(l.as_str()) {
            p.add(
                format!("output.labels[{i}]"),
                format!("{l:?} is listed twice"),
            );
        }
    }
    count(p, "alerts", raw.alerts.len(), 0, MAX_ALERTS);
    count(p, "golden", raw.golden.len(), 0, MAX_GOLDEN);
    for (i, g) in raw.golden.iter().enumerate() {
        if g.features.iter().any(|x| !x.is_finite()) {
            p.add(format!("golden[{i}].features"), "must be finite");
        }
        if g.output.iter().any(|x| !x.is_finite()) {
            p.add(format!("golden[{i}].output"), "must be finite");
        }
        if g.output.len() > MAX_LABELS {
            p.add(
                format!("golden[{i}].output"),
                format!("has {} values (limit {MAX_LABELS})", g.output.len()),
            );
        }
        if g.tolerance.is_finite() && g.tolerance > MAX_TOLERANCE {
            p.add(
                format!("golden[{i}].tolerance"),
                format!("must be at most {MAX_TOLERANCE:e}"),
            );
        }
    }
    if let Some(t) = &raw.training {
        for (name, v) in [
            ("mean", &t.mean),
            ("std", &t.std),
            ("min", &t.min),
            ("max", &t.max),
        ] {
            if v.iter().any(|x| !x.is_finite()) {
                p.add(format!("training.{name}"), "must be finite");
            }
        }
        if t.std.iter().any(|x| *x < 0.0) {
            p.add("training.std", "must be >= 0");
        }
    }
}

fn window(w: &RawWindow, signals: usize, p: &mut Problems) {
    let at = |k: &str| format!("input.window.{k}");
    let rate_ok = finite_in(w.sample_rate_hz, MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ);
    if !rate_ok {
        p.add(
            at("sample_rate_hz"),
            format!(
                "{} is outside {MIN_SAMPLE_RATE_HZ:e} to {MAX_SAMPLE_RATE_HZ:e} Hz",
                w.sample_rate_hz
            ),
        );
    }
    let points_ok = |p: &mut Problems, field: &str, len: f64| {
        let points = len * signals as f64;
        if points > MAX_WINDOW_POINTS as f64 {
            p.add(
                field,
                format!(
                    "a window of {len:.0} samples x {signals} signal(s) is {points:.0} points (limit {MAX_WINDOW_POINTS})"
                ),
            );
        }
    };
    if let Some(len) = w.samples {
        if len == 0 {
            p.add(at("samples"), "must be at least 1");
        }
        points_ok(p, &at("samples"), len as f64);
        if let Some(hop) = w.hop {
            if hop == 0 || hop > len {
                p.add(at("hop"), format!("{hop}: must be 1 to samples ({len})"));
            }
        }
    }
    if let Some(secs) = w.secs {
        if !finite_in(secs, f64::MIN_POSITIVE, MAX_WINDOW_SECS) {
            p.add(
                at("secs"),
                format!("{secs}: must be finite, > 0 and at most {MAX_WINDOW_SECS} (7 days)"),
            );
        } else if rate_ok {
            points_ok(p, &at("secs"), (secs * w.sample_rate_hz).round());
        }
        if let Some(hop) = w.hop_secs {
            if !finite_in(hop, MIN_HOP_SECS, secs.max(MIN_HOP_SECS)) {
                p.add(
                    at("hop_secs"),
                    format!("{hop}: must be finite, at least {MIN_HOP_SECS} s and at most secs"),
                );
            }
        }
    } else if let Some(hop) = w.hop_secs {
        if !finite_in(hop, MIN_HOP_SECS, MAX_WINDOW_SECS) {
            p.add(
                at("hop_secs"),
                format!("{hop}: must be finite and at least {MIN_HOP_SECS} s"),
            );
        }
    }
    if let Some(g) = w.max_gap_secs {
        if !finite_in(g, 0.0, MAX_WINDOW_SECS) {
            p.add(
                at("max_gap_secs"),
                format!("{g}: must be finite, >= 0 and at most {MAX_WINDOW_SECS} (7 days)"),
            );
        }
    }
    if let Some(l) = w.lateness_secs {
        if !finite_in(l, 0.0, MAX_LATENESS_SECS) {
            p.add(
                at("lateness_secs"),
                format!("{l}: must be finite, >= 0 and at most {MAX_LATENESS_SECS} (1 day)"),
            );
        }
    }
}
