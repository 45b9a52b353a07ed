//! The `detect` group: a detector's learning and scoring, at the size of the Tennessee Eastman
//! evaluation (52 signals, two lags: 156 inputs) on a generated process of 52 signals driven
//! by 8 slow factors. `learn/52x500`: one whole learning (500 steps: the fit and the five
//! out-of-fold fits; one iteration = one learning; thrpt: steps/s). `score/52`: one step
//! scored (one iteration = one step; thrpt: steps/s). `step/52`: a step through the runner
//! as the model thread does it (52 samples into the one-step windows, the step's vector, its
//! score and the alert rule; thrpt: samples/s). `knn/750`: one step of one signal through a
//! kNN detector's scorer with a 750-step window (thrpt: steps/s). `features/14x2048`: one hop
//! of 512 vibration samples through a detector over feature vectors (a 2048-sample window
//! closes: 14 features, spectrum included, `log10`, score; thrpt: samples/s).

use forewarn::detect::baseline::{Baseline, Scorer};
use forewarn::detect::knn::Knn;
use forewarn::detect::DetectorRunner;

use super::*;

const D: usize = 52;
const LEARN: usize = 500;
/// NAB's longest learning phase (its probationary period), the kNN reference window.
const KNN_WINDOW: usize = 750;

/// Step `t` of a process of `D` signals driven by 8 slow factors, with noise.
fn process_step(t: usize) -> Vec<f64> {
    let mut noise = Noise(t as u64 * 0x9e37_79b9 + 1);
    let f: Vec<f64> = (0..8)
        .map(|k| ((t as f64) * (0.013 + 0.007 * k as f64)).sin() * (1.0 + k as f64 * 0.3))
        .collect();
    (0..D)
        .map(|j| {
            let w = |k: usize| (((j * 7 + k * 13) % 11) as f64 - 5.0) / 5.0;
            10.0 * j as f64 + (0..8).map(|k| w(k) * f[k]).sum::<f64>() + 0.1 * noise.next()
        })
        .collect()
}

/// The provisioning file's sections the benchmarks' configurations share.
const HEADER: &str = r#"
[gateway]
id = "bench"
site = "bench"
data_dir = "/tmp/unused"
[kafka]
bootstrap_servers = "127.0.0.1:9"
[[sources]]
type = "mqtt"
name = "m"
host = "127.0.0.1"
topics = ["plant/+"]
topic_pattern = "plant/{asset}""#;

