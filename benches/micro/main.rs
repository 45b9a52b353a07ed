//! Micro-benchmarks of every per-sample and per-record stage, in data-flow order, on the load
//! bench's workload (10 assets × 5 signals `temp`, `vib`, `pressure`, `current`, `speed`; MQTT
//! messages on `bench/{asset}` of 20 objects of 5 signals, or one `{"ts":…,"value":…}` on
//! `bench/{asset}/{signal}`; `ts` in µs; here the objects are 10 ms apart) and on the shipped
//! model packages with their real recordings (`models/<name>/replay/`) and golden windows
//! (`models/train/golden/`). No brokers, no network; the outbox writes to `/var/tmp` (a real
//! disk, not tmpfs; `FOREWARN_BENCH_TMP` overrides it).
//!
//! `cargo bench --bench micro` runs everything in a few minutes (warm-up 1 s, measurement 3 s,
//! 20 samples per bench; override with `-- --warm-up-time 3 --measurement-time 10
//! --sample-size 100`). `cargo bench --bench micro -- outbox` runs one group (the filter is a
//! regex on `group/bench`). `cargo test --bench micro` (or `cargo bench --bench micro -- --test`)
//! runs each bench once, as CI's smoke test.
//!
//! Reading criterion's output: `time` is per iteration, and every bench states below what one
//! iteration is; `thrpt` is in the unit the bench counts (`elem/s` = samples, records or windows
//! per second, named in each group). One bench runs on one thread, so `thrpt` is per core; ns
//! per item = 1e9 / thrpt.
//!
//! Groups:
//! - `decode`: the agent's decoders as the sources call them ([`MqttDecoder`] built from a parsed
//!   provisioning file exactly as `ingest/mqtt.rs` builds it; [`LineFramer`] + [`parse_line`] as
//!   `ingest/serial/mod.rs` calls them). `json_single`: one `{"ts":…,"value":…}` message on
//!   `bench/{asset}/{signal}` (1 sample). `json_batch` / `cbor_batch`: one load-bench message,
//!   20 objects × 5 signals (100 samples), as JSON and as the same structure in CBOR.
//!   `serial_csv_line`: one CSV line of 5 signals. `serial_csv_64KiB`: 64 KiB of CSV lines
//!   through the framer in 4 KiB reads (the serial source's read size) and the line parser.
//!   thrpt: samples/s.
//! - `pipeline`: one MQTT message of 1200 vibration samples (100 ms of the CWRU recording at
//!   12 kHz, JSON objects `{"ts":<µs>,"vib":…}` on `bench/bearing-1`) per iteration.
//!   `decode_window_features`: decoder → sample window 2048/1024 → the bearing-fault package's
//!   24 features (one window per 1024 samples). `agent_path`: what the agent does for those
//!   samples on its processing task and model thread: decoder → [`Processor`] (1 s buckets,
//!   threshold rules) → the model-signal filter → [`ModelRunner`] (window, features,
//!   normalisation, tract, model alert rules). thrpt: samples/s per core. After the group the
//!   bench prints the mean samples/s per core over every iteration criterion ran (warm-up
//!   included), against the target of ≥ 1,000,000 samples/s per core for decode + windows +
//!   features.
//! - `window`: [`Windower`] alone. `samples_2048_hop_1024`: the bearing-fault manifest's window
//!   on the CWRU recording, 1024 samples per iteration (one window each). `time_30s_hop_1s`: the
//!   turbofan-rul manifest's time window (14 signals, 1 Hz) on a C-MAPSS engine, one cycle
//!   (14 samples, one window) per iteration. thrpt: samples/s.
//! - `features`: [`FeatureExtractor`] with each shipped manifest's feature list on its first
//!   golden window (bearing-fault 2048 × 1, turbofan-rul 30 × 14, process-failure 1 × 6). One
//!   iteration = one window; thrpt: window samples/s. (`benches/features.rs` covers synthetic
//!   sets and sizes.)
//! - `inference`: each package loaded as the agent loads it ([`load_package`]: checksum, tract,
//!   golden check). `tract/<package>`: one inference on the normalised first golden vector (one
//!   iteration = one window; thrpt: windows/s). `runner/<package>`: [`ModelRunner::push`] on the
//!   package's replay recording, one hop of samples per iteration (1024 vibration samples, one
//!   C-MAPSS cycle of 14, one AI4I reading of 6), so `time` is per window and thrpt is samples/s.
//! - `alert`: `threshold`: [`ThresholdRules`] (the provisioning file's two rules, `temp` and
//!   `vib` on every asset) per load-bench message of 100 samples; thrpt: samples/s.
//!   `model_rules/<package>`: score + [`WindowRuleState::observe`] of every rule of the manifest
//!   for one window's output (cycling through the golden outputs so rules raise and clear); one
//!   iteration = one window; thrpt: windows/s.
//! - `detect`: a detector at the Tennessee Eastman evaluation's size (52 signals, two lags):
//!   `learn/52x500` one whole learning (thrpt: steps/s), `score/52` one step scored (thrpt:
//!   steps/s), `step/52` one step's 52 samples through the runner (thrpt: samples/s).
//! - `downsample`: `buckets`: [`IntervalBuckets`] (1 s) per load-bench message of 100 samples;
//!   `deadband` (±0.5) and `swinging_door` (E = 0.2) on one 100 Hz temperature series, 1000
//!   samples per iteration. thrpt: samples/s.
//! - `process`: [`Processor::push`] (buckets + threshold alerts + telemetry and alert records)
//!   built from the provisioning file, per load-bench message of 100 samples; thrpt: samples/s.
//! - `outbox`: `append/<durability>/<n>`: one [`Outbox::append`] of n telemetry records (one
//!   LMDB transaction, as the writer's group commit); under `batched` the time includes the
//!   200 ms sync tick's fsync ([`Outbox::sync`], timed whenever 200 ms passed), under `full`
//!   every commit fsyncs. What each iteration appended is acknowledged afterwards, untimed, so
//!   the outbox stays small. `drain/<durability>/256`: the forwarder's read path: `read_after`
//!   256 records + `quarantine` (nothing to move) + `ack` of the 256 (one write transaction);
//!   the backlog is refilled untimed when it runs out. thrpt: records/s. Goal: ≥ 100,000
//!   records/s appended with batched commits.
//! - `codec`: one telemetry record encoded as the Kafka payload (`json`, `cbor`) and as the
//!   outbox value (`outbox_cbor`, the record with its kind tag); thrpt: records/s.
//! - `fleet`: the fleet page's state (`forewarn-fleet serve`, not the agent) at its default
//!   limits, filled with 1000 gateways × 10 assets × 120 points: `ingest/telemetry` one record
//!   (thrpt: records/s), `view/1000_gateways` one `/api/fleet` answer (view and JSON). Before
//!   the group it prints the RSS the filled fleet added; it runs first, before the other groups
//!   have allocated (memory they free would hide the fleet's growth).
//!
//! Stateful stages (windows, buckets, rules, deadband, swinging door, processor, runner) see
//! event time that keeps rising across iterations: when a recording or the generated workload
//! wraps around, its timestamps are shifted by its length (an add per sample, amortised over
//! the pass), so nothing is dropped as late or out of order.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use forewarn::alert::window::WindowRuleState;
use forewarn::alert::ThresholdRules;
use forewarn::codec::{encode_payload, to_cbor, Encoding};
use forewarn::config::{self, Config, Durability, SourceConfig, TimeUnit};
use forewarn::downsample::{Band, Deadband, IntervalBuckets, SwingingDoor};
use forewarn::features::FeatureExtractor;
use forewarn::ingest::payload::{MqttDecoder, SampleBuilder};
use forewarn::ingest::serial::framer::LineFramer;
use forewarn::ingest::serial::line::{parse_line, LineFormatSpec};
use forewarn::ingest::{time, AssetIndex, Decoded};
use forewarn::model::load::load_package;
use forewarn::model::manifest::Manifest;
use forewarn::model::package::normalize;
use forewarn::model::rule::score;
use forewarn::model::runner::{Binding, LoadedModel, ModelRunner};
use forewarn::model::stage::{wanted_signals, WantedSignals};
use forewarn::outbox::Outbox;
use forewarn::process::Processor;
use forewarn::record::{now_ns, AssetMeta, Class, Record, Sample, Telemetry, TELEMETRY_SCHEMA};
use forewarn::window::{WindowSpec, Windower};
use serde_json::Value;

