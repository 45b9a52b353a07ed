//! The provisioning file: raw TOML → validated [`Config`], with every problem reported at once.
//!
//! Two stages (as in ripgrep's low-level → high-level args): [`raw`] holds serde structs that
//! only check types and reject unknown keys; [`validate`] checks meaning (names exist, limits
//! make sense) and builds the types the rest of the agent uses. Each top-level table and each
//! array element is deserialized on its own, so one bad section does not hide problems in the
//! next; every [`Problem`] names its field path and, where the file has it, line and column.

mod load;
pub mod raw;
mod schema;
pub mod secret;
mod settings;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::Encoding;
use crate::record::{AssetMeta, Severity};

pub use load::{
    load_file, load_file_offline, load_file_with, parse_str, parse_str_with, ConfigErrors, Problem,
};
pub use schema::{json_schema, PROVISIONING_SCHEMA};
pub use secret::Secret;
pub use settings::{
    Band, TimePolicy, DEFAULT_CHECK_TIMEOUT, KNN_LAGS, KNN_MAX_WINDOW, KNN_MIN_REFERENCE,
    MAX_CHECK_TIMEOUT, MAX_DETECTOR_INPUTS, MAX_FEATURE_WINDOW, MAX_LEARN_VALUES,
};

/// A validated provisioning file.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: GatewayConfig,
    pub kafka: KafkaConfig,
    pub outbox: OutboxConfig,
    /// The local `/metrics` and `/health` endpoint, when configured.
    pub metrics: Option<MetricsConfig>,
    pub sources: Vec<SourceConfig>,
    pub assets: Vec<AssetConfig>,
    pub rules: Vec<RuleConfig>,
    pub models: Vec<ModelConfig>,
    pub detectors: Vec<DetectorConfig>,
    /// Problems of the model packages themselves (unreadable, a bad manifest, a model signal
    /// an asset lacks). `check-config` reports them as errors; `run` starts without those
    /// packages, which the model stage refuses with the reason in the status and tries again
    /// at the next reload.
    pub package_problems: Vec<Problem>,
}

/// What validation reads of a model package (its manifest's model name and signals), and the
/// check of a detector's feature names. The model layer implements it (`model::package::ManifestReader`, the manifest only: no ONNX
/// file read or hashed), so that `config` imports no stage. Without a reader
/// ([`parse_str`], [`load_file`]) packages are not read: a model is named after its
/// package's directory and bound when the model stage reads the package.
pub trait PackageReader {
    fn manifest(&self, dir: &std::path::Path) -> Result<PackageInfo, PackageReadError>;

    /// A detector's feature kinds, checked for signal `signal` over windows of `samples` at
    /// `sample_rate_hz` (names parse, bands hold a bin): their canonical forms, or why not.
    /// Without a reader the kinds are checked when the detector starts.
    fn features(
        &self,
        signal: &str,
        kinds: &[String],
        samples: usize,
        sample_rate_hz: f64,
    ) -> Result<Vec<String>, String>;
}

/// The part of a manifest validation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    pub name: String,
    pub signals: Vec<String>,
}

/// Why a package's manifest could not be read (the reader's own error, kept whole).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PackageReadError(pub Box<dyn std::error::Error + Send + Sync>);

/// Per asset, the asset signal feeding each model signal, in the model's signal order.
pub type Bound = Vec<(Arc<str>, Vec<Arc<str>>)>;

/// A model package bound to assets. Loading it (isolated check, tract, golden vectors)
/// happens in the model stage, at start and at every reload, where it is bound again by
/// signal name ([`ModelConfig::bind`]), so a package that reorders its signals is wired the
/// same way.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub package: PathBuf,
    /// The manifest's model name (the package directory's name if it was not read).
    pub name: String,
    /// Per asset: the asset signal feeding each model signal, in the order of the manifest
    /// read when the file was validated (empty if it was not read).
    pub bindings: Vec<(Arc<str>, Vec<Arc<str>>)>,
    /// The bound assets, each with every signal it declares.
    pub assets: Vec<(Arc<str>, Vec<Arc<str>>)>,
    /// Model signal → asset signal, where the names differ (`signals` of the binding).
    pub renames: BTreeMap<String, String>,
    /// How long the isolated check of a package may take (`check_timeout_secs`, default 60).
    pub check_timeout: Duration,
}

/// A detector (`[[detectors]]`), validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    pub name: String,
    pub method: DetectorMethod,
    /// The bound assets, with their metadata.
    pub assets: Vec<(Arc<str>, crate::record::AssetMeta)>,
    /// The asset signals read.
    pub signals: Vec<Arc<str>>,
    /// The names of a step's values, in order: the signals, or with `features` each signal's
    /// features (`vib.rms`, ...). Contributions and baseline statistics use these names.
    pub inputs: Vec<Arc<str>>,
    /// Time between steps: the grid (or with `features`, the window's hop).
    pub grid_secs: f64,
    /// Values per signal and step (with `features`: the window's length).
    pub samples_per_step: usize,
    /// A step is a sample-count window's feature vector instead of each signal's mean.
    pub features: Option<DetectorFeatures>,
    /// Steps of each asset's learning phase (with `learn_span`: the span's length in steps).
    pub learn_steps: usize,
    /// Learn the steps within this span of event time (ns, start inclusive, end inclusive of
    /// the step that ends there) instead of the first `learn_steps`.
    pub learn_span: Option<(i64, i64)>,
    /// PCA: follow a drifting operating point, the centre moving with this half-life in steps
    /// (`adapt = { half_life_steps = N }`; off by default, see `detect::baseline::Scorer`).
    pub adapt_half_life_steps: Option<usize>,
    pub alert: DetectorAlert,
}

