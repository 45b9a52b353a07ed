//! The shapes that travel through the pipeline: [`Sample`] in, [`Record`] out.
//!
//! A `Sample` is one value of one signal of one asset at one event time; ingest produces them,
//! the processing stage consumes them. A [`Record`] is what leaves the gateway: a downsampled
//! [`Telemetry`] bucket, an [`Alert`] lifecycle event, a [`Status`] heartbeat or a learned
//! [`BaselineRecord`]. Records are what
//! the outbox stores and the forwarder sends.
//!
//! ## Wire schemas (versioned)
//! Every record carries a `schema` field (`forewarn.telemetry.v1`, `forewarn.alert.v1`,
//! `forewarn.status.v1`, `forewarn.baseline.v1`) and the same string travels in the Kafka header `forewarn-schema`. The
//! field names below are the contract; a breaking change bumps the version suffix. JSON and CBOR
//! encodings carry the same fields (CBOR: a map with the same text keys). Times are integers in
//! nanoseconds since the Unix epoch (`*_ns`), durations in seconds (`*_secs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod baseline;
pub use baseline::{
    key as baseline_key, BaselineFeatures, BaselineLimits, BaselineRecord, BaselineTrigger,
    KnnSummary, PcaSummary, SignalStats, BASELINE_SCHEMA,
};

/// One measured value. Asset and signal names are shared with the validated config (cheap clone).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub asset: Arc<str>,
    pub signal: Arc<str>,
    /// Event time, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    pub value: f64,
}

/// Asset metadata from the provisioning file, attached to every alert and telemetry record so a
/// central consumer needs no lookup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub asset_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

pub const TELEMETRY_SCHEMA: &str = "forewarn.telemetry.v1";
pub const ALERT_SCHEMA: &str = "forewarn.alert.v1";
pub const STATUS_SCHEMA: &str = "forewarn.status.v1";

/// One closed downsampling bucket of one signal: `[start_ns, end_ns)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    pub schema: String,
    pub gateway: String,
    pub site: String,
    pub asset: String,
    pub signal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub last: f64,
    pub meta: AssetMeta,
    /// How the signal is downsampled when not by interval buckets: `deadband` or
    /// `swinging_door`; such a record is one kept sample (`count` 1, `start_ns` = `end_ns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertEvent {
    Raised,
    /// A model alert that is up got worse (see `model::rule`).
    Updated,
    Cleared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// An alert lifecycle event. `id` is the same for the `raised` and `cleared` events of one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub schema: String,
    pub id: String,
    pub event: AlertEvent,
    pub gateway: String,
    pub site: String,
    pub asset: String,
    /// Name of the rule (or, later, model) that produced it.
    pub rule: String,
    pub severity: Severity,
    pub signal: String,
    /// The value that triggered the event.
    pub value: f64,
    /// The limit it was compared with (`on` limit when raised, `clear` limit when cleared).
    pub limit: f64,
    /// Event time of the triggering sample.
    pub ts_ns: i64,
    /// Event time at which the condition started to hold.
    pub since_ns: i64,
    pub meta: AssetMeta,
    /// Model alerts only: which model, the window it judged, and the features that drove it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelAlertInfo>,
    /// Detector alerts only: which detector and baseline, the step it judged, and the
    /// signals that made the anomaly index high.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<DetectorAlertInfo>,
}

/// The detector side of an alert raised by a detector. The alert's `value` is the anomaly
/// index (1.0 = the learned 99th percentile), `limit` the rule's `on` or `off`, `signal`
/// `anomaly_index`, `ts_ns` the end of the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorAlertInfo {
    pub name: String,
    /// When the baseline was learned (event time of its last learning step); names the
    /// baseline the alert was judged against.
    pub baseline_ns: i64,
    pub step_start_ns: i64,
    pub step_end_ns: i64,
    /// Signals with the largest share of the index, largest first.
    pub contributions: Vec<Contribution>,
    /// Set on a `cleared` event that no step caused: the baseline it was judged against was
    /// `reset` or replaced by an `import` (then `value` is the last reported index and
    /// `contributions` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_by: Option<String>,
}

