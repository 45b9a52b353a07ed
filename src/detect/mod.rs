//! Learning normal on the gateway: detectors that learn what an asset's signals look like from
//! a stretch of its own data, with no labels, and score every later vector against it.
//!
//! - [`linalg`]: running moments and the symmetric eigen decomposition learning needs.
//! - [`pca`]: principal component monitoring (T² and Q) of correlated signals.
//! - [`baseline`]: what learning produces (dynamic PCA, limits from the learning data) and
//!   the scorer that turns each later vector into an anomaly index.
//! - [`runner`]: the detectors of the provisioning file on their assets: steps, learning,
//!   scoring, alerts; run on the model thread.

pub mod baseline;
pub mod linalg;
pub mod pca;
pub mod runner;

pub use runner::{DetectorError, DetectorRunner};
