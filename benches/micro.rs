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
//!   `model_rules/<package>`: score + [`ModelAlertState::observe`] of every rule of the manifest
//!   for one window's output (cycling through the golden outputs so rules raise and clear); one
//!   iteration = one window; thrpt: windows/s.
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
use forewarn::model::rule::{score, ModelAlertState};
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

// ------------------------------------------------------------------------------------------
// Workload
// ------------------------------------------------------------------------------------------

/// The provisioning file: the load bench's MQTT sources (batched and per-signal topics) and
/// assets, an RS-485 CSV source, two threshold rules and the bearing-fault model on a vibration
/// asset.
fn config_toml() -> String {
    let signals = SIGNALS
        .iter()
        .zip(UNITS)
        .map(|(s, u)| format!("{{ name = \"{s}\", unit = \"{u}\" }}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut assets = String::new();
    for a in 0..ASSETS {
        assets.push_str(&format!(
            "\n[[assets]]\nid = \"asset-{a}\"\nline = \"line-{}\"\ntype = \"pump\"\ninterval_secs = 1\nsignals = [{signals}]\n",
            a % 2 + 1
        ));
    }
    format!(
        r#"
[gateway]
id = "gw-bench"
site = "bench-site"
data_dir = "/var/lib/forewarn"

[kafka]
bootstrap_servers = "127.0.0.1:9092"

[outbox]
durability = "batched"
sync_interval_ms = 200

[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
topics = ["bench/+"]
topic_pattern = "bench/{{asset}}"
timestamp = {{ field = "ts", unit = "us" }}

[[sources]]
type = "mqtt"
name = "plant-signals"
host = "127.0.0.1"
client_id = "forewarn-signals"
topics = ["bench/+/+"]
topic_pattern = "bench/{{asset}}/{{signal}}"
timestamp = {{ field = "ts", unit = "us" }}

[[sources]]
type = "serial"
name = "rs485"
device = "/dev/ttyUSB0"
asset = "asset-0"
format = "csv"
fields = ["ts", "temp", "vib", "pressure", "current", "speed"]
timestamp = {{ unit = "us" }}
max_frame_bytes = 256
{assets}
[[assets]]
id = "{VIB_ASSET}"
line = "line-1"
type = "bearing-6205"
interval_secs = 1
signals = [{{ name = "vib", unit = "g" }}]

[[models]]
package = "models/bearing-fault"
assets = ["{VIB_ASSET}"]

[[rules]]
name = "temp-high"
asset = "*"
signal = "temp"
above = 44.0
clear = 42.0
for_secs = 2
severity = "warning"

[[rules]]
name = "vib-high"
asset = "*"
signal = "vib"
above = 0.45
clear = 0.4
for_secs = 1
severity = "critical"
"#
    )
}

fn bench_config() -> Config {
    config::parse_str_with(
        &config_toml(),
        "micro.toml",
        &repo(),
        &forewarn::model::package::ManifestReader,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The decoder of the MQTT source `name`, built as `MqttSource::new` builds it.
fn mqtt_decoder(config: &Config, name: &str) -> MqttDecoder {
    let mqtt = config
        .sources
        .iter()
        .find_map(|s| match s {
            SourceConfig::Mqtt(m) if m.name == name => Some(m),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no MQTT source {name}"));
    MqttDecoder {
        index: Arc::new(AssetIndex::new(&config.assets)),
        pattern: mqtt.pattern.clone(),
        timestamp: mqtt.timestamp.clone(),
        max_payload_bytes: mqtt.max_payload_bytes,
    }
}

/// Deterministic noise in [-0.5, 0.5).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

/// A plausible reading of signal `k` of asset `a` at `t_us`. `temp` swings 37.5–44.5 degC over
/// 20 s, so the `temp-high` rule raises and clears once a cycle per asset.
fn reading(k: usize, a: usize, t_us: i64, noise: &mut Noise) -> f64 {
    let t = (t_us - T0_US) as f64 / 1e6;
    let tau = std::f64::consts::TAU;
    match k {
        0 => 41.0 + 3.5 * (tau * t / 20.0 + a as f64).sin() + 0.2 * noise.next(),
        1 => 0.3 + 0.05 * (tau * 29.95 * t).sin() + 0.04 * noise.next(),
        2 => 4.0 + 0.1 * (t / 10.0).sin() + 0.02 * noise.next(),
        3 => 12.5 + 0.5 * noise.next(),
        _ => 1480.0 + 5.0 * (t / 7.0).sin() + 2.0 * noise.next(),
    }
}

/// Load-bench message `m`: topic and JSON payload (asset `m % 10`, 20 objects × 5 signals).
fn load_message(m: usize, noise: &mut Noise) -> (String, Value) {
    let asset = m % ASSETS;
    let items = (0..BATCH)
        .map(|i| {
            let ts = T0_US + ((m / ASSETS) * BATCH + i) as i64 * STEP_US;
            let mut obj = serde_json::Map::new();
            obj.insert("ts".into(), ts.into());
            for (k, s) in SIGNALS.iter().enumerate() {
                let v = reading(k, asset, ts, noise);
                // Four decimals, as the load bench publishes them.
                let v = (v * 1e4).round() / 1e4;
                obj.insert((*s).into(), v.into());
            }
            Value::Object(obj)
        })
        .collect();
    (format!("bench/asset-{asset}"), Value::Array(items))
}

/// The load bench's traffic over [`WORKLOAD_US`], decoded by the agent's decoder (so samples
/// share the config's `Arc<str>` names, as in the agent): message after message, 100 samples
/// each.
fn load_samples(config: &Config) -> Vec<Sample> {
    let decoder = mqtt_decoder(config, "plant");
    let messages = (WORKLOAD_US / (BATCH as i64 * STEP_US)) as usize * ASSETS;
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(messages * BATCH * SIGNALS.len());
    for m in 0..messages {
        let (topic, doc) = load_message(m, &mut noise);
        let payload = serde_json::to_vec(&doc).expect("JSON payload");
        let d = decoder.decode(&topic, &payload, 0);
        assert!(d.rejects.is_empty(), "workload rejected: {:?}", d.rejects);
        out.extend(d.samples);
    }
    out
}

/// One row of a replay CSV.
struct Row {
    ts_ns: i64,
    /// The values as written.
    text: Vec<String>,
    values: Vec<f64>,
}

/// A replay CSV (`ts,<signal>,...`): signal names, and rows.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Row>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("CSV header")
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.split(',');
            let ts = time::from_text(f.next().expect("ts column"), TimeUnit::Auto)
                .unwrap_or_else(|r| panic!("{}: bad ts ({r:?}): {l}", path.display()));
            let text: Vec<String> = f.map(str::to_string).collect();
            let values = text
                .iter()
                .map(|x| x.parse().expect("numeric CSV value"))
                .collect();
            Row {
                ts_ns: ts,
                text,
                values,
            }
        })
        .collect();
    (header[1..].to_vec(), rows)
}

/// A recording's rows as samples of `asset`, in row order, and the shift that continues it
/// seamlessly after its last row (its length plus one row step).
fn replay_samples(package: &str, file: &str, asset: &str) -> (Vec<Sample>, i64) {
    let (names, rows) = read_csv(&package_dir(package).join("replay").join(file));
    let asset: Arc<str> = Arc::from(asset);
    let names: Vec<Arc<str>> = names.iter().map(|n| Arc::from(n.as_str())).collect();
    let mut samples = Vec::with_capacity(rows.len() * names.len());
    for row in &rows {
        for (name, v) in names.iter().zip(&row.values) {
            samples.push(Sample {
                asset: asset.clone(),
                signal: name.clone(),
                ts_ns: row.ts_ns,
                value: *v,
            });
        }
    }
    let step = rows[1].ts_ns - rows[0].ts_ns;
    let period = rows[rows.len() - 1].ts_ns - rows[0].ts_ns + step;
    (samples, period)
}

/// Something with an event time that a [`Feed`] can move forward.
trait EventTime {
    fn shift(&mut self, ns: i64);
}

impl EventTime for Sample {
    fn shift(&mut self, ns: i64) {
        self.ts_ns += ns;
    }
}

impl EventTime for (i64, f64) {
    fn shift(&mut self, ns: i64) {
        self.0 += ns;
    }
}

impl EventTime for (usize, i64, f64) {
    fn shift(&mut self, ns: i64) {
        self.1 += ns;
    }
}

/// Hands out consecutive blocks of a recording; at the end it starts over with every timestamp
/// moved on by `period_ns`, so stateful stages see event time that keeps rising.
struct Feed<T> {
    items: Vec<T>,
    block: usize,
    pos: usize,
    period_ns: i64,
}

impl<T: EventTime> Feed<T> {
    fn new(items: Vec<T>, block: usize, period_ns: i64) -> Feed<T> {
        assert!(
            block > 0 && items.len() >= block,
            "feed shorter than a block"
        );
        Feed {
            items,
            block,
            pos: 0,
            period_ns,
        }
    }

    fn next(&mut self) -> &[T] {
        if self.pos + self.block > self.items.len() {
            for it in &mut self.items {
                it.shift(self.period_ns);
            }
            self.pos = 0;
        }
        let block = &self.items[self.pos..self.pos + self.block];
        self.pos += self.block;
        block
    }
}

/// The first golden window of a package, one slice per feature-set signal, in that order.
fn golden_window(name: &str, m: &Manifest) -> Vec<Vec<f64>> {
    let path = repo().join(format!("models/train/golden/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let golden: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let case = &golden["cases"][0];
    m.features
        .signals()
        .iter()
        .map(|s| {
            let w = case["signals"]
                .as_array()
                .expect("golden signals")
                .iter()
                .find(|w| w["name"].as_str() == Some(s.as_str()))
                .unwrap_or_else(|| panic!("{name}: no golden window for {s}"));
            w["samples"]
                .as_array()
                .expect("golden samples")
                .iter()
                .map(|x| x.as_f64().expect("golden sample"))
                .collect()
        })
        .collect()
}

fn manifest<'a>(manifests: &'a [(&str, Manifest)], name: &str) -> &'a Manifest {
    &manifests
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no manifest {name}"))
        .1
}

fn extractor(m: &Manifest) -> FeatureExtractor {
    let shapes = vec![m.window.shape(); m.features.signals().len()];
    FeatureExtractor::new(m.features.clone(), &shapes).unwrap_or_else(|e| panic!("{e}"))
}

/// The vibration recording as MQTT messages of [`VIB_MESSAGE`] samples, values as written in
/// the CSV; and the recording's length in ns.
fn vib_messages() -> (Vec<Vec<u8>>, i64) {
    let (_, rows) = read_csv(&package_dir("bearing-fault").join("replay/normal.csv"));
    let messages = rows
        .chunks_exact(VIB_MESSAGE)
        .map(|chunk| {
            let items: Vec<String> = chunk
                .iter()
                .map(|r| format!("{{\"ts\":{},\"vib\":{}}}", r.ts_ns / 1000, r.text[0]))
                .collect();
            format!("[{}]", items.join(",")).into_bytes()
        })
        .collect::<Vec<_>>();
    let used = messages.len() * VIB_MESSAGE;
    let period = rows[used - 1].ts_ns - rows[0].ts_ns + (rows[1].ts_ns - rows[0].ts_ns);
    (messages, period)
}

/// Total samples and time of every iteration criterion ran (warm-up included).
#[derive(Default)]
struct Rate {
    samples: u64,
    elapsed: Duration,
}

impl Rate {
    fn per_sec(&self) -> f64 {
        self.samples as f64 / self.elapsed.as_secs_f64().max(1e-12)
    }
}

fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ------------------------------------------------------------------------------------------
// decode
// ------------------------------------------------------------------------------------------

fn bench_decode(c: &mut Criterion, config: &Config) {
    let mut g = c.benchmark_group("decode");

    // One sample per message, signal in the topic, µs timestamp.
    let single = mqtt_decoder(config, "plant-signals");
    let payload = br#"{"ts":1767600000123456,"value":41.25}"#;
    assert_eq!(
        single
            .decode("bench/asset-3/temp", payload, 0)
            .samples
            .len(),
        1
    );
    g.throughput(Throughput::Elements(1));
    g.bench_function("json_single", |b| {
        b.iter(|| {
            single.decode(
                black_box("bench/asset-3/temp"),
                black_box(payload),
                now_ns(),
            )
        })
    });

    // The load bench's message, as JSON and as CBOR.
    let plant = mqtt_decoder(config, "plant");
    let mut noise = Noise(7);
    let docs: Vec<(String, Value)> = (0..ASSETS).map(|m| load_message(m, &mut noise)).collect();
    let json: Vec<(String, Vec<u8>)> = docs
        .iter()
        .map(|(t, d)| (t.clone(), serde_json::to_vec(d).expect("JSON")))
        .collect();
    let cbor: Vec<(String, Vec<u8>)> = docs
        .iter()
        .map(|(t, d)| (t.clone(), to_cbor(d).expect("CBOR")))
        .collect();
    let per_message = (BATCH * SIGNALS.len()) as u64;
    for (name, messages) in [("json_batch", &json), ("cbor_batch", &cbor)] {
        for (topic, payload) in messages {
            let d = plant.decode(topic, payload, 0);
            assert_eq!(
                (d.samples.len(), d.rejects.len()),
                (per_message as usize, 0),
                "{name}"
            );
        }
        g.throughput(Throughput::Elements(per_message));
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let (topic, payload) = &messages[i % messages.len()];
                i += 1;
                plant.decode(topic, black_box(payload), now_ns())
            })
        });
    }

    // RS-485 CSV lines, as the serial source reads them.
    let serial = config
        .sources
        .iter()
        .find_map(|s| match s {
            SourceConfig::Serial(s) => Some(s.clone()),
            _ => None,
        })
        .expect("serial source");
    let index = AssetIndex::new(&config.assets);
    let spec = LineFormatSpec {
        format: serial.format,
        fields: serial.fields.clone(),
        asset: serial.asset.clone(),
    };
    let mut noise = Noise(11);
    let line = |i: usize, noise: &mut Noise| {
        let ts = T0_US + i as i64 * 100_000;
        let v: Vec<String> = (0..SIGNALS.len())
            .map(|k| format!("{:.4}", reading(k, 0, ts, noise)))
            .collect();
        format!("{ts},{}\r\n", v.join(","))
    };
    let one = line(0, &mut noise);
    let builder = SampleBuilder {
        index: &index,
        timestamp: &serial.timestamp,
        arrival_ns: 0,
    };
    assert_eq!(
        parse_line(&spec, &builder, one.trim_end()).samples.len(),
        SIGNALS.len()
    );
    g.throughput(Throughput::Elements(SIGNALS.len() as u64));
    g.bench_function("serial_csv_line", |b| {
        b.iter(|| {
            let builder = SampleBuilder {
                index: &index,
                timestamp: &serial.timestamp,
                arrival_ns: now_ns(),
            };
            parse_line(&spec, &builder, black_box(one.trim_end()))
        })
    });

    let mut chunk = String::new();
    let mut lines = 0;
    loop {
        let l = line(lines, &mut noise);
        if chunk.len() + l.len() > 64 * 1024 {
            break;
        }
        chunk.push_str(&l);
        lines += 1;
    }
    let chunk = chunk.into_bytes();
    let mut framer = LineFramer::new(serial.max_frame_bytes);
    let read_chunk = |framer: &mut LineFramer| {
        let mut batch = Vec::new();
        let mut rejected = 0;
        for read in chunk.chunks(4096) {
            let builder = SampleBuilder {
                index: &index,
                timestamp: &serial.timestamp,
                arrival_ns: now_ns(),
            };
            framer.push(read, |frame| {
                let decoded = match frame {
                    Ok(text) => parse_line(&spec, &builder, text),
                    Err(r) => Decoded::reject(r),
                };
                rejected += decoded.rejects.len();
                batch.extend(decoded.samples);
            });
        }
        (batch, rejected)
    };
    let (batch, rejected) = read_chunk(&mut framer);
    assert_eq!(
        (batch.len(), rejected),
        (lines * SIGNALS.len(), 0),
        "serial chunk"
    );
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("serial_csv_64KiB", |b| b.iter(|| read_chunk(&mut framer)));
    g.finish();
}

