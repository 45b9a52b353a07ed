//! A windower's samples between windows, for the model thread's checkpoint: what a start
//! takes back so that a window in progress goes on where it was (a slow signal's window can
//! take an hour to fill). Only the samples and the position on the grid are kept, never the
//! counters; the spec and the signal count must be the same at the start, and a snapshot is
//! checked (sizes, order, alignment) before it is used, since it comes from disk.
//!
//! A windower that holds more than a given number of values is not kept (the caller's cap):
//! a dense signal refills its window in moments, and writing its buffer every second would
//! wear the gateway's flash for nothing.

use serde::{Deserialize, Serialize};

use super::{samples, time, Kind, WindowSpec, Windower};

/// The state of one windower, as kept in a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSnapshot {
    pub(super) spec: WindowSpec,
    pub(super) signals: usize,
    pub(super) state: StateSnapshot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum StateSnapshot {
    Samples(samples::Snapshot),
    Time(time::Snapshot),
}

/// Why a snapshot was not taken back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestoreError {
    #[error("the window is configured differently now")]
    OtherSpec,
    #[error("the window has {now} signals now, the snapshot {then}")]
    OtherSignals { now: usize, then: usize },
    #[error("the snapshot is not whole: {0}")]
    Invalid(&'static str),
}

impl WindowSnapshot {
    /// Values held (timestamps and values count once per sample).
    pub fn values(&self) -> usize {
        match &self.state {
            StateSnapshot::Samples(s) => s.values(),
            StateSnapshot::Time(s) => s.values(),
        }
    }
}

impl Windower {
    /// The samples this windower holds, unless there are none or more than `max_values`.
    pub fn snapshot(&self, max_values: usize) -> Option<WindowSnapshot> {
        let state = match &self.kind {
            Kind::Samples(st) => StateSnapshot::Samples(st.snapshot(max_values)?),
            Kind::Time(st) => StateSnapshot::Time(st.snapshot(max_values)?),
        };
        Some(WindowSnapshot {
            spec: self.spec,
            signals: self.out.len(),
            state,
        })
    }

    /// Takes a snapshot back: the windower goes on as the one it was taken from would have.
    /// On an error nothing changed.
    pub fn restore(&mut self, snap: WindowSnapshot) -> Result<(), RestoreError> {
        if self.spec != snap.spec {
            return Err(RestoreError::OtherSpec);
        }
        if snap.signals != self.out.len() {
            return Err(RestoreError::OtherSignals {
                now: self.out.len(),
                then: snap.signals,
            });
        }
        match (&mut self.kind, snap.state) {
            (Kind::Samples(st), StateSnapshot::Samples(s)) => st.restore(s),
            (Kind::Time(st), StateSnapshot::Time(s)) => st.restore(s),
            _ => Err(RestoreError::OtherSpec),
        }
    }
}
