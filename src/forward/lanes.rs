//! Where the forwarder is in each class of the outbox: plain state, no I/O, no clock of its
//! own (every call that needs the time is given `now`), so the fill / rewind / ack rules are
//! unit-tested here and the async loop in [`super::kafka`] only moves data.
//!
//! Per class (a lane):
//! - `cursor`: the last sequence number handed to the producer (or moved to the dead
//!   letters); the next read starts after it.
//! - `in_flight`: records handed over whose delivery report has not come.
//! - `failed`: the lowest sequence number whose delivery failed (or that the producer refused
//!   to take). The lane takes nothing new until every record of it in flight has settled;
//!   then it rewinds to the failed record and waits its backoff (0.2 s doubling to 30 s, reset
//!   by a delivery) before it sends again. Records acknowledged meanwhile are deleted, so a
//!   retry sends only what Kafka does not have.
//! - `pause`: the end of that backoff.
//!
//! All lanes together pause for a moment when the producer's queue is full or the outbox
//! cannot be read (`pause_all`).

use std::time::Duration;

use tokio::time::Instant;

use crate::record::Class;
use crate::util::Backoff;

/// The first backoff of a lane after a failed delivery.
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// The longest backoff of a lane.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The longest the forwarder waits without looking again (its progress beat).
pub const MAX_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Lane {
    cursor: u64,
    in_flight: usize,
    failed: Option<u64>,
    backoff: Backoff,
    pause: Option<Instant>,
}

/// Every class's lane, and the pause of all of them.
#[derive(Debug)]
pub struct Lanes {
    lanes: [Lane; 3],
    pause_all: Option<Instant>,
}

/// How one record's delivery ended, for [`Lanes::settled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Kafka has it.
    Delivered,
    /// Kafka will never take it: it went to the dead letters, the lane goes on.
    Dead,
    /// Retry it.
    Failed,
}

/// A lane that rewound, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewound {
    pub class: Class,
    pub seq: u64,
    pub delay: Duration,
}

fn slot(c: Class) -> usize {
    match c {
        Class::Alert => 0,
        Class::Status => 1,
        Class::Telemetry => 2,
    }
}

impl Default for Lanes {
    fn default() -> Lanes {
        Lanes {
            lanes: std::array::from_fn(|_| Lane {
                cursor: 0,
                in_flight: 0,
                failed: None,
                backoff: Backoff::new(BACKOFF_MIN, BACKOFF_MAX),
                pause: None,
            }),
            pause_all: None,
        }
    }
}

impl Lanes {
    fn lane(&mut self, c: Class) -> &mut Lane {
        &mut self.lanes[slot(c)]
    }

    /// Records in flight, in all lanes.
    pub fn in_flight(&self) -> usize {
        self.lanes.iter().map(|l| l.in_flight).sum()
    }

    /// Whether every lane waits (the producer's queue was full, the outbox could not be read).
    pub fn all_paused(&mut self, now: Instant) -> bool {
        match self.pause_all {
            Some(t) if now < t => true,
            _ => {
                self.pause_all = None;
                false
            }
        }
    }

    /// Every lane waits until `until`.
    pub fn pause_all(&mut self, until: Instant) {
        self.pause_all = Some(until);
    }

    /// Whether `class` may send now: no failure waiting to rewind, no backoff running.
    pub fn ready(&mut self, class: Class, now: Instant) -> bool {
        let l = self.lane(class);
        if l.failed.is_some() || l.pause.is_some_and(|t| now < t) {
            return false;
        }
        l.pause = None;
        true
    }

    /// Where the next read of `class` starts (after this sequence number).
    pub fn cursor(&self, class: Class) -> u64 {
        self.lanes[slot(class)].cursor
    }

    /// `seq` of `class` was handed to the producer.
    pub fn sent(&mut self, class: Class, seq: u64) {
        let l = self.lane(class);
        l.cursor = seq;
        l.in_flight += 1;
    }

    /// `seq` of `class` went to the dead letters before it was sent: the lane goes past it.
    pub fn skipped(&mut self, class: Class, seq: u64) {
        self.lane(class).cursor = seq;
    }

    /// The producer would not take `seq` of `class` (a failure, not a full queue): the lane
    /// retries from it once what it has in flight settled.
    pub fn refused(&mut self, class: Class, seq: u64) {
        let l = self.lane(class);
        l.failed = Some(l.failed.map_or(seq, |f| f.min(seq)));
    }

    /// The delivery of `seq` of `class` ended.
    pub fn settled(&mut self, class: Class, seq: u64, how: Settled) {
        let l = self.lane(class);
        l.in_flight = l.in_flight.saturating_sub(1);
        match how {
            Settled::Delivered => l.backoff.reset(),
            Settled::Dead => {}
            Settled::Failed => l.failed = Some(l.failed.map_or(seq, |f| f.min(seq))),
        }
    }

    /// Each lane with a failed record and nothing left in flight rewinds to that record and
    /// waits its backoff from `now`.
    pub fn rewind(&mut self, now: Instant) -> Vec<Rewound> {
        let mut v = Vec::new();
        for class in Class::ALL {
            let l = self.lane(class);
            if let (Some(seq), 0) = (l.failed, l.in_flight) {
                l.cursor = seq.saturating_sub(1);
                l.failed = None;
                let delay = l.backoff.next_delay();
                l.pause = Some(now + delay);
                v.push(Rewound { class, seq, delay });
            }
        }
        v
    }

