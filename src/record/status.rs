//! The status heartbeat (`forewarn.status.v1`) and the reject reasons it counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One detector in status (all the assets it runs for).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelStatus {
    pub version: String,
    /// The sha256 of the ONNX file that runs (the package's checksum, checked at load), so
    /// the center can tell two builds of one version apart. Absent from agents before it was
    /// added, and while no version runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SourceStatus {
    pub connected: bool,
    /// Messages (MQTT) or frames (serial, replay lines) received.
    pub received: u64,
    /// Samples accepted into the pipeline.
    pub samples: u64,
    /// Rejected messages/frames/values by reason.
    pub rejected: BTreeMap<String, u64>,
    pub reconnects: u64,
    /// Failed connection attempts by reason (`unreachable`, `tls_untrusted`, `tls_expired`,
    /// `tls_hostname`, `tls_handshake`, `not_authorized`, `timeout`, `other`). Left out while
    /// none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connect_failures: BTreeMap<String, u64>,
    /// The last failed attempt's error, as the client reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_connect_error: Option<String>,
}

/// One outbox class in status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClassStatus {
    pub depth: u64,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_age_secs: Option<f64>,
    pub evicted: u64,
}

/// The gateway's heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The Kafka clients' errors by cause (`authentication`, `tls`, `transport`,
    /// `authorization`), since start. Left out while none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kafka_client_errors: BTreeMap<String, u64>,
    /// The last such error, as librdkafka worded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_kafka_client_error: Option<String>,
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
    /// Seconds between heartbeats (`gateway.heartbeat_secs`): a reader that has seen none for
    /// a few of these can call the gateway late or offline. Absent from agents before it was
    /// added.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub heartbeat_secs: u64,
    /// The provisioning file's revision: the first 16 hex digits of the SHA-256 of its text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config_revision: String,
    /// Set on the last heartbeat of an agent that is stopping (SIGTERM, SIGINT, the end of a
    /// replay): no more will come until it starts again. Left out otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopping: bool,
}

fn yes() -> bool {
    true
}

/// An hourly summary of one model input feature (or output) in status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
