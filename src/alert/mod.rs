//! Alerts: rules that watch values and emit lifecycle events.
//!
//! Two rule kinds: thresholds on a raw signal ([`threshold`]: raised, cleared) and rules on a
//! model's output per window ([`model_rule`]: raised, updated, cleared, with debounce).

pub mod model_rule;
pub mod threshold;

pub use model_rule::{Lifecycle, ModelAlertState};
pub use threshold::{ThresholdRules, Transition};
