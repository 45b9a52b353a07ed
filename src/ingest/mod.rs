//! Ingest: sources that turn outside bytes into [`Sample`]s.
//!
//! Each source owns its I/O loop (one `select!` with the shutdown token) and sends batches of
//! samples into one bounded channel. Decoding is pure and shared ([`payload`], [`time`],
//! [`serial::line`]); every rejected message, frame or value is counted by [`Reject`] reason in
//! the source's [`SourceMetrics`](crate::monitor::SourceMetrics) and never stops the source.

pub mod csv_fields;
pub mod mqtt;
pub mod payload;
pub mod replay;
pub mod serial;
pub mod time;
pub mod time_guard;

use std::sync::Arc;

use crate::channel::{Receipt, Weigh};
use crate::config::AssetConfig;
use crate::record::Sample;
use crate::util::{FastMap, FastSet};

/// A batch of samples from one message or frame, with the receipt its source wants committed
/// once they are safe in the outbox (an MQTT message's acknowledgement waits for it; serial
/// and replay sources have none). Derefs to its samples.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub samples: Vec<Sample>,
    pub receipt: Option<Receipt>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }
}

impl From<Vec<Sample>> for Batch {
    fn from(samples: Vec<Sample>) -> Batch {
        Batch {
            samples,
            receipt: None,
        }
    }
}

impl std::ops::Deref for Batch {
    type Target = Vec<Sample>;
    fn deref(&self) -> &Vec<Sample> {
        &self.samples
    }
}

impl std::ops::DerefMut for Batch {
    fn deref_mut(&mut self) -> &mut Vec<Sample> {
        &mut self.samples
    }
}

impl Weigh for Batch {
    fn weight(&self) -> usize {
        self.samples.len()
    }
}

/// Why a message, frame or value was rejected: part of the status schema, so it lives in
/// [`crate::record`].
pub use crate::record::Reject;

/// Samples decoded from one message plus what was rejected inside it.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    pub samples: Vec<Sample>,
    pub rejects: Vec<Reject>,
}

impl Decoded {
    pub fn reject(reason: Reject) -> Decoded {
        Decoded {
            samples: Vec::new(),
            rejects: vec![reason],
        }
    }
}

/// Known assets and signals, so that samples share the config's names (`Arc<str>`) and unknown
/// names are rejected at the edge.
#[derive(Debug, Default)]
pub struct AssetIndex {
    assets: FastMap<Arc<str>, FastSet<Arc<str>>>,
}

impl AssetIndex {
    pub fn new(assets: &[AssetConfig]) -> AssetIndex {
        AssetIndex {
            assets: assets
                .iter()
                .map(|a| {
                    (
                        a.id.clone(),
                        a.signals.iter().map(|s| s.name.clone()).collect(),
                    )
                })
                .collect(),
        }
    }

    /// The shared names of `asset`/`signal`, or why they are not known.
    pub fn resolve(&self, asset: &str, signal: &str) -> Result<(Arc<str>, Arc<str>), Reject> {
        let (a, signals) = self
            .assets
            .get_key_value(asset)
            .ok_or(Reject::UnknownAsset)?;
        let s = signals.get(signal).ok_or(Reject::UnknownSignal)?;
        Ok((a.clone(), s.clone()))
    }
}