// ------------------------------------------------------------------------------------------
// pipeline
// ------------------------------------------------------------------------------------------

/// Decode → sample window → features, for one vibration asset.
struct VibPipeline {
    decoder: MqttDecoder,
    messages: Vec<Vec<u8>>,
    next: usize,
    period_ns: i64,
    shift_ns: i64,
    windower: Windower,
    extractor: FeatureExtractor,
    features: Vec<f32>,
    windows: u64,
}

impl VibPipeline {
    fn new(config: &Config, bearing: &Manifest) -> VibPipeline {
        let (messages, period_ns) = vib_messages();
        let ex = extractor(bearing);
        VibPipeline {
            decoder: mqtt_decoder(config, "plant"),
            messages,
            next: 0,
            period_ns,
            shift_ns: 0,
            windower: Windower::new(bearing.window, bearing.signals.len()).expect("window"),
            features: vec![0.0; ex.len()],
            extractor: ex,
            windows: 0,
        }
    }

    /// One message; returns its sample count.
    fn message(&mut self) -> u64 {
        let d = self
            .decoder
            .decode(VIB_TOPIC, &self.messages[self.next], now_ns());
        let (windower, extractor, features, windows) = (
            &mut self.windower,
            &mut self.extractor,
            &mut self.features,
            &mut self.windows,
        );
        for s in &d.samples {
            windower.push(0, s.ts_ns + self.shift_ns, s.value, |w| {
                extractor
                    .extract(&[w.signals[0].as_slice()], features)
                    .expect("bearing-fault features");
                *windows += 1;
            });
        }
        black_box(&self.features);
        self.next += 1;
        if self.next == self.messages.len() {
            self.next = 0;
            self.shift_ns += self.period_ns;
        }
        d.samples.len() as u64
    }
}

