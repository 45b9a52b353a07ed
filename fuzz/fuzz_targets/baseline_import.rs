//! `forewarn baseline import`: a baseline file from elsewhere (JSON, `serde_json` into a
//! `BaselineRecord`), then `detect::persist::adopt` against three detectors (PCA with a lag,
//! kNN, PCA over vibration features), as the command and a running agent do; an adopted
//! baseline then scores 30 vectors and names its contributions, with adaptation on.
//!
//! Invariants: no input panics (a damaged or hostile state is refused by `adopt`, with the
//! reason, before anything indexes into it); an adopted one scores every vector of its width
//! and names at most 3 contributions, each an input of the detector.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use forewarn::config::{parse_str, Config};
use forewarn::detect::learned::AnyScorer;
use forewarn::detect::persist::adopt;
use forewarn::record::BaselineRecord;
use libfuzzer_sys::fuzz_target;

/// The detectors the seeds (`seeds/baseline_import/`) were exported from.
const CONFIG: &str = r#"
[gateway]
id = "gw"
site = "s"
data_dir = "/nonexistent/forewarn-fuzz"
[kafka]
bootstrap_servers = "127.0.0.1:9"
[[sources]]
type = "mqtt"
name = "m"
host = "127.0.0.1"
topics = ["plant/+"]
topic_pattern = "plant/{asset}"
[[assets]]
id = "a"
signals = [{ name = "x" }, { name = "y" }, { name = "z" }, { name = "vib" }]
[[detectors]]
name = "pca"
assets = ["a"]
signals = ["x", "y", "z"]
grid_secs = 1
learn = { steps = 60 }
lags = 1
[[detectors]]
name = "knn"
method = "knn"
assets = ["a"]
signals = ["x"]
grid_secs = 1
learn = { steps = 69 }
[[detectors]]
name = "vib"
assets = ["a"]
signals = ["vib"]
features = ["rms", "kurtosis", "band_energy[0,100]"]
window = { samples = 256, hop = 128, sample_rate_hz = 1000 }
learn = { steps = 60 }
"#;

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| {
        parse_str(CONFIG, "fuzz.toml", Path::new("/")).unwrap_or_else(|e| panic!("{e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<BaselineRecord>(data) else {
        return;
    };
    for d in &config().detectors {
        let Ok(learned) = adopt(d, &record) else {
            continue;
        };
        let mut scorer = AnyScorer::new(learned, Some(10));
        let n = d.inputs.len();
        for i in 0..30usize {
            let x: Vec<f64> = (0..n)
                .map(|j| ((i * 7 + j * 3) % 11) as f64 - 5.0)
                .collect();
            let _ = scorer.score(&x);
            let c = scorer.contributions(&d.inputs, &x, 3);
            assert!(c.len() <= 3);
            assert!(c
                .iter()
                .all(|c| d.inputs.iter().any(|name| **name == *c.signal)));
        }
    }
});
