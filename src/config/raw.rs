//! The provisioning file as written: serde structs, one per TOML table, unknown keys rejected.
//!
//! Nothing here is checked beyond types; [`super::validate`] turns these into the validated
//! [`super::Config`] and reports every problem at once. The same structs give the file's JSON
//! Schema ([`super::json_schema`]): their doc comments are its descriptions, and a
//! `#[schemars(...)]` adds what only validation knows (the strings a field accepts, a default
//! that validation fills in).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// `[gateway]`: who this gateway is and where it keeps its state.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    /// Gateway id; part of every Kafka key and dedup header. Letters, digits, `.`, `_`, `-`.
    pub id: String,
    /// Site (plant) name, attached to every record.
    pub site: String,
    /// Directory for the outbox (LMDB) and other state.
    pub data_dir: String,
    /// Seconds between status heartbeats.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_secs: u64,
}

fn default_heartbeat() -> u64 {
    30
}

/// `[kafka]`: where records go.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKafka {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Topic names per record class.
    #[serde(default)]
    pub topics: RawTopics,
    /// Payload encoding: `json` (default) or `cbor`.
    #[serde(default)]
    #[schemars(extend("enum" = ["json", "cbor"], "default" = "json"))]
    pub encoding: Option<String>,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd` (default).
    #[serde(default)]
    #[schemars(extend("enum" = ["none", "gzip", "snappy", "lz4", "zstd"], "default" = "zstd"))]
    pub compression: Option<String>,
    /// Create missing topics at start (admin API).
    #[serde(default)]
    pub create_topics: bool,
    /// Partitions for topics that forewarn creates.
    #[serde(default = "default_partitions")]
    pub topic_partitions: i32,
    /// Replication factor for topics that forewarn creates.
    #[serde(default = "default_replication")]
    pub topic_replication: i32,
    /// Records sent but not yet acknowledged, at most (bounds memory during a backlog drain).
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// Pass-through librdkafka properties (TLS, SASL, ...). A value may hold secret references
    /// (`${NAME}` or `${env:NAME}`, `${file:/path}`, `${credential:NAME}`), so secrets need
    /// not live in the file.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_partitions() -> i32 {
    3
}
fn default_replication() -> i32 {
    1
}
fn default_in_flight() -> usize {
    1000
}

/// `[kafka.topics]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTopics {
    /// Alerts raised and cleared.
    #[serde(default = "default_alerts")]
    pub alerts: String,
    /// Telemetry buckets.
    #[serde(default = "default_telemetry")]
    pub telemetry: String,
    /// Heartbeats and learned baselines.
    #[serde(default = "default_status")]
    pub status: String,
}

impl Default for RawTopics {
    fn default() -> Self {
        RawTopics {
            alerts: default_alerts(),
            telemetry: default_telemetry(),
            status: default_status(),
        }
    }
}

fn default_alerts() -> String {
    "forewarn.alerts".into()
}
fn default_telemetry() -> String {
    "forewarn.telemetry".into()
}
fn default_status() -> String {
    "forewarn.status".into()
}

/// `[metrics]`: the local Prometheus `/metrics` and `/health` endpoint (off without it).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// `IP:port` to listen on, e.g. `127.0.0.1:9464` (loopback: only the gateway itself).
    pub listen: String,
}

/// `[outbox]`: the durable store-and-forward buffer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    /// Bytes of records the outbox may hold before it evicts (oldest telemetry first).
    #[serde(default = "default_budget")]
    pub budget_bytes: u64,
    /// `full`: fsync every commit. `batched`: fsync every `sync_interval_ms`.
    #[serde(default)]
    #[schemars(extend("enum" = ["full", "batched"], "default" = "full"))]
    pub durability: Option<String>,
    /// Group-commit interval for `batched` durability.
    #[serde(default = "default_sync_ms")]
    pub sync_interval_ms: u64,
}

impl Default for RawOutbox {
    fn default() -> Self {
        RawOutbox {
            budget_bytes: default_budget(),
            durability: None,
            sync_interval_ms: default_sync_ms(),
        }
    }
}

fn default_budget() -> u64 {
    256 * 1024 * 1024
}
fn default_sync_ms() -> u64 {
    200
}