/// Decode → processor (buckets, threshold rules) → model runner, as the processing task and
/// the model thread do it (`process::stage`, `model::stage`).
struct AgentPath {
    decoder: MqttDecoder,
    messages: Vec<Vec<u8>>,
    next: usize,
    period_ns: i64,
    shift_ns: i64,
    processor: Processor,
    runner: ModelRunner,
    wanted: WantedSignals,
    records: Vec<Record>,
}

impl AgentPath {
    fn new(config: &Config, bearing: Arc<LoadedModel>) -> AgentPath {
        let (messages, period_ns) = vib_messages();
        let mc = config.models.first().expect("a [[models]] entry");
        let bindings: Vec<Binding> = mc
            .bindings
            .iter()
            .map(|(asset, signals)| Binding {
                asset: asset.clone(),
                signals: signals.clone(),
                meta: config
                    .assets
                    .iter()
                    .find(|a| &a.id == asset)
                    .map(|a| a.meta.clone())
                    .unwrap_or_default(),
            })
            .collect();
        let runner = ModelRunner::new(
            &config.gateway.id,
            &config.gateway.site,
            vec![(bearing, bindings)],
        )
        .expect("model runner");
        AgentPath {
            decoder: mqtt_decoder(config, "plant"),
            messages,
            next: 0,
            period_ns,
            shift_ns: 0,
            processor: Processor::new(config),
            runner,
            wanted: wanted_signals(config),
            records: Vec::new(),
        }
    }

