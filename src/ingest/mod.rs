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

use crate::config::AssetConfig;
use crate::record::Sample;
use crate::util::{FastMap, FastSet};

/// A batch of samples from one message or frame.
pub type Batch = Vec<Sample>;

/// Why a message, frame or value was rejected. The names are part of the status schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Not parseable in the expected format at all.
    Malformed,
    /// Not valid UTF-8 where text was expected.
    BadUtf8,
    /// Larger than the configured maximum.
    Oversize,
    /// A value that is not a number (string, null, object).
    NotNumeric,
    /// NaN or infinite.
    NonFinite,
    /// The topic does not match the configured pattern.
    UnknownTopic,
    /// The asset is not in the provisioning file.
    UnknownAsset,
    /// The asset has no such signal.
    UnknownSignal,
    /// A timestamp that cannot be read or is out of range.
    BadTimestamp,
    /// The pipeline was full and the source could not wait (MQTT); the samples were dropped.
    Overload,
    /// Event time more than `max_future_secs` ahead of the gateway clock (live sources).
    TsFuture,
    /// Event time more than `max_past_secs` behind the gateway clock (live sources).
    TsPast,
    /// Event time more than `max_jump_secs` away from its asset's stream, not (yet) confirmed
    /// by the samples after it (replay sources, or a live source under a wrong clock).
    TsJump,
}

impl Reject {
    pub const ALL: [Reject; 13] = [
        Reject::Malformed,
        Reject::BadUtf8,
        Reject::Oversize,
        Reject::NotNumeric,
        Reject::NonFinite,
        Reject::UnknownTopic,
        Reject::UnknownAsset,
        Reject::UnknownSignal,
        Reject::BadTimestamp,
        Reject::Overload,
        Reject::TsFuture,
        Reject::TsPast,
        Reject::TsJump,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::BadUtf8 => "bad_utf8",
            Reject::Oversize => "oversize",
            Reject::NotNumeric => "not_numeric",
            Reject::NonFinite => "non_finite",
            Reject::UnknownTopic => "unknown_topic",
            Reject::UnknownAsset => "unknown_asset",
            Reject::UnknownSignal => "unknown_signal",
            Reject::BadTimestamp => "bad_timestamp",
            Reject::Overload => "overload",
            Reject::TsFuture => "ts_future",
            Reject::TsPast => "ts_past",
            Reject::TsJump => "ts_jump",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

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
