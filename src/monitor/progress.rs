//! Is the pipeline moving? Each stage counts its progress; a stage that has work waiting and
//! makes no progress for a whole check interval is **stalled**.
//!
//! - Stages beat: processing per batch taken, models per message taken, the outbox writer per
//!   group handled, the forwarder per loop turn (at least once a second while it runs, whether
//!   Kafka answers or not: an uplink that is down is not a stall, a forwarder stuck in a call
//!   is). Sources are not judged: a source that waits for its device or broker is idle, not
//!   stalled, and one that waits for the pipeline shows the stage behind it as stalled.
//! - Work waiting: the stage's input channel holds something (the forwarder: the outbox holds
//!   records).
//! - [`StallGate`] compares two consecutive checks: a stage that had work at both and did not
//!   beat in between is stalled. Work that arrived just before a check is not judged yet.
//!
//! The status names the stalled stages (`stalled`), and the systemd watchdog is pinged only
//! while no stage is stalled, so systemd restarts an agent whose pipeline stopped
//! ([`super::systemd`]). Checks run every `WatchdogSec / 2` under a watchdog, else every
//! [`CHECK_INTERVAL`].

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::Duration;

/// How often the stages are checked without a systemd watchdog.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// The stages judged for progress, in data-flow order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Processing,
    Models,
    Writer,
    Forwarder,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Processing,
        Stage::Models,
        Stage::Writer,
        Stage::Forwarder,
    ];

    /// The name in the status's `stalled` list.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Processing => "processing",
            Stage::Models => "models",
            Stage::Writer => "outbox_writer",
            Stage::Forwarder => "forwarder",
        }
    }
}

/// The stages' beat counters and the last verdict (shared; atomics).
#[derive(Debug, Default)]
pub struct Progress {
    beats: [AtomicU64; Stage::ALL.len()],
    /// Bit per stage: stalled at the last check.
    stalled: AtomicU8,
}

impl Progress {
    pub fn beat(&self, s: Stage) {
        self.beats[s as usize].fetch_add(1, Relaxed);
    }

    pub fn beats(&self) -> [u64; Stage::ALL.len()] {
        std::array::from_fn(|i| self.beats[i].load(Relaxed))
    }

    pub fn set_stalled(&self, stalled: &[Stage]) {
        let bits = stalled.iter().fold(0u8, |b, s| b | 1 << (*s as u8));
        self.stalled.store(bits, Relaxed);
    }

    /// The stages stalled at the last check, by name.
    pub fn stalled(&self) -> Vec<String> {
        let bits = self.stalled.load(Relaxed);
        Stage::ALL
            .iter()
            .filter(|s| bits & (1 << (**s as u8)) != 0)
            .map(|s| s.name().to_string())
            .collect()
    }
}

/// Decides, check by check, which stages are stalled. Pure, for testing.
#[derive(Debug, Default)]
pub struct StallGate {
    last: Option<([u64; Stage::ALL.len()], [bool; Stage::ALL.len()])>,
}

impl StallGate {
    /// `beats` and `work` (input waiting) per stage, now; returns the stalled stages.
    pub fn check(
        &mut self,
        beats: [u64; Stage::ALL.len()],
        work: [bool; Stage::ALL.len()],
    ) -> Vec<Stage> {
        let stalled = match self.last {
            Some((b0, w0)) => Stage::ALL
                .iter()
                .copied()
                .filter(|s| {
                    let i = *s as usize;
                    w0[i] && work[i] && beats[i] == b0[i]
                })
                .collect(),
            None => Vec::new(),
        };
        self.last = Some((beats, work));
        stalled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_with_work_at_two_checks_and_no_beat_between_is_stalled() {
        let mut g = StallGate::default();
        let w = [true, false, true, false];
        assert!(
            g.check([0, 0, 0, 0], w).is_empty(),
            "first check judges nothing"
        );
        // The writer beat, processing did not.
        assert_eq!(g.check([0, 0, 1, 0], w), vec![Stage::Processing]);
        // Both moved.
        assert!(g.check([1, 0, 2, 0], w).is_empty());
    }

    #[test]
    fn idle_stages_and_fresh_work_are_not_stalls() {
        let mut g = StallGate::default();
        g.check([5; 4], [false; 4]);
        // Work just arrived: not judged until the next check.
        assert!(g.check([5; 4], [true; 4]).is_empty());
        assert_eq!(g.check([5; 4], [true; 4]), Stage::ALL.to_vec());
        // Work gone: fine again, even without beats.
        assert!(g.check([5; 4], [false; 4]).is_empty());
    }

    #[test]
    fn progress_reports_the_stalled_stages_by_name() {
        let p = Progress::default();
        p.beat(Stage::Models);
        assert_eq!(p.beats(), [0, 1, 0, 0]);
        p.set_stalled(&[Stage::Models, Stage::Forwarder]);
        assert_eq!(p.stalled(), vec!["models", "forwarder"]);
        p.set_stalled(&[]);
        assert!(p.stalled().is_empty());
    }
}
