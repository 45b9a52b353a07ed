//! Train/serve parity: the windows in `models/train/golden/features.json`, with the features the
//! Python reference (`models/train/features.py`) computed for them, replayed through
//! [`FeatureExtractor`]. Regenerate the file with `models/train/make_feature_golden.py`.

use serde::Deserialize;

use super::{FeatureExtractor, FeatureSet, SignalShape};

const GOLDEN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/train/golden/features.json"
));

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    signals: Vec<Signal>,
    features: Vec<String>,
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct Signal {
    name: String,
    sample_rate_hz: f64,
    samples: Vec<f64>,
}

/// Largest differences seen over all cases, each with the case and feature where it was seen:
/// `abs = |a − b|`, `rel = |a − b| / max(1, |b|)`.
#[derive(Default)]
struct Worst {
    abs: (f64, String),
    rel: (f64, String),
}

impl Worst {
    fn see(&mut self, got: f64, want: f64, at: impl Fn() -> String) {
        let abs = (got - want).abs();
        let rel = abs / want.abs().max(1.0);
        if abs > self.abs.0 || self.abs.1.is_empty() {
            self.abs = (abs, at());
        }
        if rel > self.rel.0 || self.rel.1.is_empty() {
            self.rel = (rel, at());
        }
    }
}

impl std::fmt::Display for Worst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "max abs {:.3e} ({}), max rel {:.3e} ({})",
            self.abs.0, self.abs.1, self.rel.0, self.rel.1
        )
    }
}

fn replay(mut check: impl FnMut(&Case, &str, f64, f64, f32)) {
    let golden: Golden = serde_json::from_str(GOLDEN).expect("golden file parses");
    assert!(golden.cases.len() >= 6, "too few golden cases");
    for case in &golden.cases {
        let set = FeatureSet::parse(&case.features).expect("golden feature names parse");
        let windows: Vec<&Signal> = set
            .signals()
            .iter()
            .map(|s| {
                case.signals
                    .iter()
                    .find(|g| &g.name == s)
                    .unwrap_or_else(|| panic!("{}: no window for signal {s}", case.name))
            })
            .collect();
        let shapes: Vec<SignalShape> = windows
            .iter()
            .map(|w| SignalShape {
                len: w.samples.len(),
                sample_rate_hz: w.sample_rate_hz,
            })
            .collect();
        let mut ex =
            FeatureExtractor::new(set, &shapes).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let samples: Vec<&[f64]> = windows.iter().map(|w| w.samples.as_slice()).collect();
        let mut wide = vec![0.0; ex.len()];
        let mut narrow = vec![0f32; ex.len()];
        ex.extract_f64(&samples, &mut wide)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        ex.extract(&samples, &mut narrow)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(case.values.len(), ex.len(), "{}", case.name);
        for (i, name) in case.features.iter().enumerate() {
            check(case, name, case.values[i], wide[i], narrow[i]);
        }
    }
}

#[test]
fn rust_features_match_the_python_reference_on_the_golden_windows() {
    let (mut f32_worst, mut f64_worst) = (Worst::default(), Worst::default());
    let mut count = 0;
    replay(|case, name, want, wide, narrow| {
        count += 1;
        let at = || format!("{} {name}: python {want:e}", case.name);
        f64_worst.see(wide, want, || format!("{} (rust f64 {wide:e})", at()));
        f32_worst.see(narrow as f64, want, || {
            format!("{} (rust f32 {narrow:e})", at())
        });
        // What a model sees: within 1e-4, relative for magnitudes above 1 (f32 itself rounds
        // a 1400 °R mean by 6e-5).
        assert!(
            (narrow as f64 - want).abs() <= 1e-4 * want.abs().max(1.0),
            "{} (rust f32 {narrow:e})",
            at()
        );
        // The definitions themselves: equal up to rounding (FFT and summation order differ).
        assert!(
            (wide - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{} (rust f64 {wide:e})",
            at()
        );
    });
    eprintln!("golden parity over {count} features:\n  f32: {f32_worst}\n  f64: {f64_worst}");
}
