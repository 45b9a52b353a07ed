//! The shipped model packages (`models/<name>/`) against what training computed for them.
//!
//! - **Train/serve parity**: `models/train/golden/<name>.json` (written by the training script)
//!   holds raw windows with the features `features.py` computed, the normalised f32 input and
//!   onnxruntime's output. Each window goes through the agent's own [`FeatureExtractor`],
//!   [`normalize`] and the package loaded into tract by [`load_package`]: features (f64), model
//!   input (f32) and outputs must agree within 1e-4 absolute.
//! - **Replay in process**: each package's `replay/` excerpts (real recordings with event
//!   timestamps) go sample by sample through [`ModelRunner`], the same windowing, features,
//!   inference and alert rules the running agent uses. The alert events (rule, raised / updated /
//!   cleared, window end, score) and the window count must be the ones `replay/expected.json`
//!   lists, which training computed by replaying the same files in Python. The end-to-end
//!   version over MQTT and Kafka is `tests/it/replay.rs`.
//! - **Hostile timestamps** ([`time_jumps`]): the C-MAPSS recording with a far-future row,
//!   clock jumps either way, a 1 ns hop, and arbitrary `i64` times through the same runner:
//!   bounded work per sample, every closed window scored, recovery within the documented
//!   number of samples (`src/window/mod.rs`).
//!
//! Its own test binary because it needs no brokers or ptys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use forewarn::features::{FeatureExtractor, FeatureSet, SignalShape};
use forewarn::model::load::load_package;
use forewarn::model::package::normalize;
use forewarn::model::runner::{Binding, LoadedModel, ModelRunner};
use forewarn::record::{AlertEvent, AssetMeta, Record, Sample};
use forewarn::window::MAX_WINDOWS_PER_PUSH;
use serde_json::Value;

#[path = "support/replay.rs"]
mod support;
#[path = "packages/time_jumps.rs"]
mod time_jumps;
use support::{assert_same_events, expected_events, json, package_dir, read_csv, Event, TOLERANCE};

const PACKAGES: [&str; 3] = ["bearing-fault", "process-failure", "turbofan-rul"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("not a number: {x}")))
        .collect()
}