fn detector_config() -> Config {
    let signals: Vec<String> = (0..D).map(|j| format!("{{ name = \"s{j}\" }}")).collect();
    let names: Vec<String> = (0..D).map(|j| format!("\"s{j}\"")).collect();
    let text = format!(
        r#"{HEADER}
[[assets]]
id = "reactor-1"
signals = [{}]
[[detectors]]
name = "reactor"
assets = ["reactor-1"]
signals = [{}]
grid_secs = 1
learn = {{ steps = {LEARN} }}
"#,
        signals.join(", "),
        names.join(", ")
    );
    config::parse_str(&text, "detect bench", Path::new("/tmp")).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn bench_detect(c: &mut Criterion) {
    let mut g = c.benchmark_group("detect");
    let learn: Vec<Vec<f64>> = (0..LEARN).map(process_step).collect();
    g.throughput(Throughput::Elements(LEARN as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("learn", format!("{D}x{LEARN}")), |b| {
        b.iter(|| Baseline::learn(black_box(&learn), 2, 0.95).expect("learn"))
    });

    let baseline = Baseline::learn(&learn, 2, 0.95).expect("learn");
    let steps: Vec<Vec<f64>> = (LEARN..LEARN + 1000).map(process_step).collect();
    let mut scorer = Scorer::new(baseline);
    let mut i = 0;
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("score", D), |b| {
        b.iter(|| {
            i = (i + 1) % steps.len();
            black_box(scorer.score(&steps[i]))
        })
    });

    // Through the runner: learn first (untimed), then one step of 52 samples per iteration.
    let config = detector_config();
    let mut runner = DetectorRunner::new("bench", "bench", &config.detectors, &[]).expect("runner");
    let asset: Arc<str> = Arc::from("reactor-1");
    let names: Vec<Arc<str>> = config.detectors[0].signals.clone();
    let mut out = Vec::new();
    let mut t = 0usize;
    let push_step = |runner: &mut DetectorRunner, out: &mut Vec<Record>, t: usize| {
        for (j, v) in process_step(t).into_iter().enumerate() {
            let s = Sample {
                asset: asset.clone(),
                signal: names[j].clone(),
                ts_ns: T0_US * 1000 + t as i64 * 1_000_000_000,
                value: v,
            };
            runner.push(&s, out);
        }
    };
    while t <= LEARN {
        push_step(&mut runner, &mut out, t);
        t += 1;
    }
    g.throughput(Throughput::Elements(D as u64));
    g.bench_function(BenchmarkId::new("step", D), |b| {
        b.iter(|| {
            push_step(&mut runner, &mut out, t);
            t += 1;
            out.clear();
        })
    });

    // kNN: one step of one signal with the NAB learning length as its reference window.
    let mut knn = Knn::new(KNN_WINDOW);
    let series: Vec<f64> = (0..KNN_WINDOW * 3).map(|t| process_step(t)[7]).collect();
    for x in &series[..KNN_WINDOW + 50] {
        knn.push(*x);
    }
    let mut i = 0;
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("knn", KNN_WINDOW), |b| {
        b.iter(|| {
            i = (i + 1) % series.len();
            black_box(knn.push(series[i]))
        })
    });

    // Vibration feature vectors: one hop (512 samples at 12 kHz) per iteration, so one window
    // of 2048 closes, its 14 features (spectrum included) are computed and scored.
    let text = format!(
        r#"{HEADER}
[[assets]]
id = "bearing-1"
signals = [{{ name = "vib" }}]
[[detectors]]
name = "bearing"
assets = ["bearing-1"]
signals = ["vib"]
features = ["rms", "peak_to_peak", "crest_factor", "skewness", "kurtosis", "spectral_centroid",
  "band_energy[0,750]", "band_energy[750,1500]", "band_energy[1500,2250]", "band_energy[2250,3000]",
  "band_energy[3000,3750]", "band_energy[3750,4500]", "band_energy[4500,5250]", "band_energy[5250,6000]"]
window = {{ samples = 2048, hop = 512, sample_rate_hz = 12000 }}
learn = {{ steps = 60 }}
"#
    );
    let config = config::parse_str(&text, "detect bench", Path::new("/tmp"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut runner = DetectorRunner::new("bench", "bench", &config.detectors, &[]).expect("runner");
    let (asset, vib): (Arc<str>, Arc<str>) = (Arc::from("bearing-1"), Arc::from("vib"));
    let mut n = 0i64;
    let mut hop = |runner: &mut DetectorRunner, out: &mut Vec<Record>| {
        for _ in 0..HOP {
            let t = n as f64 / 12_000.0;
            let v = (std::f64::consts::TAU * 162.0 * t).sin() * 0.07
                + (std::f64::consts::TAU * 30.0 * t).sin() * 0.03
                + ((n * 7919 % 1000) as f64 / 1000.0 - 0.5) * 0.02;
            let s = Sample {
                asset: asset.clone(),
                signal: vib.clone(),
                ts_ns: T0_US * 1000 + n * 83_333,
                value: v,
            };
            runner.push(&s, out);
            n += 1;
        }
    };
    for _ in 0..70 {
        hop(&mut runner, &mut out);
    }
    assert_eq!(
        runner.status()["bearing"].learned,
        1,
        "the bench scores, not learns"
    );
    g.throughput(Throughput::Elements(HOP as u64));
    g.bench_function(BenchmarkId::new("features", "14x2048"), |b| {
        b.iter(|| {
            hop(&mut runner, &mut out);
            out.clear();
        })
    });
    g.finish();
}

/// Samples per hop of the features benchmark.
const HOP: usize = 512;
