//! Alerts on raw signals: threshold rules that watch a signal's values and emit lifecycle
//! events ([`threshold`]: raised, cleared).
//!
//! Rules on a model's output live beside the model, in [`crate::model::rule`].

pub mod threshold;

pub use threshold::{ThresholdRules, Transition};
