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

mod alert;
mod baseline;
mod schema;
mod status;
pub use alert::{
    Alert, AlertEvent, Contribution, DetectorAlertInfo, Driver, ModelAlertInfo, Severity,
};
pub use baseline::{
    key as baseline_key, BaselineFeatures, BaselineLimits, BaselineRecord, BaselineTrigger,
    KnnSummary, PcaSummary, SignalStats, BASELINE_SCHEMA,
};
pub use schema::json_schemas;
pub use status::{
    ClassStatus, DetectorStatus, FeatureSummary, ModelStatus, Reject, ReloadStatus, SourceStatus,
    Status,
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// The outbox classes, in forwarding priority order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