    fn message(&mut self) -> u64 {
        let mut batch = self
            .decoder
            .decode(VIB_TOPIC, &self.messages[self.next], now_ns())
            .samples;
        for s in &mut batch {
            s.ts_ns += self.shift_ns;
        }
        let now = now_ns();
        for s in &batch {
            self.processor.push(s, now, &mut self.records);
        }
        let for_models: Vec<Sample> = batch
            .iter()
            .filter(|s| self.wanted.contains(&s.asset, &s.signal))
            .cloned()
            .collect();
        for s in &for_models {
            self.runner.push(s, &mut self.records);
        }
        black_box(&self.records);
        self.records.clear();
        self.next += 1;
        if self.next == self.messages.len() {
            self.next = 0;
            self.shift_ns += self.period_ns;
        }
        batch.len() as u64
    }
}

fn bench_pipeline(c: &mut Criterion, config: &Config, bearing: &Arc<LoadedModel>) {
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(VIB_MESSAGE as u64));

    let mut p = VibPipeline::new(config, &bearing.manifest);
    assert_eq!(p.message(), VIB_MESSAGE as u64, "vibration message");
    let mut fast = Rate::default();
    g.bench_function("decode_window_features", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut samples = 0;
            for _ in 0..iters {
                samples += p.message();
            }
            let t = start.elapsed();
            fast.samples += samples;
            fast.elapsed += t;
            t
        })
    });

    let mut a = AgentPath::new(config, bearing.clone());
    let mut full = Rate::default();
    g.bench_function("agent_path", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut samples = 0;
            for _ in 0..iters {
                samples += a.message();
            }
            let t = start.elapsed();
            full.samples += samples;
            full.elapsed += t;
            t
        })
    });
    g.finish();

    // In test mode one iteration ran (unoptimised under `cargo test`): a figure, no verdict.
    let test = test_mode();
    let note = if test {
        " (test mode: a single iteration, not a measurement)"
    } else {
        ""
    };
    if fast.samples > 0 {
        let rate = fast.per_sec();
        let verdict = match (test, rate >= PIPELINE_TARGET) {
            (true, _) => String::new(),
            (false, met) => format!(
                "; target >= {} samples/s per core: {}",
                thousands(PIPELINE_TARGET),
                if met { "met" } else { "NOT met" }
            ),
        };
        println!(
            "pipeline decode + windows + features: {} samples/s per core ({:.0} ns/sample; {} samples, {} windows of 2048){note}{verdict}",
            thousands(rate),
            1e9 / rate,
            thousands(fast.samples as f64),
            thousands(p.windows as f64),
        );
    }
    if full.samples > 0 {
        let rate = full.per_sec();
        println!(
            "pipeline agent path (decode + buckets + thresholds + windows + features + tract + model rules): {} samples/s per core ({:.0} ns/sample){note}",
            thousands(rate),
            1e9 / rate,
        );
    }
}

