//! Inference latency of every runnable case of the parity matrix (`models/parity/cases.json`):
//! load + optimise time once, then p50/p99 of `OnnxModel::run` over N single-window runs
//! (after 200 warm-up runs), cycling through the case's probe inputs.
//!
//!   cargo run --release --example onnx_latency [RUNS [CASE]]
//!
//! RUNS defaults to 10000; CASE keeps the cases whose name contains it.
//! Unset RUST_BACKTRACE when measuring: with it set, every error tract creates and discards
//! internally captures a backtrace (tree ensembles run ~6x slower).
//!
//! Numbers are wall-clock on whatever else the machine is doing: run it on an idle machine.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use forewarn::model::onnx::OnnxModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 10_000,
    };
    let only = std::env::args().nth(2).unwrap_or_default();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/parity");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json"))?)?;
    let cases = doc["cases"].as_array().ok_or("cases.json: no cases")?;
    println!("{runs} runs per case, batch 1, one thread");
    println!(
        "{:34} {:>9} {:>9} {:>9} {:>9}",
        "case", "load ms", "p50 µs", "p99 µs", "max µs"
    );
    for case in cases.iter().filter(|c| c["status"] != "unsupported") {
        let name = case["name"].as_str().ok_or("case without name")?;
        if !name.contains(&only) {
            continue;
        }
        let file = dir.join(case["file"].as_str().ok_or("case without file")?);
        let n = case["n_features"]
            .as_u64()
            .ok_or("case without n_features")? as usize;
        let inputs: Vec<Vec<f32>> = case["inputs"]
            .as_array()
            .ok_or("case without inputs")?
            .iter()
            .map(|r| {
                r.as_array()
                    .map(|r| {
                        r.iter()
                            .map(|v| v.as_f64().unwrap_or(f64::NAN)) // null: a missing value (NaN)
                            .map(|v| v as f32)
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        let t = Instant::now();
        let model = OnnxModel::load_file(&file, n)?;
        let load = t.elapsed();
        for i in 0..200 {
            model.run(&inputs[i % inputs.len()])?;
        }
        let mut times: Vec<Duration> = Vec::with_capacity(runs);
        for i in 0..runs {
            let input = &inputs[i % inputs.len()];
            let t = Instant::now();
            let out = model.run(input)?;
            times.push(t.elapsed());
            std::hint::black_box(out);
        }
        times.sort_unstable();
        let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{name:34} {:>9.2} {:>9.1} {:>9.1} {:>9.1}",
            load.as_secs_f64() * 1e3,
            us(pct(0.50)),
            us(pct(0.99)),
            us(times[times.len() - 1])
        );
    }
    Ok(())
}
