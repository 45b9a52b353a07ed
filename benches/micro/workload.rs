//! The provisioning file and the workloads every group runs on: the load bench's generated
//! traffic, the shipped recordings and golden windows, and the feed that keeps event time rising.

use super::*;

/// The provisioning file: the load bench's MQTT sources (batched and per-signal topics) and
/// assets, an RS-485 CSV source, two threshold rules and the bearing-fault model on a vibration
/// asset.
pub(crate) fn config_toml() -> String {
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

pub(crate) fn bench_config() -> Config {
    config::parse_str_with(
        &config_toml(),
        "micro.toml",
        &repo(),
        &forewarn::model::package::ManifestReader,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The decoder of the MQTT source `name`, built as `MqttSource::new` builds it.
pub(crate) fn mqtt_decoder(config: &Config, name: &str) -> MqttDecoder {
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
pub(crate) struct Noise(pub(crate) u64);

impl Noise {
    pub(crate) fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

/// A plausible reading of signal `k` of asset `a` at `t_us`. `temp` swings 37.5–44.5 degC over
/// 20 s, so the `temp-high` rule raises and clears once a cycle per asset.
pub(crate) fn reading(k: usize, a: usize, t_us: i64, noise: &mut Noise) -> f64 {
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
pub(crate) fn load_message(m: usize, noise: &mut Noise) -> (String, Value) {
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
pub(crate) fn load_samples(config: &Config) -> Vec<Sample> {
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
pub(crate) struct Row {
    pub(crate) ts_ns: i64,
    /// The values as written.
    pub(crate) text: Vec<String>,
    pub(crate) values: Vec<f64>,
}

/// A replay CSV (`ts,<signal>,...`): signal names, and rows.
pub(crate) fn read_csv(path: &Path) -> (Vec<String>, Vec<Row>) {
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
pub(crate) fn replay_samples(package: &str, file: &str, asset: &str) -> (Vec<Sample>, i64) {
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
pub(crate) trait EventTime {
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
pub(crate) struct Feed<T> {
    pub(crate) items: Vec<T>,
    pub(crate) block: usize,
    pub(crate) pos: usize,
    pub(crate) period_ns: i64,
}

impl<T: EventTime> Feed<T> {
    pub(crate) fn new(items: Vec<T>, block: usize, period_ns: i64) -> Feed<T> {
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

    pub(crate) fn next(&mut self) -> &[T] {
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
pub(crate) fn golden_window(name: &str, m: &Manifest) -> Vec<Vec<f64>> {
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

pub(crate) fn manifest<'a>(manifests: &'a [(&str, Manifest)], name: &str) -> &'a Manifest {
    &manifests
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no manifest {name}"))
        .1
}

pub(crate) fn extractor(m: &Manifest) -> FeatureExtractor {
    let shapes = vec![m.window.shape(); m.features.signals().len()];
    FeatureExtractor::new(m.features.clone(), &shapes).unwrap_or_else(|e| panic!("{e}"))
}

/// The vibration recording as MQTT messages of [`VIB_MESSAGE`] samples, values as written in
/// the CSV; and the recording's length in ns.
pub(crate) fn vib_messages() -> (Vec<Vec<u8>>, i64) {
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
pub(crate) struct Rate {
    pub(crate) samples: u64,
    pub(crate) elapsed: Duration,
}

impl Rate {
    pub(crate) fn per_sec(&self) -> f64 {
        self.samples as f64 / self.elapsed.as_secs_f64().max(1e-12)
    }
}

pub(crate) fn thousands(x: f64) -> String {
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