// ------------------------------------------------------------------------------------------
// window
// ------------------------------------------------------------------------------------------

fn bench_window(c: &mut Criterion, manifests: &[(&str, Manifest)]) {
    let mut g = c.benchmark_group("window");

    let bearing = manifest(manifests, "bearing-fault");
    let (samples, period) = replay_samples("bearing-fault", "normal.csv", VIB_ASSET);
    let items: Vec<(usize, i64, f64)> = samples.iter().map(|s| (0, s.ts_ns, s.value)).collect();
    let hop = 1024;
    let mut feed = Feed::new(items, hop, period);
    let mut w = Windower::new(bearing.window, 1).expect("sample window");
    g.throughput(Throughput::Elements(hop as u64));
    g.bench_function("samples_2048_hop_1024", |b| {
        b.iter(|| {
            for &(k, ts, v) in feed.next() {
                w.push(k, ts, v, |view| {
                    black_box(view.signals[0][0]);
                });
            }
        })
    });

    let turbofan = manifest(manifests, "turbofan-rul");
    let (samples, period) = replay_samples("turbofan-rul", "fd001_test_unit81.csv", "engine-81");
    let items: Vec<(usize, i64, f64)> = samples
        .iter()
        .map(|s| {
            let k = turbofan
                .signals
                .iter()
                .position(|x| x.as_str() == &*s.signal)
                .expect("turbofan signal");
            (k, s.ts_ns, s.value)
        })
        .collect();
    let per_cycle = turbofan.signals.len();
    let mut feed = Feed::new(items, per_cycle, period);
    let mut w = Windower::new(turbofan.window, per_cycle).expect("time window");
    g.throughput(Throughput::Elements(per_cycle as u64));
    g.bench_function("time_30s_hop_1s", |b| {
        b.iter(|| {
            for &(k, ts, v) in feed.next() {
                w.push(k, ts, v, |view| {
                    black_box(view.signals[0][0]);
                });
            }
        })
    });
    g.finish();
}

