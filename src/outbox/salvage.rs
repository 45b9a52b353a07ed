//! `forewarn outbox salvage`: forward what can still be read of an outbox that was set aside.
//!
//! When the open ladder sets a damaged outbox aside (`outbox.corrupt-<time>`), the agent
//! starts a fresh one and numbers it above the old one's reservation. The old copy often
//! still holds readable records that never reached Kafka. Salvage copies every decodable
//! record of it into the live outbox under its own sequence number ([`Outbox::restore`]):
//! alerts first, then status, then telemetry, in batches, within the live budget. The
//! forwarder sends them at the next start (its cursors begin at the lowest key).
//!
//! - Run it with the agent stopped (reading a damaged file may fault: that ends this command,
//!   not the agent), then start the agent.
//! - Delivery stays at least once: a record the old outbox had sent but not yet deleted is
//!   sent again with its `(gateway, seq)`, which consumers drop. For one key, salvaged records
//!   reach Kafka after the newer ones the fresh outbox already sent; their `seq` orders them.
//! - Running it twice restores nothing twice while the records wait; once forwarded and
//!   deleted, a second run sends them again (same `seq`).

use std::path::Path;

use super::{idx, inspect, Outbox, OutboxError};
use crate::record::Class;

/// Records per batch read from the set-aside copy and committed to the live outbox.
const BATCH: usize = 1024;

/// What a salvage did, per class (alert, status, telemetry).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Salvaged {
    pub restored: [u64; 3],
    /// Already in the live outbox (or not from a predecessor): left alone.
    pub skipped: [u64; 3],
    /// Entries of the set-aside copy that do not decode.
    pub undecodable: [u64; 3],
}

impl Salvaged {
    /// (restored, skipped, undecodable) of one class.
    pub fn of(&self, class: Class) -> (u64, u64, u64) {
        let i = idx(class);
        (self.restored[i], self.skipped[i], self.undecodable[i])
    }

    pub fn total_restored(&self) -> u64 {
        self.restored.iter().sum()
    }
}

/// Copy the readable records of the outbox in `from` into `into`.
pub fn salvage(from: &Path, into: &Outbox) -> Result<Salvaged, OutboxError> {
    let mut done = Salvaged::default();
    for class in [Class::Alert, Class::Status, Class::Telemetry] {
        let i = idx(class);
        let mut at = 0;
        loop {
            let batch = inspect::readable(from, class, at, BATCH)?;
            let (restored, skipped) = into.restore(&batch.records)?;
            done.restored[i] += restored;
            done.skipped[i] += skipped;
            done.undecodable[i] += batch.undecodable;
            match batch.next {
                Some(next) => at = next,
                None => break,
            }
        }
    }
    Ok(done)
}