/// One signal's part in a detector alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub signal: String,
    /// The signal's value in the judged step (its mean over the step).
    pub value: f64,
    /// `(value − learned mean) / learned standard deviation`.
    pub z: f64,
    /// Its share of the index's contributions, 0 to 1 (all signals sum to 1).
    pub share: f64,
}

/// The model side of an alert raised by a model rule. The alert's `value` is the score,
/// `limit` the threshold, `signal` the output (class label or output name), `ts_ns` the end of
/// the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelAlertInfo {
    pub name: String,
    pub version: String,
    pub window_start_ns: i64,
    pub window_end_ns: i64,
    /// The features furthest from their training distribution, most unusual first.
    pub drivers: Vec<Driver>,
}

/// One feature's value and how unusual it is: `z = (value − training mean) / training std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    pub feature: String,
    pub value: f64,
    pub z: f64,
}

/// An hourly summary of one model input feature (or output) in status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSummary {
    pub name: String,
    pub count: u64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// Counts per z-score bin (edges -3, -2, -1, -0.5, 0, 0.5, 1, 2, 3 against the training
    /// statistics).
    pub hist: Vec<u64>,
}

/// One detector in status (all the assets it runs for).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectorStatus {
    pub assets: usize,
    /// Assets still learning, learned (scoring), and whose learning failed (`last_error`).
    pub learning: usize,
    pub learned: usize,
    #[serde(default)]
    pub failed: usize,
    /// Assets learning a new baseline on command while the old one scores.
    #[serde(default)]
    pub relearning: usize,
    /// The highest baseline generation in use (0: none learned yet).
    #[serde(default)]
    pub generation: u64,
    /// Steps a learning phase takes, and the most any asset still learning has.
    pub learn_steps: usize,
    pub learning_steps: usize,
    /// Steps learned from or scored, and steps not used (a signal's mean not finite).
    pub steps: u64,
    #[serde(default)]
    pub skipped_steps: u64,
    /// Samples and steps the step windows dropped, by reason (as `models.<name>.window_drops`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub window_drops: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One model in status (all the assets it runs for).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelStatus {
    pub version: String,
    pub assets: usize,
    pub windows: u64,
    /// Samples dropped by the windows, by reason (`late`, `out_of_order`, `overflow`, `outlier`:
    /// a time jump that nothing confirmed), and windows not scored, by reason (`gap`: no data;
    /// `skipped_burst`: more than 64 windows due at one sample; `skipped_jump`: open windows
    /// of a time base the stream jumped back from).
    pub window_drops: BTreeMap<String, u64>,
    pub inferences: u64,
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_us: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_us: Option<f64>,
    /// Mean |z| of this hour's feature means against the training statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_score: Option<f64>,
    /// Start (event time) of the hour `features` summarises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour_start_ns: Option<i64>,
    pub features: Vec<FeatureSummary>,
    /// The completed hour before (empty until one completed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features_previous_hour: Vec<FeatureSummary>,
    pub outputs: Vec<FeatureSummary>,
    /// Why the last load or reload of this model's package was refused (the previous
    /// version runs, if one was loaded before: see `running`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_error: Option<String>,
    /// Whether a version of this package runs (false: every load since start was refused).
    #[serde(default)]
    pub running: bool,
    /// The last load or reload of this package, good or bad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reload: Option<ReloadStatus>,
}

/// The last load or reload of one model package.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReloadStatus {
    /// When it finished (gateway clock, ns since the epoch).
    pub at_ns: i64,
    /// What asked for it: `start`, `SIGHUP`, `package changed` or `retry`.
    pub trigger: String,
    /// `loaded` (a new version runs), `unchanged` (same version and checksum as the running
    /// one) or `refused` (see `reload_error`).
    pub outcome: String,
    /// The version the package on disk declares, when its manifest could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Loads and reloads of this package since start, and how many were refused.
    pub attempts: u64,
    pub refusals: u64,
}