// ------------------------------------------------------------------------------------------
// features
// ------------------------------------------------------------------------------------------

fn bench_features(c: &mut Criterion, manifests: &[(&str, Manifest)]) {
    let mut g = c.benchmark_group("features");
    for (name, m) in manifests {
        let windows = golden_window(name, m);
        let slices: Vec<&[f64]> = windows.iter().map(Vec::as_slice).collect();
        let mut ex = extractor(m);
        let mut out = vec![0f32; ex.len()];
        ex.extract(&slices, &mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let samples: usize = windows.iter().map(Vec::len).sum();
        g.throughput(Throughput::Elements(samples as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                ex.extract(black_box(&slices), &mut out)
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(&out);
            })
        });
    }
    g.finish();
}

// ------------------------------------------------------------------------------------------
// inference
// ------------------------------------------------------------------------------------------

fn bench_inference(c: &mut Criterion, models: &[(&str, Arc<LoadedModel>)]) {
    let mut g = c.benchmark_group("inference");
    g.throughput(Throughput::Elements(1));
    for (name, model) in models {
        let m = &model.manifest;
        let mut input = m.golden[0].features.clone();
        normalize(m, &mut input);
        model
            .model
            .infer(&input)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        g.bench_function(BenchmarkId::new("tract", name), |b| {
            b.iter(|| model.model.infer(black_box(&input)).expect("inference"))
        });
    }

    // The runner: window → features → normalise → infer → alert rules, one hop per iteration.
    let replays = [
        ("bearing-fault", "inner_race.csv", "bearing-1"),
        ("turbofan-rul", "fd001_test_unit81.csv", "engine-81"),
        ("process-failure", "ai4i_rows.csv", "mill-1"),
    ];
    for (name, file, asset) in replays {
        let model = models
            .iter()
            .find(|(n, _)| *n == name)
            .expect("loaded package")
            .1
            .clone();
        let m = &model.manifest;
        let hop = match m.window {
            WindowSpec::Samples { hop, .. } => hop * m.signals.len(),
            WindowSpec::Time { .. } => m.signals.len(),
        };
        let (samples, period) = replay_samples(name, file, asset);
        let binding = Binding {
            asset: Arc::from(asset),
            signals: m.signals.iter().map(|s| Arc::from(s.as_str())).collect(),
            meta: AssetMeta::default(),
        };
        let mut runner = ModelRunner::new("gw-bench", "bench-site", vec![(model, vec![binding])])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut feed = Feed::new(samples, hop, period);
        let mut out = Vec::new();
        g.throughput(Throughput::Elements(hop as u64));
        g.bench_function(BenchmarkId::new("runner", name), |b| {
            b.iter(|| {
                for s in feed.next() {
                    runner.push(s, &mut out);
                }
                black_box(&out);
                out.clear();
            })
        });
    }
    g.finish();
}

// ------------------------------------------------------------------------------------------
// alert
// ------------------------------------------------------------------------------------------