const PACKAGES: [&str; 3] = ["bearing-fault", "turbofan-rul", "process-failure"];
const ASSETS: usize = 10;
const SIGNALS: [&str; 5] = ["temp", "vib", "pressure", "current", "speed"];
const UNITS: [&str; 5] = ["degC", "mm/s", "bar", "A", "rpm"];
/// Load-bench messages: 20 objects of 5 signals, here 10 ms apart (100 Hz), epoch µs.
const BATCH: usize = 20;
const STEP_US: i64 = 10_000;
const T0_US: i64 = 1_767_600_000_000_000;
/// The generated workload covers 20 s of event time (the `temp` cycle's period, so threshold
/// alerts raise and clear), then repeats shifted by 20 s.
const WORKLOAD_US: i64 = 20_000_000;
/// Vibration messages of the pipeline group: 100 ms at 12 kHz.
const VIB_MESSAGE: usize = 1200;
const VIB_ASSET: &str = "bearing-1";
const VIB_TOPIC: &str = "bench/bearing-1";
/// The pipeline's target, samples per second per core through decode + windows + features.
const PIPELINE_TARGET: f64 = 1_000_000.0;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn package_dir(name: &str) -> PathBuf {
    repo().join("models").join(name)
}

/// `cargo test --bench` (no `--bench` flag) and `-- --test` run each bench once (criterion's
/// own rule).
fn test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

mod decode;
mod detect;
mod fleet;
mod model;
mod outbox;
mod pipeline;
mod stages;
mod workload;

use decode::*;
use detect::*;
use fleet::*;
use model::*;
use outbox::*;
use pipeline::*;
use stages::*;
use workload::*;

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    // First, while little else has been allocated: its RSS figure is then the fleet's own.
    bench_fleet(&mut c);
    let config = bench_config();
    let load = load_samples(&config);
    let manifests: Vec<(&str, Manifest)> = PACKAGES
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(package_dir(name).join("manifest.toml"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (
                *name,
                Manifest::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        })
        .collect();
    let models: Vec<(&str, Arc<LoadedModel>)> = PACKAGES
        .iter()
        .map(|name| {
            let model = load_package(&package_dir(name)).unwrap_or_else(|e| panic!("{e}"));
            (*name, model)
        })
        .collect();
    let bearing = models[0].1.clone();

    bench_decode(&mut c, &config);
    bench_pipeline(&mut c, &config, &bearing);
    bench_window(&mut c, &manifests);
    bench_features(&mut c, &manifests);
    bench_inference(&mut c, &models);
    bench_alert(&mut c, &config, &load, &manifests);
    bench_detect(&mut c);
    bench_downsample(&mut c, &load);
    bench_process(&mut c, &config, &load);
    bench_outbox(&mut c);
    bench_codec(&mut c);
    c.final_summary();
}