/// How a source finds a sample's event time.
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTimestamp {
    /// Field holding the event time; absent in a payload → arrival time.
    #[serde(default)]
    pub field: Option<String>,
    /// `auto` (default), `s`, `ms`, `us`, `ns` or `rfc3339`.
    #[serde(default)]
    #[schemars(extend("enum" = ["auto", "s", "ms", "us", "ns", "rfc3339"], "default" = "auto"))]
    pub unit: Option<String>,
    /// Live sources (MQTT, serial): samples stamped more than this ahead of the gateway clock
    /// are rejected as `ts_future` (default 300).
    #[serde(default)]
    #[schemars(extend("default" = super::TimePolicy::DEFAULT_MAX_FUTURE_SECS))]
    pub max_future_secs: Option<u64>,
    /// Live sources: samples stamped more than this behind the gateway clock are rejected as
    /// `ts_past` (default 366 days; 0: no limit).
    #[serde(default)]
    #[schemars(extend("default" = super::TimePolicy::DEFAULT_MAX_PAST_SECS))]
    pub max_past_secs: Option<u64>,
    /// Replay sources (and live sources while the gateway clock is wrong): a sample more than
    /// this away from its asset's newest event time is rejected as `ts_jump` until 3 distinct
    /// event times in a row confirm the jump (default 86400).
    #[serde(default)]
    #[schemars(extend("default" = super::TimePolicy::DEFAULT_MAX_JUMP_SECS))]
    pub max_jump_secs: Option<u64>,
}

/// `[[sources]]` with `type = "mqtt"`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    #[serde(rename = "type")]
    /// `mqtt`.
    #[schemars(extend("enum" = ["mqtt"]))]
    pub kind: String,
    /// Source name, unique among the sources; letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// The broker's host name or address.
    pub host: String,
    /// The broker's port (brokers usually take TLS on 8883).
    #[serde(default = "default_mqtt_port")]
    pub port: u16,
    /// MQTT client id; defaults to `forewarn-<gateway id>-<source name>`. Stable ids keep the
    /// persistent session (QoS 1 messages queued while we were away).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Topic filters to subscribe to (QoS 1).
    pub topics: Vec<String>,
    /// How topic levels map to asset and signal, e.g. `plant/{asset}/{signal}`. Without
    /// `{signal}` the payload must be an object of signal → value.
    pub topic_pattern: String,
    /// Where the event time comes from (`timestamp = { field, unit, ... }`).
    #[serde(default)]
    pub timestamp: RawTimestamp,
    /// MQTT keep-alive, 5 to 3600 seconds.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_secs: u64,
    /// Username for the broker.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for the broker (needs `username`); a secret reference may stand for it
    /// (`${NAME}` or `${env:NAME}`, `${file:/path}`, `${credential:NAME}`).
    #[serde(default)]
    pub password: Option<String>,
    /// Connect with TLS: the server's certificate is verified against `ca_file` (only that CA)
    /// or the system roots, and its name against `host`.
    #[serde(default)]
    pub tls: bool,
    /// With `tls`: the CA certificate (PEM) to verify the broker against, instead of the
    /// system roots.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// A client certificate (PEM, the chain after it) for brokers that require one, with its
    /// private key (PKCS#8 PEM, unencrypted; `key_file` must not be writable by others).
    #[serde(default)]
    pub cert_file: Option<String>,
    /// With `cert_file`: its private key (PKCS#8 PEM, unencrypted).
    #[serde(default)]
    pub key_file: Option<String>,
    /// Largest accepted payload. A larger message is acknowledged, dropped and counted as
    /// `oversize`. Packets up to this + 65,539 bytes are read whole (memory: about 3.5 times
    /// that at peak); larger ones are skipped through a 16 KiB buffer at the cost of one
    /// reconnect.
    #[serde(default = "default_max_payload")]
    pub max_payload_bytes: usize,
}

fn default_mqtt_port() -> u16 {
    1883
}
fn default_keep_alive() -> u64 {
    30
}
fn default_max_payload() -> usize {
    1024 * 1024
}

/// `[[sources]]` with `type = "serial"`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSerial {
    #[serde(rename = "type")]
    /// `serial`.
    #[schemars(extend("enum" = ["serial"]))]
    pub kind: String,
    /// Source name, unique among the sources; letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// The serial device, e.g. `/dev/ttyUSB0` (or a stable name from a udev rule).
    pub device: String,
    /// Line speed in baud, 1 to 4000000.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// 5, 6, 7 or 8.
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// `none` (default), `odd` or `even`.
    #[serde(default)]
    #[schemars(extend("enum" = ["none", "odd", "even"], "default" = "none"))]
    pub parity: Option<String>,
    /// 1 or 2.
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// The asset every line belongs to (a `key=value` or JSON line may override it with an
    /// `asset` field).
    pub asset: String,
    /// `csv`, `json` or `kv`.
    #[schemars(extend("enum" = ["csv", "json", "kv"]))]
    pub format: String,
    /// CSV only: one name per column; `ts` is the event time, `_` skips a column.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Where the event time comes from (`timestamp = { field, unit, ... }`).
    #[serde(default)]
    pub timestamp: RawTimestamp,
    /// Longer lines are discarded and counted as `oversize`.
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: usize,
}

fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}
fn default_max_frame() -> usize {
    1024
}

/// `[[sources]]` with `type = "replay"`: a CSV recording with a header row (`ts`, optional
/// `asset`, then one column per signal).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    #[serde(rename = "type")]
    /// `replay`.
    #[schemars(extend("enum" = ["replay"]))]
    pub kind: String,
    /// Source name, unique among the sources; letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// Path of the CSV file (relative paths are relative to the provisioning file).
    pub path: String,
    /// Asset for files without an `asset` column.
    #[serde(default)]
    pub asset: Option<String>,
    /// Where the event time comes from (`timestamp = { field, unit, ... }`).
    #[serde(default)]
    pub timestamp: RawTimestamp,
    /// Rows per second to replay at; 0 = as fast as the pipeline takes them.
    #[serde(default)]
    pub rows_per_sec: f64,
}

/// `[[assets]]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAsset {
    /// Asset id, unique; letters, digits, `.`, `_`, `-`. Part of every record of the asset.
    pub id: String,
    /// Production line, in the asset's records (`meta.line`).
    #[serde(default)]
    pub line: Option<String>,
    /// Kind of machine, in the asset's records (`meta.type`).
    #[serde(default, rename = "type")]
    pub asset_type: Option<String>,
    /// Free-form `key = "value"` tags, in the asset's records (`meta.tags`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Default telemetry bucket for this asset's signals; 0 = no telemetry.
    #[serde(default = "default_interval")]
    pub interval_secs: f64,
    /// The asset's signals (at least one): `signals = [{ name = "temp", unit = "degC" }]`.
    #[serde(default)]
    pub signals: Vec<RawSignal>,
}

fn default_interval() -> f64 {
    60.0
}

/// `[[assets.signals]]`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSignal {
    /// Signal name, unique within the asset; letters, digits, `.`, `_`, `-` (not `ts` or
    /// `asset`).
    pub name: String,
    /// Unit, in the signal's telemetry records.
    #[serde(default)]
    pub unit: Option<String>,
    /// Telemetry bucket for this signal (overrides the asset's); 0 = no telemetry.
    #[serde(default)]
    pub interval_secs: Option<f64>,
    /// Instead of buckets: keep a sample when it leaves this band around the last kept one.
    #[serde(default)]
    pub deadband: Option<f64>,
    /// Instead of buckets: the same with a band in percent of the last kept value.
    #[serde(default)]
    pub deadband_percent: Option<f64>,
    /// Instead of buckets: swinging-door trending with this compression deviation.
    #[serde(default)]
    pub swinging_door: Option<f64>,
    /// With a deadband or swinging door: keep a point at least this often.
    #[serde(default)]
    pub max_silence_secs: Option<f64>,
}

/// `[[rules]]`: a threshold alert on a raw signal.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Rule name, unique among the rules; part of its alerts' ids.
    pub name: String,
    /// Asset id, or `*` for every asset that has the signal.
    pub asset: String,
    /// The asset signal the rule watches.
    pub signal: String,
    /// Raise when the value stays above this.
    #[serde(default)]
    pub above: Option<f64>,
    /// Raise when the value stays below this.
    #[serde(default)]
    pub below: Option<f64>,
    /// Clear when the value crosses back past this (hysteresis); defaults to the limit.
    #[serde(default)]
    pub clear: Option<f64>,
    /// How long (event time) the condition must hold before the alert is raised.
    #[serde(default)]
    pub for_secs: f64,
    /// `info`, `warning` (default) or `critical`.
    #[serde(default)]
    #[schemars(extend("enum" = ["info", "warning", "critical"], "default" = "warning"))]
    pub severity: Option<String>,
}

/// `[[models]]`: a model package run on some assets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawModelBinding {
    /// The package directory (relative paths are relative to the provisioning file).
    pub package: String,
    /// Asset ids the model runs for (one set of windows and alerts per asset).
    pub assets: Vec<String>,
    /// Model signal → asset signal, where the names differ.
    #[serde(default)]
    pub signals: BTreeMap<String, String>,
    /// How long the isolated check of a new package may take, in seconds (default 60, at
    /// most 3600); a check that takes longer is killed and the package refused.
    #[schemars(extend("default" = super::DEFAULT_CHECK_TIMEOUT.as_secs()))]
    pub check_timeout_secs: Option<f64>,
}