fn bench_alert(
    c: &mut Criterion,
    config: &Config,
    load: &[Sample],
    manifests: &[(&str, Manifest)],
) {
    let mut g = c.benchmark_group("alert");
    let per_message = BATCH * SIGNALS.len();

    let mut rules = ThresholdRules::new(config.rules.clone());
    let mut feed = Feed::new(load.to_vec(), per_message, WORKLOAD_US * 1000);
    let mut transitions = Vec::new();
    g.throughput(Throughput::Elements(per_message as u64));
    g.bench_function("threshold", |b| {
        b.iter(|| {
            for s in feed.next() {
                rules.push(&s.asset, &s.signal, s.ts_ns, s.value, &mut transitions);
            }
            black_box(&transitions);
            transitions.clear();
        })
    });

    g.throughput(Throughput::Elements(1));
    for name in ["bearing-fault", "turbofan-rul"] {
        let m = manifest(manifests, name);
        let mut states: Vec<ModelAlertState> =
            m.alerts.iter().cloned().map(ModelAlertState::new).collect();
        // Each golden output for 8 windows in a row: rules raise, update and clear.
        let outputs: Vec<&[f32]> = m
            .golden
            .iter()
            .flat_map(|g| std::iter::repeat_n(g.output.as_slice(), 8))
            .collect();
        let hop_ns = 85_333_333;
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("model_rules", name), |b| {
            b.iter(|| {
                let output = outputs[i % outputs.len()];
                let end_ns = 1_767_600_000_000_000_000 + i as i64 * hop_ns;
                i += 1;
                for state in &mut states {
                    if let Some(sc) = score(state.rule(), &m.output, black_box(output)) {
                        black_box(state.observe(sc, end_ns));
                    }
                }
            })
        });
    }
    g.finish();
}

// ------------------------------------------------------------------------------------------
// downsample
// ------------------------------------------------------------------------------------------

fn bench_downsample(c: &mut Criterion, load: &[Sample]) {
    let mut g = c.benchmark_group("downsample");
    let per_message = BATCH * SIGNALS.len();
    let period = WORKLOAD_US * 1000;

    let mut buckets = IntervalBuckets::default();
    let mut feed = Feed::new(load.to_vec(), per_message, period);
    let now = now_ns();
    g.throughput(Throughput::Elements(per_message as u64));
    g.bench_function("buckets", |b| {
        b.iter(|| {
            for s in feed.next() {
                black_box(buckets.push(&s.asset, &s.signal, 1_000_000_000, s.ts_ns, s.value, now));
            }
        })
    });

    // One series: temperature of asset-0, 100 Hz.
    let series: Vec<(i64, f64)> = load
        .iter()
        .filter(|s| &*s.asset == "asset-0" && &*s.signal == "temp")
        .map(|s| (s.ts_ns, s.value))
        .collect();
    let block = 1000;
    g.throughput(Throughput::Elements(block as u64));
    let mut deadband = Deadband::new(Band::Abs(0.5), Some(600.0)).expect("deadband");
    let mut feed = Feed::new(series.clone(), block, period);
    g.bench_function("deadband", |b| {
        b.iter(|| {
            for &(ts, v) in feed.next() {
                deadband.push(ts, v, |p| {
                    black_box(p);
                });
            }
        })
    });
    let mut door = SwingingDoor::new(0.2, Some(600.0)).expect("swinging door");
    let mut feed = Feed::new(series, block, period);
    g.bench_function("swinging_door", |b| {
        b.iter(|| {
            for &(ts, v) in feed.next() {
                door.push(ts, v, |p| {
                    black_box(p);
                });
            }
        })
    });
    g.finish();
}

// ------------------------------------------------------------------------------------------
// process
// ------------------------------------------------------------------------------------------

fn bench_process(c: &mut Criterion, config: &Config, load: &[Sample]) {
    let mut g = c.benchmark_group("process");
    let per_message = BATCH * SIGNALS.len();
    let mut p = Processor::new(config);
    let mut feed = Feed::new(load.to_vec(), per_message, WORKLOAD_US * 1000);
    let mut out = Vec::new();
    g.throughput(Throughput::Elements(per_message as u64));
    g.bench_function("samples", |b| {
        b.iter(|| {
            let now = now_ns();
            for s in feed.next() {
                p.push(s, now, &mut out);
            }
            black_box(&out);
            out.clear();
        })
    });
    g.finish();
}

// ------------------------------------------------------------------------------------------
// outbox
// ------------------------------------------------------------------------------------------

/// A telemetry record as the processor makes them: a 1 s bucket of one signal.
fn telemetry(i: u64) -> Record {
    let a = (i % ASSETS as u64) as usize;
    let k = (i / ASSETS as u64 % SIGNALS.len() as u64) as usize;
    let start = 1_767_600_000_000_000_000 + (i / 50) as i64 * 1_000_000_000;
    let mean = reading(k, a, T0_US + (i / 50) as i64 * 1_000_000, &mut Noise(i | 1));
    Record::Telemetry(Telemetry {
        schema: TELEMETRY_SCHEMA.into(),
        gateway: "gw-bench".into(),
        site: "bench-site".into(),
        asset: format!("asset-{a}"),
        signal: SIGNALS[k].into(),
        unit: Some(UNITS[k].into()),
        start_ns: start,
        end_ns: start + 1_000_000_000,
        count: 100,
        min: mean * 0.98,
        max: mean * 1.02,
        mean,
        last: mean * 1.01,
        meta: AssetMeta {
            line: Some(format!("line-{}", a % 2 + 1)),
            asset_type: Some("pump".into()),
            ..AssetMeta::default()
        },
        method: None,
    })
}