/// Per-source ingest counters as reported in status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub connected: bool,
    /// Messages (MQTT) or frames (serial, replay lines) received.
    pub received: u64,
    /// Samples accepted into the pipeline.
    pub samples: u64,
    /// Rejected messages/frames/values by reason.
    pub rejected: BTreeMap<String, u64>,
    pub reconnects: u64,
}

/// One outbox class in status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassStatus {
    pub depth: u64,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_age_secs: Option<f64>,
    pub evicted: u64,
}

/// The gateway's heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub schema: String,
    pub gateway: String,
    pub site: String,
    pub version: String,
    pub ts_ns: i64,
    pub uptime_secs: f64,
    pub sources: BTreeMap<String, SourceStatus>,
    /// Keys: `alert`, `status`, `telemetry`.
    pub outbox: BTreeMap<String, ClassStatus>,
    pub outbox_budget_bytes: u64,
    /// Records lost because the outbox could not store them (disk failure). Should stay 0.
    #[serde(default)]
    pub outbox_write_lost: u64,
    /// Samples dropped inside the pipeline (late for their bucket, overload), by reason.
    pub pipeline_drops: BTreeMap<String, u64>,
    pub delivered: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery_ns: Option<i64>,
    pub delivery_errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery_error: Option<String>,
    /// Outbox entries set aside as undecodable (see `forewarn outbox dump --class quarantine`).
    #[serde(default)]
    pub outbox_quarantined: u64,
    /// Records Kafka will never take (too large, invalid), held as dead letters (see
    /// `forewarn outbox dump --class dead`, `forewarn outbox resend-dead`). Left out while 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub outbox_dead_letters: u64,
    /// Opens that found the latest outbox transaction damaged and used the previous snapshot.
    #[serde(default)]
    pub outbox_recovered: u64,
    /// Times a damaged outbox was set aside for a fresh one.
    #[serde(default)]
    pub outbox_set_aside: u64,
    /// What opening the outbox had to do at this start, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_recovery: Option<String>,
    /// Classes (`alert`, `status`, `telemetry`) whose Kafka topic refuses the agent now (an
    /// authorization failure, a topic that does not exist): they wait, the others flow, and
    /// the budget evicts their oldest records first. Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox_refused: Vec<String>,
    /// Net growth of the outbox (appended minus acknowledged), smoothed over heartbeats.
    #[serde(default)]
    pub outbox_fill_bytes_per_sec: f64,
    /// At the current growth, seconds until the budget is full and eviction starts
    /// (0: evicting now; absent: not growing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_full_in_secs: Option<f64>,
    /// Per model name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, ModelStatus>,
    /// Per detector name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub detectors: BTreeMap<String, DetectorStatus>,
    /// False while the gateway clock is before this release's date (obviously wrong): live
    /// sources then check event times per asset stream instead of against the clock.
    #[serde(default = "yes")]
    pub clock_ok: bool,
    /// Event-time states (buckets, threshold rules, downsamplers) that restarted because their
    /// signal's time went back (5 late samples in a row), since start.
    #[serde(default)]
    pub time_rebases: u64,
    /// Stages that had work and made no progress at the last check (`processing`, `models`,
    /// `outbox_writer`, `forwarder`); while any is listed, the systemd watchdog is not pinged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stalled: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The outbox classes, in forwarding priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Alert,
    Status,
    Telemetry,
}

impl Class {
    /// Forwarding priority: alerts first, then status, then telemetry.
    pub const ALL: [Class; 3] = [Class::Alert, Class::Status, Class::Telemetry];

    pub fn name(self) -> &'static str {
        match self {
            Class::Alert => "alert",
            Class::Status => "status",
            Class::Telemetry => "telemetry",
        }
    }
}

/// What leaves the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    Telemetry(Telemetry),
    Alert(Alert),
    Status(Status),
    /// A learned baseline (sent with the status class: its topic, its place in forwarding and
    /// eviction order).
    Baseline(Box<BaselineRecord>),
}

