//! Settings types that the provisioning file fills and the stages read: defined here, at the
//! bottom of the module map, so that `config` imports no stage (ARCHITECTURE.md, "Layers").

use std::time::Duration;

const SEC: i64 = 1_000_000_000;

/// How long a model package's isolated check may take unless its binding says
/// (`check_timeout_secs`), and the most it may say.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_CHECK_TIMEOUT: Duration = Duration::from_secs(3600);

/// The most inputs one detector's vectors may have (signals × (lags + 1)): a 256 × 256
/// correlation matrix is 512 KiB while it is decomposed, once per learning.
pub const MAX_DETECTOR_INPUTS: usize = 256;
/// The most values a detector keeps per asset while it learns (steps × signals): 8 MiB.
pub const MAX_LEARN_VALUES: usize = 1 << 20;
/// The longest sample-count window of a detector's features (per signal; its window buffer
/// holds up to 8 × that + 1024 samples, 4 MiB per signal and asset at the bound).
pub const MAX_FEATURE_WINDOW: usize = 1 << 16;
/// kNN detectors: values in a pattern, reference distances needed for a first index, and the
/// longest learning phase (its length is the reference window `W`; each step costs `W · 19`
/// multiply-adds per signal).
pub const KNN_LAGS: usize = 19;
pub const KNN_MIN_REFERENCE: usize = 30;
pub const KNN_MAX_WINDOW: usize = 4096;

/// A source's time policy (validated; see `ingest::time_guard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePolicy {
    /// Compare with the gateway clock (live sources) or only with the stream (replay).
    pub live: bool,
    pub max_future_ns: i64,
    /// `None`: no limit into the past.
    pub max_past_ns: Option<i64>,
    pub max_jump_ns: i64,
}

impl TimePolicy {
    pub const DEFAULT_MAX_FUTURE_SECS: u64 = 300;
    pub const DEFAULT_MAX_PAST_SECS: u64 = 366 * 86_400;
    pub const DEFAULT_MAX_JUMP_SECS: u64 = 86_400;

    /// The defaults of a live (`true`) or replay source.
    pub fn defaults(live: bool) -> TimePolicy {
        TimePolicy::from_secs(
            live,
            Self::DEFAULT_MAX_FUTURE_SECS,
            Self::DEFAULT_MAX_PAST_SECS,
            Self::DEFAULT_MAX_JUMP_SECS,
        )
    }

    /// From the provisioning file's seconds (`max_past_secs = 0`: no limit).
    pub fn from_secs(live: bool, future: u64, past: u64, jump: u64) -> TimePolicy {
        let ns = |s: u64| i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(SEC);
        TimePolicy {
            live,
            max_future_ns: ns(future),
            max_past_ns: (past > 0).then(|| ns(past)),
            max_jump_ns: ns(jump),
        }
    }
}

/// The deadband's half-width.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Band {
    /// In signal units.
    Abs(f64),
    /// Percent of the magnitude of the last kept value.
    Percent(f64),
}

impl Band {
    /// Half-width of the band around the held value `held`.
    pub fn width_at(self, held: f64) -> f64 {
        match self {
            Band::Abs(a) => a,
            Band::Percent(p) => p / 100.0 * held.abs(),
        }
    }
}