    /// How long the loop may sleep: while every lane waits, until that pause ends; else until
    /// the first lane's backoff ends; at most [`MAX_WAIT`].
    pub fn wait(&self, now: Instant) -> Duration {
        let until = match self.pause_all {
            Some(t) if now < t => Some(t),
            _ => self.lanes.iter().filter_map(|l| l.pause).min(),
        };
        until
            .map_or(MAX_WAIT, |t| t.saturating_duration_since(now))
            .min(MAX_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Class = Class::Alert;
    const T: Class = Class::Telemetry;

    #[test]
    fn a_failed_record_rewinds_its_lane_only_after_its_peers_settle() {
        let now = Instant::now();
        let mut l = Lanes::default();
        for seq in 10..15 {
            assert!(l.ready(T, now));
            l.sent(T, seq);
        }
        l.sent(A, 3);
        assert_eq!((l.in_flight(), l.cursor(T)), (6, 14));
        l.settled(T, 11, Settled::Failed);
        // The lane takes nothing new, the others go on.
        assert!(!l.ready(T, now));
        assert!(l.ready(A, now));
        // 12 and 13 delivered, 10 failed too: still in flight (14), no rewind yet.
        l.settled(T, 12, Settled::Delivered);
        l.settled(T, 13, Settled::Delivered);
        l.settled(T, 10, Settled::Failed);
        assert_eq!(l.rewind(now), vec![]);
        l.settled(T, 14, Settled::Delivered);
        let r = l.rewind(now);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].class, r[0].seq), (T, 10), "the lowest failed record");
        assert!(r[0].delay >= BACKOFF_MIN / 2 && r[0].delay <= BACKOFF_MIN);
        // Read again after 9, once the backoff is over.
        assert_eq!(l.cursor(T), 9);
        assert!(!l.ready(T, now));
        assert!(l.ready(T, now + BACKOFF_MIN));
        // Rewinding happens once.
        assert_eq!(l.rewind(now + BACKOFF_MIN), vec![]);
        assert_eq!(l.in_flight(), 1, "the alert");
    }

    #[test]
    fn the_backoff_doubles_while_failing_and_a_delivery_resets_it() {
        let mut now = Instant::now();
        let mut l = Lanes::default();
        let mut delays = Vec::new();
        for _ in 0..10 {
            assert!(l.ready(T, now));
            l.sent(T, 1);
            l.settled(T, 1, Settled::Failed);
            let r = l.rewind(now);
            delays.push(r[0].delay);
            now += r[0].delay;
        }
        // Jittered within [d/2, d] of 0.2 s doubling, capped at 30 s.
        let cap = |i: u32| (BACKOFF_MIN * 2u32.pow(i)).min(BACKOFF_MAX);
        for (i, d) in delays.iter().enumerate() {
            let c = cap(i as u32);
            assert!(*d >= c / 2 && *d <= c, "attempt {i}: {d:?} vs {c:?}");
        }
        assert!(delays[9] >= BACKOFF_MAX / 2);
        l.sent(T, 1);
        l.settled(T, 1, Settled::Delivered);
        l.sent(T, 2);
        l.settled(T, 2, Settled::Failed);
        assert!(
            l.rewind(now)[0].delay <= BACKOFF_MIN,
            "reset by the delivery"
        );
    }

    #[test]
    fn dead_letters_and_refusals() {
        let now = Instant::now();
        let mut l = Lanes::default();
        // Dead before sending: skipped, the lane goes on.
        l.skipped(T, 5);
        assert!(l.ready(T, now));
        assert_eq!(l.cursor(T), 5);
        // Dead after sending: settled, no retry.
        l.sent(T, 6);
        l.settled(T, 6, Settled::Dead);
        assert_eq!(l.rewind(now), vec![]);
        assert!(l.ready(T, now));
        // Refused by the producer: retried from it, with nothing in flight at once.
        l.refused(T, 7);
        assert!(!l.ready(T, now));
        let r = l.rewind(now);
        assert_eq!((r[0].seq, l.cursor(T)), (7, 6));
    }

    #[test]
    fn the_wait_is_the_first_pause_and_at_most_a_second() {
        let now = Instant::now();
        let mut l = Lanes::default();
        assert_eq!(l.wait(now), MAX_WAIT);
        l.pause_all(now + Duration::from_millis(50));
        assert!(l.all_paused(now));
        assert_eq!(l.wait(now), Duration::from_millis(50));
        assert!(!l.all_paused(now + Duration::from_millis(50)));
        assert_eq!(l.wait(now), MAX_WAIT, "cleared once over");
        l.sent(A, 1);
        l.settled(A, 1, Settled::Failed);
        let d = l.rewind(now)[0].delay;
        assert_eq!(l.wait(now), d);
        assert_eq!(l.wait(now + d), Duration::ZERO);
        // While every lane waits, a lane's backoff that ended does not wake the loop.
        l.pause_all(now + d + Duration::from_millis(30));
        assert_eq!(l.wait(now + d), Duration::from_millis(30));
    }
}