impl Record {
    pub fn class(&self) -> Class {
        match self {
            Record::Telemetry(_) => Class::Telemetry,
            Record::Alert(_) => Class::Alert,
            Record::Status(_) | Record::Baseline(_) => Class::Status,
        }
    }

    pub fn schema(&self) -> &str {
        match self {
            Record::Telemetry(t) => &t.schema,
            Record::Alert(a) => &a.schema,
            Record::Status(s) => &s.schema,
            Record::Baseline(b) => &b.schema,
        }
    }

    /// The Kafka key: `gateway/asset` (status: `gateway`), so that every record of one asset
    /// lands on one partition, in order.
    pub fn kafka_key(&self) -> String {
        match self {
            Record::Telemetry(t) => format!("{}/{}", t.gateway, t.asset),
            Record::Alert(a) => format!("{}/{}", a.gateway, a.asset),
            Record::Status(s) => s.gateway.clone(),
            Record::Baseline(b) => format!("{}/{}", b.gateway, b.asset),
        }
    }

    /// Event time of the record, used for "oldest record age".
    pub fn ts_ns(&self) -> i64 {
        match self {
            Record::Telemetry(t) => t.end_ns,
            Record::Alert(a) => a.ts_ns,
            Record::Status(s) => s.ts_ns,
            Record::Baseline(b) => b.learned_to_ns,
        }
    }
}

/// 2026-12-01T00:00:00Z: a gateway clock before this date is wrong (it is before this release
/// was built; a gateway that booted with a 1970 clock and has no NTP yet). Moved forward with
/// releases.
pub const CLOCK_FLOOR_NS: i64 = 1_796_083_200_000_000_000;

/// True when the gateway clock can judge event times (not before [`CLOCK_FLOOR_NS`]).
pub fn clock_ok(now_ns: i64) -> bool {
    now_ns >= CLOCK_FLOOR_NS
}

/// Nanoseconds since the Unix epoch, now (wall clock).
pub fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Why a message, frame or value was rejected. The names are part of the status schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Not parseable in the expected format at all.
    Malformed,
    /// Not valid UTF-8 where text was expected.
    BadUtf8,
    /// Larger than the configured maximum.
    Oversize,
    /// A value that is not a number (string, null, object).
    NotNumeric,
    /// NaN or infinite.
    NonFinite,
    /// The topic does not match the configured pattern.
    UnknownTopic,
    /// The asset is not in the provisioning file.
    UnknownAsset,
    /// The asset has no such signal.
    UnknownSignal,
    /// A timestamp that cannot be read or is out of range.
    BadTimestamp,
    /// The pipeline was full and the source could not wait (MQTT); the samples were dropped.
    Overload,
    /// Event time more than `max_future_secs` ahead of the gateway clock (live sources).
    TsFuture,
    /// Event time more than `max_past_secs` behind the gateway clock (live sources).
    TsPast,
    /// Event time more than `max_jump_secs` away from its asset's stream, not (yet) confirmed
    /// by the samples after it (replay sources, or a live source under a wrong clock).
    TsJump,
}

impl Reject {
    pub const ALL: [Reject; 13] = [
        Reject::Malformed,
        Reject::BadUtf8,
        Reject::Oversize,
        Reject::NotNumeric,
        Reject::NonFinite,
        Reject::UnknownTopic,
        Reject::UnknownAsset,
        Reject::UnknownSignal,
        Reject::BadTimestamp,
        Reject::Overload,
        Reject::TsFuture,
        Reject::TsPast,
        Reject::TsJump,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::BadUtf8 => "bad_utf8",
            Reject::Oversize => "oversize",
            Reject::NotNumeric => "not_numeric",
            Reject::NonFinite => "non_finite",
            Reject::UnknownTopic => "unknown_topic",
            Reject::UnknownAsset => "unknown_asset",
            Reject::UnknownSignal => "unknown_signal",
            Reject::BadTimestamp => "bad_timestamp",
            Reject::Overload => "overload",
            Reject::TsFuture => "ts_future",
            Reject::TsPast => "ts_past",
            Reject::TsJump => "ts_jump",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