/// `batched` durability's sync tick: `Outbox::sync` every interval, timed by the caller.
struct SyncTick {
    every: Option<Duration>,
    last: Instant,
}

impl SyncTick {
    fn new(d: Durability) -> SyncTick {
        SyncTick {
            every: match d {
                Durability::Full => None,
                Durability::Batched(i) => Some(i),
            },
            last: Instant::now(),
        }
    }

    fn tick(&mut self, outbox: &Outbox) {
        if self.every.is_some_and(|e| self.last.elapsed() >= e) {
            outbox.sync().expect("outbox sync");
            self.last = Instant::now();
        }
    }
}

fn outbox_in(base: &Path, durability: Durability) -> (tempfile::TempDir, Outbox) {
    let dir = tempfile::Builder::new()
        .prefix("forewarn-micro-")
        .tempdir_in(base)
        .unwrap_or_else(|e| panic!("temp dir in {}: {e}", base.display()));
    let outbox =
        Outbox::open(&dir.path().join("outbox"), 256 << 20, durability).expect("open outbox");
    (dir, outbox)
}

fn bench_outbox(c: &mut Criterion) {
    let base = std::env::var_os("FOREWARN_BENCH_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp"));
    let durabilities = [
        ("full", Durability::Full),
        ("batched", Durability::Batched(Duration::from_millis(200))),
    ];
    let mut g = c.benchmark_group("outbox");
    // Appends under `full` take milliseconds: equal-sized samples keep the run short.
    g.sampling_mode(SamplingMode::Flat);
    let records: Vec<Record> = (0..4096).map(telemetry).collect();

    for (dname, durability) in durabilities {
        let (_dir, outbox) = outbox_in(&base, durability);
        for n in [256usize, 4096] {
            let batch = &records[..n];
            let mut tick = SyncTick::new(durability);
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(BenchmarkId::new(format!("append/{dname}"), n), |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let seqs = outbox.append(black_box(batch)).expect("append");
                        tick.tick(&outbox);
                        timed += start.elapsed();
                        // Keep the outbox small: what the forwarder would have delivered.
                        outbox.ack(Class::Telemetry, &seqs).expect("ack");
                    }
                    timed
                })
            });
        }
        drop(outbox);
    }

    for (dname, durability) in durabilities {
        let (_dir, outbox) = outbox_in(&base, durability);
        let limit = 256;
        let mut cursor = 0u64;
        let mut tick = SyncTick::new(durability);
        g.throughput(Throughput::Elements(limit as u64));
        g.bench_function(BenchmarkId::new(format!("drain/{dname}"), limit), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    if outbox.counters().class(Class::Telemetry).count < limit as u64 {
                        // Refill the backlog, untimed.
                        for _ in 0..4 {
                            outbox.append(&records).expect("refill");
                        }
                    }
                    let start = Instant::now();
                    let batch = outbox
                        .read_after(Class::Telemetry, cursor, limit)
                        .expect("read_after");
                    outbox
                        .quarantine(Class::Telemetry, &batch.undecodable)
                        .expect("quarantine");
                    let seqs: Vec<u64> = batch.entries.iter().map(|e| e.seq).collect();
                    cursor = seqs.last().copied().unwrap_or(cursor);
                    outbox.ack(Class::Telemetry, &seqs).expect("ack");
                    tick.tick(&outbox);
                    timed += start.elapsed();
                    assert_eq!(seqs.len(), limit, "drain read a short batch");
                }
                timed
            })
        });
        drop(outbox);
    }
    g.finish();
}

// ------------------------------------------------------------------------------------------
// codec
// ------------------------------------------------------------------------------------------

fn bench_codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    let record = telemetry(42);
    for (name, encoding) in [("json", Encoding::Json), ("cbor", Encoding::Cbor)] {
        g.bench_function(name, |b| {
            b.iter(|| encode_payload(black_box(&record), encoding).expect("encode"))
        });
    }
    g.bench_function("outbox_cbor", |b| {
        b.iter(|| to_cbor(black_box(&record)).expect("encode"))
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
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
    bench_downsample(&mut c, &load);
    bench_process(&mut c, &config, &load);
    bench_outbox(&mut c);
    bench_codec(&mut c);
    c.final_summary();
}
