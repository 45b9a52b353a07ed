//! Learning normal on the gateway: detectors that learn what an asset's signals look like from
//! a stretch of its own data, with no labels, and score every later vector against it.
//!
//! - [`linalg`]: running moments and the symmetric eigen decomposition learning needs.
//! - [`pca`]: principal component monitoring (T² and Q) of correlated signals.
//! - [`baseline`]: what learning produces (dynamic PCA, limits from the learning data) and
//!   the scorer that turns each later vector into an anomaly index.
//! - [`knn`]: a streaming novelty score for one slow signal (nearest-neighbour distance of its
//!   latest pattern, as a likelihood against the recent past).
//! - [`learned`]: what a detector learned and its scorer, whatever the method.
//! - [`persist`]: a baseline as the record the outbox keeps and Kafka receives, and back.
//! - [`requests`]: the stored baselines a start begins from, and `forewarn baseline` requests.
//! - [`runner`]: the detectors of the provisioning file on their assets: steps, learning,
//!   scoring, alerts; run on the model thread.

pub mod baseline;
pub mod knn;
pub mod learned;
pub mod linalg;
pub mod pca;
pub mod persist;
pub mod requests;
pub mod runner;

pub use runner::{DetectorError, DetectorRunner};
