//! tract vs onnxruntime on the export matrix in `models/parity/cases.json` (written by
//! `models/parity/export.py`, which records onnxruntime's outputs for every case).
//!
//! - supported and workaround cases: every output listed in `compare` matches onnxruntime's,
//!   values within the matrix tolerance (1e-5 absolute), labels exactly, shapes exactly;
//! - unsupported cases: loading fails with an error naming what is missing; the day tract gains
//!   the operator this fails, so the matrix can grow.
//!
//! Its own test binary because it needs no brokers or ptys (unlike `tests/it/`).

use std::fmt::Write as _;
use std::path::PathBuf;

use forewarn::model::onnx::{ModelError, OnnxModel};
use serde_json::Value;

fn parity_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/parity")
}

struct Matrix {
    tolerance: f64,
    cases: Vec<Value>,
}

fn matrix() -> Matrix {
    let path = parity_dir().join("cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    Matrix {
        tolerance: doc["tolerance"].as_f64().expect("tolerance"),
        cases: doc["cases"].as_array().expect("cases").clone(),
    }
}

fn str_of<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("case field `{key}` missing: {case}"))
}

fn load(case: &Value) -> Result<OnnxModel, ModelError> {
    let n_features = case["n_features"].as_u64().expect("n_features") as usize;
    OnnxModel::load_file(&parity_dir().join(str_of(case, "file")), n_features)
}

/// The probe rows; `null` is a missing value (NaN: JSON has no NaN).
fn inputs(case: &Value) -> Vec<Vec<f32>> {
    case["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|v| match v {
                    Value::Null => f32::NAN,
                    v => v.as_f64().expect("number or null") as f32,
                })
                .collect()
        })
        .collect()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("numbers")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("shape")
        .iter()
        .map(|x| x.as_u64().expect("dim") as usize)
        .collect()
}

/// Compares one case; returns the largest value difference, or every mismatch found.
fn compare_case(case: &Value, tolerance: f64) -> Result<f64, String> {
    let name = str_of(case, "name");
    let model = load(case).map_err(|e| format!("{name}: load failed: {e}"))?;
    let compare = case["compare"].as_object().expect("compare");
    if compare.is_empty() {
        return Err(format!("{name}: compares no output"));
    }
    let mut errors = String::new();
    let mut worst = 0.0f64;
    for (ix, (input, expected)) in inputs(case)
        .iter()
        .zip(case["expected"].as_array().expect("expected"))
        .enumerate()
    {
        let got = model
            .run(input)
            .map_err(|e| format!("{name}: input {ix}: {e}"))?;
        for (output, how) in compare {
            let Some(out) = got.get(output) else {
                let _ = writeln!(errors, "{name}: input {ix}: tract has no output `{output}`");
                continue;
            };
            let want = &expected[output];
            if out.shape != shape(&want["shape"]) {
                let _ = writeln!(
                    errors,
                    "{name}: input {ix}: `{output}` shape {:?}, onnxruntime {}",
                    out.shape, want["shape"]
                );
                continue;
            }
            let want = numbers(&want["values"]);
            match how.as_str() {
                Some("exact") => {
                    let same = match &out.ints {
                        Some(ints) => ints.iter().map(|&i| i as f64).eq(want.iter().copied()),
                        // Floats: the very f32 onnxruntime wrote (the JSON number may parse
                        // 1 f64 ulp off, see below, which rounds back to the same f32).
                        None => out
                            .values
                            .iter()
                            .copied()
                            .eq(want.iter().map(|&w| w as f32)),
                    };
                    if !same {
                        let got: Vec<f64> = match &out.ints {
                            Some(ints) => ints.iter().map(|&i| i as f64).collect(),
                            None => out.values.iter().map(|&v| f64::from(v)).collect(),
                        };
                        let _ = writeln!(
                            errors,
                            "{name}: input {ix}: `{output}` = {got:?}, onnxruntime {want:?}"
                        );
                    }
                }
                Some("values") => {
                    for (g, w) in out.values.iter().zip(&want) {
                        // onnxruntime's outputs are float32: compare with the f32 the JSON
                        // number stands for (serde_json's default parser may be 1 f64 ulp off).
                        let diff = (f64::from(*g) - f64::from(*w as f32)).abs();
                        // NaN must not pass as "no difference".
                        if diff.is_nan() || diff > tolerance {
                            let _ = writeln!(
                                errors,
                                "{name}: input {ix}: `{output}` = {:?}, onnxruntime {want:?} \
                                 (|diff| {diff:e} > {tolerance:e})",
                                out.values
                            );
                            break;
                        }
                        worst = worst.max(diff);
                    }
                }
                other => panic!("{name}: unknown comparison {other:?}"),
            }
        }
    }
    if errors.is_empty() {
        Ok(worst)
    } else {
        Err(errors)
    }
}

#[test]
fn supported_exports_match_onnxruntime() {
    let m = matrix();
    let mut failures = String::new();
    let mut checked = 0;
    for case in m
        .cases
        .iter()
        .filter(|c| str_of(c, "status") != "unsupported")
    {
        match compare_case(case, m.tolerance) {
            Ok(diff) => {
                checked += 1;
                println!(
                    "{:34} max |tract - onnxruntime| = {diff:.3e}",
                    str_of(case, "name")
                );
            }
            Err(e) => failures.push_str(&e),
        }
    }
    assert!(failures.is_empty(), "parity failures:\n{failures}");
    // The matrix must not silently shrink to nothing (export.py writes 34 runnable cases, 30
    // without torch).
    assert!(checked >= 30, "only {checked} runnable cases in cases.json");
}

#[test]
fn unsupported_exports_fail_at_load_naming_what_is_missing() {
    let m = matrix();
    let mut failures = String::new();
    let mut seen = 0;
    for case in m
        .cases
        .iter()
        .filter(|c| str_of(c, "status") == "unsupported")
    {
        seen += 1;
        let name = str_of(case, "name");
        match load(case) {
            Ok(_) => {
                let _ = writeln!(
                    failures,
                    "{name}: now loads in tract: it may be supported, add reference values \
                     and move it to supported in models/parity/export.py"
                );
            }
            Err(e) => {
                let msg = e.to_string();
                for needle in case["expect_error"].as_array().expect("expect_error") {
                    let needle = needle.as_str().expect("string");
                    if !msg.contains(needle) {
                        let _ = writeln!(failures, "{name}: error does not name `{needle}`: {msg}");
                    }
                }
                println!("{name:34} refused: {msg}");
            }
        }
    }
    assert!(failures.is_empty(), "{failures}");
    // ZipMap, string labels (LinearClassifier and TreeEnsembleClassifier), Scaler,
    // IsolationForest's LabelEncoder.
    assert!(
        seen >= 5,
        "expected the unsupported plain exports, saw {seen}"
    );
}
