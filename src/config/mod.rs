//! The provisioning file: raw TOML → validated [`Config`], with every problem reported at once.
//!
//! Two stages (as in ripgrep's low-level → high-level args): [`raw`] holds serde structs that
//! only check types and reject unknown keys; [`validate`] checks meaning (names exist, limits
//! make sense) and builds the types the rest of the agent uses. Each top-level table and each
//! array element is deserialized on its own, so one bad section does not hide problems in the
//! next; every [`Problem`] names its field path and, where the file has it, line and column.

mod load;
pub mod raw;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::Encoding;
use crate::record::{AssetMeta, Severity};

pub use load::{load_file, parse_str, ConfigErrors, Problem};

/// A validated provisioning file.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: GatewayConfig,
    pub kafka: KafkaConfig,
    pub outbox: OutboxConfig,
    pub sources: Vec<SourceConfig>,
    pub assets: Vec<AssetConfig>,
    pub rules: Vec<RuleConfig>,
    pub models: Vec<ModelConfig>,
}

/// A model package bound to assets. The package was read and its manifest checked when the
/// file was validated; loading it into the runtime (and its golden check) happens at start.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub package: PathBuf,
    pub name: String,
    /// Per asset: the asset signal feeding each model signal, in the manifest's order.
    pub bindings: Vec<(Arc<str>, Vec<Arc<str>>)>,
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub id: String,
    pub site: String,
    pub data_dir: PathBuf,
    pub heartbeat: Duration,
}

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    pub alerts_topic: String,
    pub telemetry_topic: String,
    pub status_topic: String,
    pub encoding: Encoding,
    pub compression: String,
    pub create_topics: bool,
    pub topic_partitions: i32,
    pub topic_replication: i32,
    pub max_in_flight: usize,
    /// librdkafka properties passed through, `${NAME}` already expanded.
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync on every commit: nothing acknowledged by the outbox is lost on power failure.
    Full,
    /// fsync every interval: a power failure loses at most that interval of commits.
    Batched(Duration),
}

#[derive(Debug, Clone)]
pub struct OutboxConfig {
    pub budget_bytes: u64,
    pub durability: Durability,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Auto,
    Seconds,
    Millis,
    Micros,
    Nanos,
    Rfc3339,
}

/// Where a source takes event time from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampConfig {
    pub field: Option<String>,
    pub unit: TimeUnit,
    /// Which event times the source lets in ([`crate::ingest::time_guard`]).
    pub policy: crate::ingest::time_guard::TimePolicy,
}

#[derive(Debug, Clone)]
pub enum SourceConfig {
    Mqtt(MqttConfig),
    Serial(SerialConfig),
    Replay(ReplayConfig),
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Mqtt(c) => &c.name,
            SourceConfig::Serial(c) => &c.name,
            SourceConfig::Replay(c) => &c.name,
        }
    }
}

/// One level of an MQTT topic pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicLevel {
    Literal(String),
    Asset,
    Signal,
    Any,
}

#[derive(Debug, Clone)]
pub struct MqttConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub topics: Vec<String>,
    pub pattern: Vec<TopicLevel>,
    pub timestamp: TimestampConfig,
    pub keep_alive: Duration,
    pub credentials: Option<(String, String)>,
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    pub max_payload_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    None,
    Odd,
    Even,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    Csv,
    Json,
    KeyValue,
}

#[derive(Debug, Clone)]
pub struct SerialConfig {
    pub name: String,
    pub device: String,
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
    pub asset: String,
    pub format: LineFormat,
    pub fields: Vec<String>,
    pub timestamp: TimestampConfig,
    pub max_frame_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub name: String,
    pub path: PathBuf,
    pub asset: Option<String>,
    pub timestamp: TimestampConfig,
    pub rows_per_sec: f64,
}

#[derive(Debug, Clone)]
pub struct SignalConfig {
    pub name: Arc<str>,
    pub unit: Option<String>,
    /// Telemetry bucket width; `None` = no buckets for this signal.
    pub interval: Option<Duration>,
    /// Deadband or swinging-door downsampling instead of buckets.
    pub compression: Option<Compression>,
}

/// Per-signal compression (instead of interval buckets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compression {
    pub method: CompressionMethod,
    pub max_silence_secs: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CompressionMethod {
    Deadband(crate::downsample::Band),
    SwingingDoor(f64),
}

#[derive(Debug, Clone)]
pub struct AssetConfig {
    pub id: Arc<str>,
    pub meta: AssetMeta,
    pub signals: Vec<SignalConfig>,
}

impl AssetConfig {
    pub fn signal(&self, name: &str) -> Option<&SignalConfig> {
        self.signals.iter().find(|s| &*s.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    Above(f64),
    Below(f64),
}

#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub name: String,
    /// `None` = every asset that has the signal.
    pub asset: Option<String>,
    pub signal: String,
    pub condition: Condition,
    pub clear: f64,
    pub hold: Duration,
    pub severity: Severity,
}

#[cfg(test)]
mod tests;
