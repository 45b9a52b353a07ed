//! Alerts: threshold rules that watch a raw signal's values ([`threshold`]: raised, cleared),
//! and rules on a score computed once per window, a model's output or a detector's anomaly
//! index ([`window`]: hysteresis, k-of-n debounce, raised, updated, cleared).

pub mod threshold;
pub mod window;

pub use threshold::{ThresholdRules, Transition};
