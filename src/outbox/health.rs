//! The outbox's part of the status heartbeat ([`crate::monitor::OutboxHealth`]).

use super::Outbox;
use crate::monitor::OutboxHealth;

impl Outbox {
    /// Depth, bytes, age and evictions per class, the budget, and what recovery did.
    pub fn health(&self, now_ns: i64) -> OutboxHealth {
        let c = self.counters();
        OutboxHealth {
            classes: self.class_status(now_ns),
            total_bytes: c.total_bytes(),
            budget_bytes: self.budget_bytes(),
            quarantined: c.quarantined,
            dead: c.dead,
            recovered: c.recovered,
            set_aside: c.set_aside,
            recovery: self.recovery().map(ToString::to_string),
            refused: self.refused_classes(),
        }
    }
}
