//! The baseline record (`forewarn.baseline.v1`): what one detector learned as normal for one
//! asset. The agent sends it to the status topic when a baseline is learned, relearned or
//! adopted from an import, and keeps the latest one per detector and asset in the outbox's
//! LMDB (`baselines`), from where the next start, `forewarn baseline export` and a replacement
//! gateway (`forewarn baseline import`) take it.
//!
//! Everything a reader needs to judge the baseline is in typed fields: the span learned from,
//! the limits, each input's mean and standard deviation (an input is a signal, or for a
//! detector over feature vectors one feature of a signal: `vib.rms`, in `log10` for amplitudes
//! and energies). `state` is the detector's whole
//! learned state (for PCA: means, scales, loadings, variances, limits, the last lagged steps),
//! the part an import loads; its layout belongs to the `method` and is versioned with it.

use serde::{Deserialize, Serialize};

pub const BASELINE_SCHEMA: &str = "forewarn.baseline.v1";

/// Why this baseline exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BaselineTrigger {
    /// The detector's first learning phase for this asset (or after `baseline reset`).
    Learned,
    /// Learned again on command (`forewarn baseline relearn`) while the old one kept scoring.
    Relearned,
    /// Taken from `forewarn baseline import`, learned elsewhere.
    Imported,
}

/// The limits of a PCA baseline: the learned 99th percentiles of `T²`, `Q` and their EWMA.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BaselineLimits {
    pub t2: f64,
    pub q: f64,
    pub t2_ewma: f64,
    pub q_ewma: f64,
}

/// What a PCA detector learned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PcaSummary {
    pub lags: usize,
    pub cumulative_variance: f64,
    pub components: usize,
    /// Share of the variance the kept components explain.
    pub explained: f64,
    pub limits: BaselineLimits,
}

/// What a kNN detector keeps: its reference window (steps) and pattern length. It adapts: its
/// `state` is the window as it was when the record was made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KnnSummary {
    pub window: usize,
    pub lags: usize,
}

/// One signal's mean and standard deviation over the learning span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignalStats {
    pub signal: String,
    pub mean: f64,
    pub sd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BaselineRecord {
    pub schema: String,
    pub gateway: String,
    pub site: String,
    pub detector: String,
    pub asset: String,
    /// Rises by one with every baseline of this detector and asset on this gateway.
    pub generation: u64,
    pub trigger: BaselineTrigger,
    /// When this gateway made or adopted it (wall clock).
    pub created_ns: i64,
    /// `pca` or `knn`; the block of the same name describes what was learned.
    pub method: String,
    pub signals: Vec<String>,
    /// Time between steps, and values per signal in a step.
    pub grid_secs: f64,
    pub samples_per_step: usize,
    /// When a step is a window's feature vector rather than each signal's mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<BaselineFeatures>,
    /// Event time of the first and last step learned from.
    pub learned_from_ns: i64,
    pub learned_to_ns: i64,
    /// Steps learned from.
    pub steps: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pca: Option<PcaSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knn: Option<KnnSummary>,
    pub stats: Vec<SignalStats>,
    /// The gateway it was learned on, when imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_on: Option<String>,
    /// The detector's learned state (see the module's documentation).
    #[schemars(with = "serde_json::Value")]
    pub state: ciborium::Value,
}

/// The features a detector computes per step: each kind of every signal, over a sample-count
/// window (`samples` long, one every `hop` samples, at `sample_rate_hz`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BaselineFeatures {
    pub kinds: Vec<String>,
    pub samples: usize,
    pub hop: usize,
    pub sample_rate_hz: f64,
}

impl BaselineRecord {
    /// The key of the outbox's `baselines` database, and how the CLI names a baseline.
    pub fn key(&self) -> String {
        key(&self.detector, &self.asset)
    }

    /// What was learned, in a few words (`forewarn demo`, `forewarn baseline show`).
    pub fn summary(&self) -> String {
        match (&self.pca, &self.knn) {
            (Some(p), _) => format!(
                "{} of {} inputs kept ({:.0}% of the variance); limits T² {:.3}, Q {:.3}, EWMA T² {:.3}, EWMA Q {:.3}",
                p.components,
                self.stats.len() * (p.lags + 1),
                p.explained * 100.0,
                p.limits.t2,
                p.limits.q,
                p.limits.t2_ewma,
                p.limits.q_ewma
            ),
            (None, Some(k)) => format!(
                "nearest patterns of {} steps among the last {} (adapts as it scores)",
                k.lags, k.window
            ),
            (None, None) => format!("method `{}`", self.method),
        }
    }
}

/// `detector/asset` (neither may contain `/`: names are letters, digits, `.`, `_`, `-`).
pub fn key(detector: &str, asset: &str) -> String {
    format!("{detector}/{asset}")
}
