//! When the processing stage checkpoints its state (`process::checkpoint`).
//!
//! A checkpoint costs an encode of the whole processing state and a write into the writer's
//! next transaction, so it is not taken per message. It is taken when something changed since
//! the last one and:
//! - a source waits for it (a receipt not yet committed: MQTT messages not acknowledged):
//!   with at least [`MANY_WAITING`] messages waiting, as soon as the stage has no input
//!   waiting, or every [`BUSY_EVERY`] while input keeps coming (the broker's in-flight window
//!   is held open by acknowledgements); with fewer, every [`FEW_EVERY`] (a trickle of
//!   messages would otherwise cost a commit, with its fsync, per message);
//! - nobody waits (a serial source, a state change of the idle tick): every [`QUIET_EVERY`];
//! - never while the previous checkpoint is not committed yet: the writer's commit rate paces
//!   them, and acknowledgements go out as fast as commits allow.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channel::{Ledger, Receipt, Receipts};

/// While input keeps coming and a source waits: at most this long between checkpoints.
pub const BUSY_EVERY: Duration = Duration::from_millis(20);
/// Messages waiting for their acknowledgement from which a checkpoint goes as soon as the
/// input is drained.
pub const MANY_WAITING: u64 = 32;
/// With fewer messages waiting: at most this long between checkpoints (the added latency of
/// an acknowledgement).
pub const FEW_EVERY: Duration = Duration::from_millis(10);
/// With nobody waiting: at most this long between a change and its checkpoint.
pub const QUIET_EVERY: Duration = Duration::from_secs(1);

/// The pacing state: plain, driven by the stage's loop.
#[derive(Debug)]
pub struct Pacer {
    /// The latest receipt of each source, over the run.
    receipts: Receipts,
    /// Counts this stage's checkpoints committed (the writer commits [`Pacer::own`]).
    own: Arc<Ledger>,
    sent: u64,
    /// The state changed since the last checkpoint was sent.
    dirty: bool,
    last_sent: Instant,
}

impl Pacer {
    pub fn new(now: Instant) -> Pacer {
        Pacer {
            receipts: Receipts::default(),
            own: Arc::new(Ledger::default()),
            sent: 0,
            dirty: false,
            last_sent: now,
        }
    }

    /// A batch went into the state (with its source's receipt, if any).
    pub fn processed(&mut self, receipt: Option<Receipt>) {
        self.dirty = true;
        if let Some(r) = receipt {
            self.receipts.add(r);
        }
    }

    /// The state changed without input (idle buckets closed).
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    /// The previous checkpoint is not committed yet.
    pub fn waiting_for_commit(&self) -> bool {
        self.own.committed() < self.sent
    }

    /// The ledger whose change ends [`Pacer::waiting_for_commit`].
    pub fn own(&self) -> &Ledger {
        &self.own
    }

    /// Whether a checkpoint is due now; `input_waiting`: batches are queued for the stage.
    pub fn due(&self, input_waiting: bool, now: Instant) -> bool {
        let Some(at) = self.next_due() else {
            return false;
        };
        // Many messages waiting: as soon as the input is drained, not only when `at` comes.
        now >= at || (!input_waiting && self.receipts.behind() >= MANY_WAITING)
    }

    /// When a checkpoint that is not due now becomes due without new input (for the loop's
    /// timer), if it will.
    pub fn next_due(&self) -> Option<Instant> {
        if !self.dirty || self.waiting_for_commit() {
            return None;
        }
        let every = match self.receipts.behind() {
            0 => QUIET_EVERY,
            n if n < MANY_WAITING => FEW_EVERY,
            _ => BUSY_EVERY,
        };
        Some(self.last_sent + every)
    }

    /// A checkpoint is sent now: the receipts it must commit (the sources' and this stage's).
    pub fn sent(&mut self, now: Instant) -> Receipts {
        self.sent += 1;
        self.dirty = false;
        self.last_sent = now;
        let mut r = self.receipts.clone();
        r.add(Receipt {
            ledger: self.own.clone(),
            n: self.sent,
        });
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(l: &Arc<Ledger>, n: u64) -> Option<Receipt> {
        Some(Receipt {
            ledger: l.clone(),
            n,
        })
    }

    #[test]
    fn a_few_waiting_messages_get_a_checkpoint_within_few_every() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0);
        let mqtt = Arc::new(Ledger::default());
        p.processed(receipt(&mqtt, MANY_WAITING - 1));
        assert!(
            !p.due(false, t0 + FEW_EVERY / 2),
            "a trickle waits a little"
        );
        assert_eq!(p.next_due(), Some(t0 + FEW_EVERY));
        assert!(p.due(true, t0 + FEW_EVERY));
    }

    #[test]
    fn a_waiting_source_gets_a_checkpoint_as_soon_as_the_input_is_drained() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0);
        assert!(!p.due(false, t0), "nothing changed");
        let mqtt = Arc::new(Ledger::default());
        p.processed(receipt(&mqtt, MANY_WAITING));
        assert!(!p.due(true, t0), "more input queued, within BUSY_EVERY");
        assert!(
            p.due(true, t0 + BUSY_EVERY),
            "input keeps coming: every BUSY_EVERY"
        );
        assert!(p.due(false, t0), "input drained");
        let r = p.sent(t0);
        // Until the writer commits it, no further checkpoint, whatever comes in.
        p.processed(receipt(&mqtt, 2 * MANY_WAITING));
        assert!(p.waiting_for_commit());
        assert!(!p.due(false, t0 + QUIET_EVERY));
        assert_eq!(p.next_due(), None);
        r.commit();
        assert_eq!(mqtt.committed(), MANY_WAITING);
        assert!(!p.waiting_for_commit());
        assert!(p.due(false, t0));
        let r = p.sent(t0);
        r.commit();
        assert_eq!(mqtt.committed(), 2 * MANY_WAITING);
        assert!(!p.due(false, t0 + QUIET_EVERY), "nothing changed since");
    }

    #[test]
    fn without_a_waiting_source_a_change_is_checkpointed_within_quiet_every() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0);
        p.processed(None);
        assert!(!p.due(false, t0 + QUIET_EVERY / 2));
        assert_eq!(p.next_due(), Some(t0 + QUIET_EVERY));
        assert!(p.due(false, t0 + QUIET_EVERY));
        p.sent(t0 + QUIET_EVERY).commit();
        p.changed();
        assert!(p.due(true, t0 + 2 * QUIET_EVERY));
    }
}
