//! The processing state as a checkpoint: what the processor holds that is not yet in a record
//! (open buckets, threshold rule states, deadband and swinging-door states), so that the
//! outbox writer can commit it with the records (`outbox::writer::Checkpoint`) and a start
//! after a crash goes on from it instead of from nothing.
//!
//! A checkpoint is taken back only for what the provisioning file still configures the same
//! way: a bucket of a signal with the same width, a rule of the same name on an asset that
//! still has it, a compressor with the same settings. The rest starts afresh and is counted
//! ([`Restored::dropped`]). Bytes that do not decode (a checkpoint from a later version, a
//! damaged value) are an error: the caller starts empty and says so.

use serde::{Deserialize, Serialize};

use super::{Compressor, CompressorKind, Processor};
use crate::alert::threshold::RuleState;
use crate::codec::{self, CodecError};
use crate::config::Compression;
use crate::downsample::{Deadband, SlotState, SwingingDoor};
use crate::util::LateStreak;

/// The version of the checkpoint's layout; a checkpoint of another version is not taken.
pub const CHECKPOINT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    version: u32,
    buckets: Vec<SlotState>,
    rules: Vec<RuleState>,
    compressors: Vec<CompressorState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CompressorState {
    asset: String,
    signal: String,
    config: Compression,
    kind: KindState,
    last_arrival_ns: i64,
    flushed: bool,
    late: LateStreak,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum KindState {
    Deadband(Deadband),
    SwingingDoor(SwingingDoor),
}

/// What a start took back from a checkpoint.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Open buckets (with samples in them).
    pub open_buckets: usize,
    /// Raised threshold alerts.
    pub raised_alerts: usize,
    /// States taken back in all (buckets, rules, compressors).
    pub states: usize,
    /// States of signals, rules or settings no longer configured that way: started afresh.
    pub dropped: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("processing checkpoint does not decode: {0}")]
    Decode(#[from] CodecError),
    #[error(
        "processing checkpoint has version {0}; this agent reads version {CHECKPOINT_VERSION}"
    )]
    Version(u32),
}

impl Processor {
    /// The state as checkpoint bytes (CBOR; the same state gives the same bytes).
    pub fn checkpoint(&self) -> Result<Vec<u8>, CodecError> {
        let mut compressors: Vec<CompressorState> = self
            .compressors
            .iter()
            .map(|((a, s), c)| CompressorState {
                asset: a.to_string(),
                signal: s.to_string(),
                config: c.config,
                kind: match &c.kind {
                    CompressorKind::Deadband(d) => KindState::Deadband(d.clone()),
                    CompressorKind::SwingingDoor(d) => KindState::SwingingDoor(d.clone()),
                },
                last_arrival_ns: c.last_arrival_ns,
                flushed: c.flushed,
                late: c.late,
            })
            .collect();
        compressors.sort_by(|x, y| (&x.asset, &x.signal).cmp(&(&y.asset, &y.signal)));
        codec::to_cbor(&State {
            version: CHECKPOINT_VERSION,
            buckets: self.buckets.snapshot(),
            rules: self.rules.snapshot(),
            compressors,
        })
    }

    /// Takes back what `bytes` (from [`Processor::checkpoint`]) holds for what is still
    /// configured the same way. On an error nothing was changed.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<Restored, CheckpointError> {
        let state: State = codec::from_cbor(bytes)?;
        if state.version != CHECKPOINT_VERSION {
            return Err(CheckpointError::Version(state.version));
        }
        let mut r = Restored::default();
        for b in state.buckets {
            let open = b.open.is_some();
            let taken = self.buckets.restore(b, |asset, signal| {
                let (a, info) = self.assets.get_key_value(asset)?;
                let (s, i) = info.signals.get_key_value(signal)?;
                Some((a.clone(), s.clone(), i.width_ns?))
            });
            r.tally(taken);
            r.open_buckets += usize::from(taken && open);
        }
        for st in state.rules {
            let raised = st.raised;
            let asset = self
                .assets
                .get_key_value(st.asset.as_str())
                .map(|(a, _)| a.clone());
            let taken = self.rules.restore(st, asset);
            r.tally(taken);
            r.raised_alerts += usize::from(taken && raised);
        }
        for c in state.compressors {
            let key = self
                .assets
                .get_key_value(c.asset.as_str())
                .and_then(|(a, info)| {
                    let (s, i) = info.signals.get_key_value(c.signal.as_str())?;
                    (i.compression == Some(c.config)).then(|| (a.clone(), s.clone()))
                });
            let Some(key) = key else {
                r.tally(false);
                continue;
            };
            let kind = match c.kind {
                KindState::Deadband(d) => CompressorKind::Deadband(d),
                KindState::SwingingDoor(d) => CompressorKind::SwingingDoor(d),
            };
            self.compressors.insert(
                key,
                Compressor {
                    kind,
                    config: c.config,
                    last_arrival_ns: c.last_arrival_ns,
                    flushed: c.flushed,
                    late: c.late,
                },
            );
            r.tally(true);
        }
        Ok(r)
    }
}

impl Restored {
    fn tally(&mut self, taken: bool) {
        if taken {
            self.states += 1;
        } else {
            self.dropped += 1;
        }
    }
}
