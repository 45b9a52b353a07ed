//! Decoded MQTT messages waiting for room in the pipeline, in the order they came, each with
//! the acknowledgement it gets once what it carries is safe. Plain state: the source's loop
//! hands what [`Pending::next`] gives to the pipeline and stops reading the socket while
//! [`Pending::full`].
//!
//! A message that kept no sample (every value rejected) has nothing to wait for but the
//! messages before it: it goes to [`Held`] at once when nothing waits, else in its turn.

use std::collections::VecDeque;

use rumqttc::Publish;

use super::{Held, MAX_PENDING, MAX_PENDING_SAMPLES};
use crate::ingest::Batch;

#[derive(Debug, Default)]
pub struct Pending {
    queue: VecDeque<(Publish, Batch)>,
    /// Samples in `queue`.
    samples: usize,
}

impl Pending {
    /// A decoded message and its acknowledgement.
    pub fn push(&mut self, ack: Publish, batch: Batch, held: &mut Held) {
        if batch.samples.is_empty() && self.queue.is_empty() {
            held.nothing_kept(ack);
            return;
        }
        self.samples += batch.samples.len();
        self.queue.push_back((ack, batch));
    }

    /// More waits than [`MAX_PENDING`] messages or [`MAX_PENDING_SAMPLES`] samples allow
    /// (one message, however large, may always wait).
    pub fn full(&self) -> bool {
        self.queue.len() > MAX_PENDING
            || (self.samples > MAX_PENDING_SAMPLES && self.queue.len() > 1)
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Samples waiting.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The oldest message with samples, and its receipt number from `held` (which then waits
    /// for it); messages without samples before it go to `held` on the way.
    pub fn next(&mut self, held: &mut Held) -> Option<(u64, Batch)> {
        while let Some((ack, batch)) = self.queue.pop_front() {
            if batch.samples.is_empty() {
                held.nothing_kept(ack);
                continue;
            }
            self.samples -= batch.samples.len();
            return Some((held.handed(ack), batch));
        }
        None
    }

    /// The pipeline stalled: the newest message's samples are dropped, its acknowledgement
    /// goes to `held` (after the messages already handed over). Returns how many samples.
    pub fn drop_newest(&mut self, held: &mut Held) -> Option<usize> {
        let (ack, batch) = self.queue.pop_back()?;
        self.samples -= batch.samples.len();
        held.nothing_kept(ack);
        Some(batch.samples.len())
    }

    /// A lost connection: the packet ids mean nothing on the next one; the broker sends the
    /// messages again.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.samples = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Sample;
    use rumqttc::QoS;

    fn ack(pkid: u16) -> Publish {
        let mut p = Publish::new("t", QoS::AtLeastOnce, Vec::<u8>::new());
        p.pkid = pkid;
        p
    }

    fn batch(n: usize) -> Batch {
        (0..n)
            .map(|i| Sample {
                asset: "a".into(),
                signal: "s".into(),
                ts_ns: i as i64,
                value: 1.0,
            })
            .collect::<Vec<_>>()
            .into()
    }

    /// The packet ids `held` releases once `committed` is.
    fn released(held: &mut Held, committed: u64) -> Vec<u16> {
        let mut v = Vec::new();
        held.release(committed, |p| v.push(p.pkid));
        v
    }

    #[test]
    fn acknowledgements_keep_the_order_the_messages_came_in() {
        let (mut p, mut held) = (Pending::default(), Held::default());
        // Nothing waits: a message without samples is acknowledged at once.
        p.push(ack(1), batch(0), &mut held);
        assert!(p.is_empty());
        assert_eq!(released(&mut held, 0), [1]);
        p.push(ack(2), batch(3), &mut held);
        p.push(ack(3), batch(0), &mut held);
        p.push(ack(4), batch(2), &mut held);
        assert_eq!(p.samples(), 5);
        // 3 waits behind 2.
        assert_eq!(released(&mut held, 0), Vec::<u16>::new());
        let (n2, b2) = p.next(&mut held).unwrap();
        assert_eq!((n2, b2.samples.len()), (1, 3));
        let (n4, _) = p.next(&mut held).unwrap();
        assert_eq!(n4, 2);
        assert!(p.next(&mut held).is_none());
        assert_eq!(p.samples(), 0);
        // 2 committed: 2 and 3 acknowledged, 4 not yet.
        assert_eq!(released(&mut held, n2), [2, 3]);
        assert_eq!(released(&mut held, n4), [4]);
    }

    #[test]
    fn full_by_messages_or_by_samples_but_one_message_always_fits() {
        let (mut p, mut held) = (Pending::default(), Held::default());
        p.push(ack(1), batch(MAX_PENDING_SAMPLES + 1), &mut held);
        assert!(!p.full(), "one message alone");
        p.push(ack(2), batch(1), &mut held);
        assert!(p.full());
        p.next(&mut held);
        assert!(!p.full());
        let mut p = Pending::default();
        for i in 0..=MAX_PENDING {
            assert!(!p.full());
            p.push(ack(i as u16 + 1), batch(1), &mut held);
        }
        assert!(p.full());
    }

    #[test]
    fn a_stall_drops_the_newest_message_and_still_acknowledges_it() {
        let (mut p, mut held) = (Pending::default(), Held::default());
        p.push(ack(1), batch(2), &mut held);
        p.push(ack(2), batch(5), &mut held);
        assert_eq!(p.drop_newest(&mut held), Some(5));
        assert_eq!(p.samples(), 2);
        // Nothing was handed yet: its acknowledgement is due at once.
        assert_eq!(released(&mut held, 0), [2]);
        let (n, _) = p.next(&mut held).unwrap();
        assert_eq!(released(&mut held, n), [1]);
        assert_eq!(p.drop_newest(&mut held), None);
        p.push(ack(3), batch(1), &mut held);
        p.clear();
        assert!(p.is_empty() && p.samples() == 0);
    }
}
