//! Alert records: a rule's, a model's or a detector's alert as it goes out (`forewarn.alert.v1`).

use serde::{Deserialize, Serialize};

use super::AssetMeta;

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertEvent {
    Raised,
    /// A model alert that is up got worse (see `model::rule`).
    Updated,
    Cleared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// An alert lifecycle event. `id` is the same for the `raised` and `cleared` events of one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelAlertInfo {
    pub name: String,
    pub version: String,
    pub window_start_ns: i64,
    pub window_end_ns: i64,
    /// The features furthest from their training distribution, most unusual first.
    pub drivers: Vec<Driver>,
}

/// One feature's value and how unusual it is: `z = (value − training mean) / training std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Driver {
    pub feature: String,
    pub value: f64,
    pub z: f64,
}
