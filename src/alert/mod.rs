//! Alerts: rules that watch values and emit lifecycle events (raised, cleared).
//!
//! The first rule kind is a threshold on a raw signal ([`threshold`]); model outputs will feed
//! the same lifecycle later.

pub mod threshold;

pub use threshold::{ThresholdRules, Transition};