/// `[[detectors]]`: a detector that learns what normal looks like on some assets, from their
/// own data, and scores what comes after.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDetector {
    /// Detector name; part of its alerts' ids.
    pub name: String,
    /// `pca` (default): principal components of correlated signals, T² and Q.
    #[serde(default)]
    #[schemars(extend("enum" = ["pca", "knn"], "default" = "pca"))]
    pub method: Option<String>,
    /// Asset ids; one learned baseline and one alert state per asset.
    pub assets: Vec<String>,
    /// The asset signals the detector watches (every asset must have them).
    pub signals: Vec<String>,
    /// One vector per grid step: each signal's mean over the step (or give `features`).
    #[serde(default)]
    pub grid_secs: Option<f64>,
    /// Instead of a grid: features of each signal (`rms`, `kurtosis`, `band_energy[lo,hi]`,
    /// ... as in model manifests, without the signal), one vector per `window`.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// With `features`: the sample-count window they are computed over
    /// (`window = { samples = N, hop = H, sample_rate_hz = F }`).
    #[serde(default)]
    pub window: Option<RawDetectorWindow>,
    /// Values per signal and step, resampled by sample and hold (default: one per step).
    #[serde(default)]
    pub samples_per_step: Option<usize>,
    /// The learning phase: `learn = { steps = N }`, `{ secs = T }` or
    /// `{ from = "RFC 3339", until = "RFC 3339" }`.
    pub learn: RawLearn,
    /// PCA: how many past steps each vector includes besides the current one (default 2).
    #[serde(default)]
    pub lags: Option<usize>,
    /// PCA: the share of the variance the kept components explain (default 0.95).
    #[serde(default)]
    pub cumulative_variance: Option<f64>,
    /// PCA: `adapt = { half_life_steps = N }` follows a drifting operating point (off by
    /// default; a fault slower than the half-life is learned, not raised).
    #[serde(default)]
    pub adapt: Option<RawAdapt>,
    /// The alert on the anomaly index (1.0 = the learned 99th percentile).
    #[serde(default)]
    pub alert: RawDetectorAlert,
}

/// `adapt = { half_life_steps = N }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAdapt {
    /// The centre's half-life, in steps.
    pub half_life_steps: u64,
}

/// `window = { samples = N, hop = H, sample_rate_hz = F }` (hop defaults to `samples`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDetectorWindow {
    /// Samples per window, 2 to 65536.
    pub samples: usize,
    /// Samples from one window to the next (default `samples`: no overlap).
    #[serde(default)]
    pub hop: Option<usize>,
    /// The signals' sample rate in Hz: the window's duration, and the frequency bands.
    pub sample_rate_hz: f64,
}

/// `learn = { steps = N }` or `learn = { secs = T }`: the first N grid steps (or T seconds of
/// event time) of each asset; or `learn = { from = "RFC 3339", until = "RFC 3339" }`: the steps
/// within that span of event time.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLearn {
    /// Learn the first N steps of each asset.
    #[serde(default)]
    pub steps: Option<u64>,
    /// Learn the first T seconds of event time of each asset (as steps of the grid).
    #[serde(default)]
    pub secs: Option<f64>,
    /// With `until`: learn the steps from this event time (RFC 3339, e.g.
    /// `2026-03-01T00:00:00Z`; a string, not a TOML date-time).
    #[serde(default)]
    pub from: Option<String>,
    /// With `from`: the end of the span (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
}

/// `alert = { ... }` of a detector.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDetectorAlert {
    /// The alert's name (default `<detector name>-anomaly`).
    #[serde(default)]
    pub name: Option<String>,
    /// `info`, `warning` (default) or `critical`.
    #[serde(default)]
    #[schemars(extend("enum" = ["info", "warning", "critical"], "default" = "warning"))]
    pub severity: Option<String>,
    /// Raise when the index is at or above this (default 1.2).
    #[serde(default)]
    pub on: Option<f64>,
    /// Clear when the index falls below this (default 1.0).
    #[serde(default)]
    pub off: Option<f64>,
    /// Raise when `k` of the last `n` steps are at or above `on` (default 3 of 5).
    #[serde(default)]
    pub k: Option<usize>,
    /// See `k`; at most 1000.
    #[serde(default)]
    pub n: Option<usize>,
}