fn package(name: &str) -> Arc<LoadedModel> {
    load_package(&package_dir(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Largest |a − b| seen, with where.
#[derive(Default)]
struct Worst(f64, String);

impl Worst {
    fn see(&mut self, got: f64, want: f64, at: impl Fn() -> String) -> f64 {
        let d = (got - want).abs();
        if d > self.0 || self.1.is_empty() {
            *self = Worst(d, at());
        }
        d
    }
}

#[test]
fn shipped_packages_match_their_python_golden_files() {
    let mut report = String::new();
    for name in PACKAGES {
        let model = package(name);
        let m = &model.manifest;
        let golden = json(&repo().join(format!("models/train/golden/{name}.json")));
        assert_eq!(golden["model"], name);
        let cases = golden["cases"].as_array().expect("cases");
        assert!(
            cases.len() >= 3,
            "{name}: only {} golden cases",
            cases.len()
        );
        let (mut feat, mut input, mut output) =
            (Worst::default(), Worst::default(), Worst::default());
        for case in cases {
            let case_name = case["name"].as_str().expect("case name");
            let names: Vec<String> = case["features"]
                .as_array()
                .expect("features")
                .iter()
                .map(|f| f.as_str().expect("feature name").to_string())
                .collect();
            let set = FeatureSet::parse(&names).expect("golden feature names parse");
            // The golden file must describe this package, or the comparison proves nothing.
            assert_eq!(
                set.names(),
                m.features.names(),
                "{name}/{case_name}: golden features differ from the manifest's"
            );
            let windows: Vec<(Vec<f64>, f64)> = set
                .signals()
                .iter()
                .map(|s| {
                    let w = case["signals"]
                        .as_array()
                        .expect("signals")
                        .iter()
                        .find(|w| w["name"].as_str() == Some(s.as_ref()))
                        .unwrap_or_else(|| panic!("{name}/{case_name}: no window for {s}"));
                    (
                        numbers(&w["samples"]),
                        w["sample_rate_hz"].as_f64().expect("rate"),
                    )
                })
                .collect();
            let shapes: Vec<SignalShape> = windows
                .iter()
                .map(|(w, fs)| SignalShape {
                    len: w.len(),
                    sample_rate_hz: *fs,
                })
                .collect();
            let mut ex = FeatureExtractor::new(set, &shapes).expect("extractor");
            let slices: Vec<&[f64]> = windows.iter().map(|(w, _)| w.as_slice()).collect();
            let mut wide = vec![0.0; ex.len()];
            let mut x = vec![0f32; ex.len()];
            ex.extract_f64(&slices, &mut wide).expect("extract f64");
            ex.extract(&slices, &mut x).expect("extract f32");
            normalize(m, &mut x);

            for (i, want) in numbers(&case["values"]).into_iter().enumerate() {
                let d = feat.see(wide[i], want, || format!("{case_name} {}", names[i]));
                assert!(
                    d <= TOLERANCE,
                    "{name}/{case_name} {}: rust {} python {want}",
                    names[i],
                    wide[i]
                );
            }
            for (i, want) in numbers(&case["normalized"]).into_iter().enumerate() {
                let d = input.see(x[i] as f64, want, || format!("{case_name} {}", names[i]));
                assert!(
                    d <= TOLERANCE,
                    "{name}/{case_name} input {}: rust {} python {want}",
                    names[i],
                    x[i]
                );
            }
            let got = model.model.infer(&x).expect("inference");
            let want = numbers(&case["output"]);
            assert_eq!(got.len(), want.len(), "{name}/{case_name}: output length");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let d = output.see(*g as f64, *w, || format!("{case_name} output[{i}]"));
                assert!(
                    d <= TOLERANCE,
                    "{name}/{case_name} output[{i}]: tract {g} onnxruntime {w}"
                );
            }
        }
        report.push_str(&format!(
            "{name}: {} cases; max |Δ| features {:.2e} ({}), model input {:.2e} ({}), \
             output {:.2e} ({})\n",
            cases.len(),
            feat.0,
            feat.1,
            input.0,
            input.1,
            output.0,
            output.1
        ));
    }
    eprint!("{report}");
}

/// What replaying rows through a fresh runner gave.
struct Replayed {
    /// Alert events: rule, event, window end, score.
    events: Vec<Event>,
    inferences: u64,
    /// Windows scored (inferred) while each row was pushed.
    per_row: Vec<u64>,
    runner: ModelRunner,
}

/// Push rows (event time in ns, one value per column) sample by sample, in the model's signal
/// order, through a fresh runner bound to one asset. On every push, every window the
/// windower emitted must have been scored (an inference or a counted error) and at most
/// [`MAX_WINDOWS_PER_PUSH`] of them.
fn replay_rows(model: &Arc<LoadedModel>, columns: &[String], rows: &[(i64, Vec<f64>)]) -> Replayed {
    let m = &model.manifest;
    let asset: Arc<str> = Arc::from("replay-asset");
    let signals: Vec<Arc<str>> = m.signals.iter().map(|s| Arc::from(s.as_str())).collect();
    // The rows may carry their signals in any order; every model signal must be there.
    let column: Vec<usize> = m
        .signals
        .iter()
        .map(|s| {
            columns
                .iter()
                .position(|c| c == s)
                .unwrap_or_else(|| panic!("no column {s}"))
        })
        .collect();
    let binding = Binding {
        asset: asset.clone(),
        signals: signals.clone(),
        meta: AssetMeta::default(),
    };
    let mut runner =
        ModelRunner::new("gw", "site", vec![(model.clone(), vec![binding])]).expect("runner");
    let mut out = Vec::new();
    let scored = |r: &ModelRunner| {
        let st = r.stats().get(&m.name).expect("stats");
        (st.inferences, st.errors, r.window_counters(&m.name).windows)
    };
    let mut per_row = Vec::with_capacity(rows.len());
    for (ts_ns, values) in rows {
        let row_start = scored(&runner).0;
        for (k, signal) in signals.iter().enumerate() {
            let s = Sample {
                asset: asset.clone(),
                signal: signal.clone(),
                ts_ns: *ts_ns,
                value: values[column[k]],
            };
            let (i0, e0, w0) = scored(&runner);
            runner.push(&s, &mut out);
            let (i1, e1, w1) = scored(&runner);
            assert_eq!(i1 - i0 + e1 - e0, w1 - w0, "every window is scored");
            assert!(
                w1 - w0 <= MAX_WINDOWS_PER_PUSH as u64,
                "{} windows",
                w1 - w0
            );
        }
        per_row.push(scored(&runner).0 - row_start);
    }
    let events = out
        .into_iter()
        .filter_map(|r| match r {
            Record::Alert(a) => Some((
                a.rule.clone(),
                match a.event {
                    AlertEvent::Raised => "raised",
                    AlertEvent::Updated => "updated",
                    AlertEvent::Cleared => "cleared",
                }
                .to_string(),
                a.model.as_ref().expect("a model alert").window_end_ns,
                a.value,
            )),
            _ => None,
        })
        .collect();
    Replayed {
        events,
        inferences: scored(&runner).0,
        per_row,
        runner,
    }
}

/// Replay one excerpt through a fresh runner; the alert events and the inference count.
fn replay(model: &Arc<LoadedModel>, file: &Path, ts_to_ns: i64) -> (Vec<Event>, u64) {
    let (columns, rows) = read_csv(file);
    let rows: Vec<(i64, Vec<f64>)> = rows.into_iter().map(|(t, v)| (t * ts_to_ns, v)).collect();
    let r = replay_rows(model, &columns, &rows);
    let stats = r.runner.stats().get(&model.manifest.name).expect("stats");
    assert_eq!(
        stats.errors,
        0,
        "{}: {:?}",
        file.display(),
        stats.last_error
    );
    (r.events, r.inferences)
}

#[test]
fn bearing_replay_excerpts_raise_the_right_class_and_normal_stays_silent() {
    let model = package("bearing-fault");
    let dir = package_dir("bearing-fault");
    let expected = json(&dir.join("replay/expected.json"));
    let excerpts = expected["excerpts"].as_array().expect("excerpts");
    assert_eq!(excerpts.len(), 4);
    for e in excerpts {
        let file = e["file"].as_str().expect("file");
        let class = e["class"].as_str().expect("class");
        let (got, windows) = replay(&model, &dir.join(file), 1_000); // ts in µs
        assert_eq!(windows, e["windows"].as_u64().expect("windows"), "{file}");
        let want = expected_events(&e["events"]);
        assert_same_events(file, &got, &want);
        // What the excerpt is for, independently of the expected file.
        let raised: Vec<&str> = got
            .iter()
            .filter(|g| g.1 == "raised")
            .map(|g| g.0.as_str())
            .collect();
        if class == "normal" {
            assert!(
                raised.is_empty(),
                "{file}: a healthy bearing raised {raised:?}"
            );
        } else {
            let own = format!("bearing-{}", class.replace('_', "-"));
            assert!(raised.contains(&"bearing-fault"), "{file}: {raised:?}");
            assert!(raised.contains(&own.as_str()), "{file}: {raised:?}");
            assert_eq!(
                raised.len(),
                2,
                "{file}: another class raised too: {raised:?}"
            );
        }
    }
}

#[test]
fn turbofan_replay_raises_low_rul_before_end_of_life_and_healthy_engines_stay_silent() {
    let model = package("turbofan-rul");
    let dir = package_dir("turbofan-rul");
    let expected = json(&dir.join("replay/expected.json"));
    let excerpts = expected["excerpts"].as_array().expect("excerpts");
    let (mut degrading, mut healthy) = (0, 0);
    for e in excerpts {
        let file = e["file"].as_str().expect("file");
        let (got, windows) = replay(&model, &dir.join(file), 1_000_000_000); // ts in s
        assert_eq!(windows, e["windows"].as_u64().expect("windows"), "{file}");
        assert_same_events(file, &got, &expected_events(&e["events"]));
        let eol = e["end_of_life_cycle"].as_i64().expect("end_of_life_cycle");
        let t0 = 1_767_600_000_i64;
        let first_raise = got.iter().find(|g| g.1 == "raised").map(|g| g.2);
        // Only `true_rul_at_end` decides which kind of engine this is, not the model.
        if e["true_rul_at_end"].as_i64().expect("true rul") <= 30 {
            degrading += 1;
            let at = first_raise.unwrap_or_else(|| panic!("{file}: no low-rul alert"));
            let cycle = at / 1_000_000_000 - t0 - 1; // window end = last cycle + 1 s
            assert!(
                cycle < eol,
                "{file}: raised at cycle {cycle}, end of life {eol}"
            );
        } else {
            healthy += 1;
            assert!(
                first_raise.is_none(),
                "{file}: a healthy engine raised {got:?}"
            );
        }
    }
    assert!(
        degrading >= 1 && healthy >= 1,
        "{degrading} degrading, {healthy} healthy"
    );
}

#[test]
fn process_failure_replay_flags_the_failures_the_model_can_see() {
    let model = package("process-failure");
    let dir = package_dir("process-failure");
    let expected = json(&dir.join("replay/expected.json"));
    let (got, windows) = replay(&model, &dir.join("replay/ai4i_rows.csv"), 1_000_000_000);
    assert_eq!(windows, expected["rows"].as_u64().expect("rows"));
    assert_same_events("ai4i_rows.csv", &got, &expected_events(&expected["events"]));
    // At every HDF, PWF or OSF failure in the excerpt, machine-failure is up: the last
    // machine-failure event at or before the row's window was not a clear.
    let up_at = |ts_ns: i64| {
        got.iter()
            .filter(|g| g.0 == "machine-failure" && g.2 <= ts_ns)
            .max_by_key(|g| g.2)
            .is_some_and(|g| g.1 != "cleared")
    };
    let mut visible = 0;
    for row in expected["per_row"].as_array().expect("per_row") {
        let modes: Vec<&str> = row["modes"]
            .as_array()
            .expect("modes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if modes.iter().any(|m| ["HDF", "PWF", "OSF"].contains(m)) {
            visible += 1;
            let ts_ns = row["ts"].as_i64().expect("ts") * 1_000_000_000;
            // A sample window of one reading ends at its timestamp.
            assert!(up_at(ts_ns), "row {}: {modes:?} not flagged", row["row"]);
        }
    }
    assert!(
        visible >= 3,
        "only {visible} visible failures in the excerpt"
    );
}