/// A detector over feature vectors of dense signals (vibration): every `hop` samples, the
/// features of each signal over its last `samples` samples.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorFeatures {
    /// Feature kinds applied to every signal (`rms`, `band_energy[0,500]`, ...), canonical
    /// when a reader checked them.
    pub kinds: Vec<String>,
    pub samples: usize,
    pub hop: usize,
    pub sample_rate_hz: f64,
}

/// How a detector learns and scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DetectorMethod {
    Pca {
        lags: usize,
        cumulative_variance: f64,
    },
    /// Per signal, the streaming nearest-neighbour novelty score (`detect::knn`); it adapts.
    Knn,
}

impl DetectorMethod {
    /// Inputs of one scored vector for `signals` signals.
    pub fn inputs(&self, signals: usize) -> usize {
        match self {
            DetectorMethod::Pca { lags, .. } => signals * (lags + 1),
            DetectorMethod::Knn => signals,
        }
    }
}

/// The alert rule on a detector's anomaly index.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorAlert {
    pub name: String,
    pub severity: crate::record::Severity,
    pub on: f64,
    pub off: f64,
    pub k: usize,
    pub n: usize,
}

/// Why a package's signals cannot be bound to an asset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("the binding maps model signal `{0}`, which the package does not have")]
    UnknownModelSignal(String),
    #[error("asset `{asset}` has no signal `{signal}` for model signal `{model_signal}` (declare it, or map it in the binding's signals)")]
    NoAssetSignal {
        asset: String,
        signal: String,
        model_signal: String,
    },
}

/// Every reason a package's signals cannot be bound (shown joined by `; `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindErrors(pub Vec<BindError>);

impl std::fmt::Display for BindErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BindErrors {}

impl ModelConfig {
    /// Binds `model_signals` (a manifest's `input.signals`, in its order) by name: per asset,
    /// the asset signal feeding each model signal, in that order.
    pub fn bind(&self, model_signals: &[String]) -> Result<Bound, BindErrors> {
        let mut errors: Vec<BindError> = self
            .renames
            .keys()
            .filter(|k| !model_signals.contains(k))
            .map(|k| BindError::UnknownModelSignal(k.clone()))
            .collect();
        let mut out = Vec::with_capacity(self.assets.len());
        for (asset, signals) in &self.assets {
            let mut sigs = Vec::with_capacity(model_signals.len());
            for ms in model_signals {
                let name = self.renames.get(ms).unwrap_or(ms);
                match signals.iter().find(|s| &***s == name.as_str()) {
                    Some(s) => sigs.push(s.clone()),
                    None => errors.push(BindError::NoAssetSignal {
                        asset: asset.to_string(),
                        signal: name.clone(),
                        model_signal: ms.clone(),
                    }),
                }
            }
            out.push((asset.clone(), sigs));
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(BindErrors(errors))
        }
    }
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub id: String,
    pub site: String,
    pub data_dir: PathBuf,
    pub heartbeat: Duration,
    /// The provisioning file's revision: the first 16 hex digits of the SHA-256 of its text,
    /// so the center sees which file each gateway runs (status `config_revision`).
    pub revision: String,
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
    pub properties: KafkaProperties,
}

/// The librdkafka properties of `[kafka.properties]`, `${...}` resolved. `Debug` shows the
/// values of secret properties ([`secret::is_secret_property`]) as `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties(BTreeMap<String, String>);

impl KafkaProperties {
    pub fn new(properties: BTreeMap<String, String>) -> KafkaProperties {
        KafkaProperties(properties)
    }
}

impl std::ops::Deref for KafkaProperties {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KafkaProperties {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<'a> IntoIterator for &'a KafkaProperties {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl std::fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if secret::is_secret_property(k) {
                    secret::REDACTED
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
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
    pub policy: TimePolicy,
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

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub listen: std::net::SocketAddr,
}

impl MetricsConfig {
    /// A warning when the endpoint listens beyond the gateway itself.
    pub fn exposure(&self) -> Option<String> {
        (!self.listen.ip().is_loopback()).then(|| {
            format!(
                "{} is reachable from the network without authentication (counters, source and \
                 asset names; no secrets): use 127.0.0.1 unless a collector elsewhere scrapes it",
                self.listen
            )
        })
    }
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
    /// The username and the password (`${...}` resolved).
    pub credentials: Option<(String, Secret)>,
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    /// The client certificate file and its key file.
    pub client_identity: Option<(PathBuf, PathBuf)>,
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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Compression {
    pub method: CompressionMethod,
    pub max_silence_secs: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CompressionMethod {
    Deadband(Band),
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
