//! The manifest as TOML gives it: serde structs that reject unknown keys, before any check
//! of meaning ([`super::Manifest::parse`] turns them into a [`super::Manifest`]).

use serde::Deserialize;

use crate::record::Severity;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawManifest {
    pub(super) model: RawModel,
    pub(super) input: RawInput,
    pub(super) output: RawOutput,
    #[serde(default)]
    pub(super) alerts: Vec<RawAlert>,
    #[serde(default)]
    pub(super) golden: Vec<RawGolden>,
    pub(super) training: Option<RawTraining>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    pub(super) name: String,
    pub(super) version: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) onnx: String,
    pub(super) sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInput {
    pub(super) signals: Vec<String>,
    pub(super) features: Vec<String>,
    pub(super) window: RawWindow,
    pub(super) normalize: Option<RawNormalize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWindow {
    pub(super) samples: Option<usize>,
    pub(super) hop: Option<usize>,
    pub(super) secs: Option<f64>,
    pub(super) hop_secs: Option<f64>,
    pub(super) sample_rate_hz: f64,
    pub(super) max_gap_secs: Option<f64>,
    pub(super) lateness_secs: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNormalize {
    pub(super) mean: Vec<f32>,
    pub(super) std: Vec<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutput {
    pub(super) kind: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) labels: Vec<String>,
    pub(super) normal: Option<String>,
    pub(super) unit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlert {
    pub(super) name: String,
    pub(super) severity: Option<Severity>,
    pub(super) class: Option<String>,
    pub(super) direction: String,
    pub(super) on: f64,
    pub(super) off: f64,
    pub(super) debounce: Option<RawDebounce>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDebounce {
    pub(super) k: usize,
    pub(super) n: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGolden {
    pub(super) features: Vec<f32>,
    pub(super) output: Vec<f32>,
    #[serde(default = "default_tolerance")]
    pub(super) tolerance: f32,
}

fn default_tolerance() -> f32 {
    1e-4
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTraining {
    pub(super) mean: Vec<f64>,
    pub(super) std: Vec<f64>,
    #[serde(default)]
    pub(super) min: Vec<f64>,
    #[serde(default)]
    pub(super) max: Vec<f64>,
}
