//! Fixed interval buckets per signal: count, min, max, mean, last over `[start, start + width)`.
//!
//! Buckets are aligned to the Unix epoch in event time (`start = floor(ts / width) * width`),
//! so every gateway cuts the same intervals. Rules:
//! - a sample in the open bucket updates it;
//! - a sample in a later bucket closes the open one (emitted) and opens its own; empty
//!   intervals in between produce nothing;
//! - a sample older than the open bucket is **late**: it is dropped from telemetry and counted
//!   (the bucket it belongs to has already been sent); after
//!   [`LateStreak::REBASE_AFTER`] late samples in a row the signal's time went back: the open
//!   bucket is closed (emitted) and the late sample opens a new one ([`PushOutcome::Rebased`]),
//!   so a clock corrected backwards costs at most that many samples minus one. An interval can
//!   then be reported twice, with disjoint counts;
//! - a bucket that received nothing for `width + grace` of wall-clock time is closed by
//!   [`IntervalBuckets::close_idle`], so a signal that stops still reports its last interval.
//!
//! `last` is the value with the greatest event time in the bucket, not the last to arrive.

use crate::util::{FastMap, LateStreak, NamePair};
use std::sync::Arc;

/// One signal's open or closed bucket.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bucket {
    pub start_ns: i64,
    pub end_ns: i64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub last: f64,
    last_ts: i64,
}

impl Bucket {
    fn open(start_ns: i64, width_ns: i64, ts: i64, v: f64) -> Bucket {
        Bucket {
            start_ns,
            end_ns: start_ns.saturating_add(width_ns),
            count: 1,
            min: v,
            max: v,
            sum: v,
            last: v,
            last_ts: ts,
        }
    }

    fn add(&mut self, ts: i64, v: f64) {
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        if ts >= self.last_ts {
            self.last = v;
            self.last_ts = ts;
        }
    }

    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }
}

#[derive(Debug)]
struct Slot {
    width_ns: i64,
    open: Option<Bucket>,
    /// Wall-clock time of the last sample, for idle closing.
    touched_ns: i64,
    late: LateStreak,
}

/// What pushing one sample did.
#[derive(Debug, PartialEq)]
pub enum PushOutcome {
    /// Added to the open bucket.
    Added,
    /// Closed the previous bucket (returned) and opened a new one.
    Closed(Bucket),
    /// Older than the open bucket; not counted in any bucket.
    Late,
    /// Late once too often in a row: the open bucket was closed (returned) and this sample
    /// opened a new, earlier one.
    Rebased(Bucket),
}

/// The buckets of every (asset, signal).
#[derive(Debug, Default)]
pub struct IntervalBuckets {
    slots: FastMap<(Arc<str>, Arc<str>), Slot>,
}

impl IntervalBuckets {
    pub fn push(
        &mut self,
        asset: &Arc<str>,
        signal: &Arc<str>,
        width_ns: i64,
        ts: i64,
        v: f64,
        now_ns: i64,
    ) -> PushOutcome {
        let width_ns = width_ns.max(1);
        // Saturating: ts - ts mod width cannot leave i64 except at its very bottom.
        let start = ts.saturating_sub(ts.rem_euclid(width_ns));
        // Looked up by reference: the names are cloned only when a signal is first seen.
        let key: &dyn NamePair = &(asset.as_ref(), signal.as_ref());
        let Some(slot) = self.slots.get_mut(key) else {
            self.slots.insert(
                (asset.clone(), signal.clone()),
                Slot {
                    width_ns,
                    open: Some(Bucket::open(start, width_ns, ts, v)),
                    touched_ns: now_ns,
                    late: LateStreak::default(),
                },
            );
            return PushOutcome::Added;
        };
        slot.touched_ns = now_ns;
        if slot.open.as_ref().is_some_and(|b| start < b.start_ns) {
            if !slot.late.late() {
                return PushOutcome::Late;
            }
            let closed = slot.open.replace(Bucket::open(start, width_ns, ts, v));
            return closed.map_or(PushOutcome::Added, PushOutcome::Rebased);
        }
        slot.late.on_time();
        match &mut slot.open {
            None => {
                slot.open = Some(Bucket::open(start, width_ns, ts, v));
                PushOutcome::Added
            }
            Some(b) if start == b.start_ns => {
                b.add(ts, v);
                PushOutcome::Added
            }
            Some(_) => {
                let closed = slot.open.replace(Bucket::open(start, width_ns, ts, v));
                closed.map_or(PushOutcome::Added, PushOutcome::Closed)
            }
        }
    }

    /// Close buckets that have not been touched for `width + grace` of wall-clock time.
    pub fn close_idle(
        &mut self,
        now_ns: i64,
        grace_ns: i64,
        mut emit: impl FnMut(&Arc<str>, &Arc<str>, Bucket),
    ) {
        for ((asset, signal), slot) in self.slots.iter_mut() {
            if now_ns.saturating_sub(slot.touched_ns) >= slot.width_ns.saturating_add(grace_ns) {
                if let Some(b) = slot.open.take() {
                    emit(asset, signal, b);
                }
            }
        }
    }

    /// Close every open bucket (end of input or shutdown).
    pub fn close_all(&mut self, mut emit: impl FnMut(&Arc<str>, &Arc<str>, Bucket)) {
        for ((asset, signal), slot) in self.slots.iter_mut() {
            if let Some(b) = slot.open.take() {
                emit(asset, signal, b);
            }
        }
    }
}

/// One signal's bucket state as the processing checkpoint keeps it
/// ([`IntervalBuckets::snapshot`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SlotState {
    pub asset: String,
    pub signal: String,
    pub width_ns: i64,
    pub open: Option<Bucket>,
    pub touched_ns: i64,
    pub late: LateStreak,
}

impl IntervalBuckets {
    /// Every signal's state, sorted by name (the same state gives the same bytes).
    pub fn snapshot(&self) -> Vec<SlotState> {
        let mut v: Vec<SlotState> = self
            .slots
            .iter()
            .map(|((a, s), slot)| SlotState {
                asset: a.to_string(),
                signal: s.to_string(),
                width_ns: slot.width_ns,
                open: slot.open.clone(),
                touched_ns: slot.touched_ns,
                late: slot.late,
            })
            .collect();
        v.sort_by(|x, y| (&x.asset, &x.signal).cmp(&(&y.asset, &y.signal)));
        v
    }

    /// Takes back a state from [`IntervalBuckets::snapshot`] for a signal that is still
    /// configured with the same width (`names` gives the configured names and width);
    /// false (nothing changed) otherwise.
    pub fn restore(
        &mut self,
        st: SlotState,
        names: impl FnOnce(&str, &str) -> Option<(Arc<str>, Arc<str>, i64)>,
    ) -> bool {
        match names(&st.asset, &st.signal) {
            Some((a, s, width)) if width.max(1) == st.width_ns => {
                let whole = st.open.as_ref().is_none_or(|b| {
                    b.count > 0 && b.end_ns == b.start_ns.saturating_add(st.width_ns)
                });
                if !whole {
                    return false;
                }
                self.slots.insert(
                    (a, s),
                    Slot {
                        width_ns: st.width_ns,
                        open: st.open,
                        touched_ns: st.touched_ns,
                        late: st.late,
                    },
                );
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_bucket_goes_on_where_the_snapshot_left_it() {
        let (a, s) = names();
        let mut b = IntervalBuckets::default();
        b.push(&a, &s, 10, 11, 3.0, 5);
        b.push(&a, &s, 10, 12, 1.0, 6);
        let snap = b.snapshot();
        let mut back = IntervalBuckets::default();
        let named = |x: &str, y: &str| Some((Arc::from(x), Arc::from(y), 10));
        assert!(back.restore(snap[0].clone(), named));
        assert_eq!(back.snapshot(), snap);
        back.push(&a, &s, 10, 15, 5.0, 7);
        match back.push(&a, &s, 10, 25, 0.0, 8) {
            PushOutcome::Closed(k) => {
                assert_eq!((k.count, k.min, k.max, k.sum), (3, 1.0, 5.0, 9.0))
            }
            other => panic!("expected the restored bucket closed, got {other:?}"),
        }
        // A signal whose width changed, or that is gone, starts afresh.
        let mut other = IntervalBuckets::default();
        assert!(!other.restore(snap[0].clone(), |x, y| Some((
            Arc::from(x),
            Arc::from(y),
            20
        ))));
        assert!(!other.restore(snap[0].clone(), |_, _| None));
        assert!(other.snapshot().is_empty());
    }

    fn names() -> (Arc<str>, Arc<str>) {
        (Arc::from("a"), Arc::from("s"))
    }

    #[test]
    fn a_later_sample_closes_the_bucket_with_its_aggregates() {
        let (a, s) = names();
        let mut b = IntervalBuckets::default();
        assert_eq!(b.push(&a, &s, 10, 11, 3.0, 0), PushOutcome::Added);
        assert_eq!(b.push(&a, &s, 10, 19, 1.0, 0), PushOutcome::Added);
        assert_eq!(b.push(&a, &s, 10, 15, 5.0, 0), PushOutcome::Added);
        match b.push(&a, &s, 10, 42, 9.0, 0) {
            PushOutcome::Closed(k) => {
                assert_eq!((k.start_ns, k.end_ns, k.count), (10, 20, 3));
                assert_eq!((k.min, k.max, k.mean(), k.last), (1.0, 5.0, 3.0, 1.0));
            }
            other => panic!("expected a closed bucket, got {other:?}"),
        }
    }

    #[test]
    fn samples_older_than_the_open_bucket_are_late() {
        let (a, s) = names();
        let mut b = IntervalBuckets::default();
        b.push(&a, &s, 10, 25, 1.0, 0);
        assert_eq!(b.push(&a, &s, 10, 9, 1.0, 0), PushOutcome::Late);
        assert_eq!(b.push(&a, &s, 10, 21, 2.0, 0), PushOutcome::Added);
    }

    #[test]
    fn a_signal_whose_time_went_back_is_followed_after_the_rebase_count() {
        let (a, s) = names();
        let mut b = IntervalBuckets::default();
        // One sample from far ahead (within what the source let in), then the right time.
        b.push(&a, &s, 10, 1_000, 7.0, 0);
        let k = LateStreak::REBASE_AFTER as i64;
        for i in 0..k - 1 {
            assert_eq!(b.push(&a, &s, 10, 20 + i, 1.0, 0), PushOutcome::Late);
        }
        match b.push(&a, &s, 10, 20 + k - 1, 2.0, 0) {
            PushOutcome::Rebased(old) => assert_eq!((old.start_ns, old.count), (1_000, 1)),
            other => panic!("expected a rebase, got {other:?}"),
        }
        assert_eq!(b.push(&a, &s, 10, 26, 3.0, 0), PushOutcome::Added);
        let mut closed = Vec::new();
        b.close_all(|_, _, k| closed.push(k));
        assert_eq!((closed[0].start_ns, closed[0].count), (20, 2));
    }

    #[test]
    fn a_late_sample_between_on_time_ones_does_not_rebase() {
        let (a, s) = names();
        let mut b = IntervalBuckets::default();
        b.push(&a, &s, 10, 100, 1.0, 0);
        for i in 0..20 {
            assert_eq!(b.push(&a, &s, 10, 5, 1.0, 0), PushOutcome::Late);
            assert_eq!(b.push(&a, &s, 10, 101 + i % 5, 1.0, 0), PushOutcome::Added);
        }
    }

    #[test]
    fn extreme_timestamps_neither_panic_nor_wrap() {
        let (a, s) = names();
        let mut b = IntervalBuckets::default();
        for ts in [i64::MAX, i64::MIN, 0, -1, i64::MAX - 1, i64::MIN + 1] {
            let _ = b.push(&a, &s, 60_000_000_000, ts, 1.0, 0);
        }
        let mut closed = Vec::new();
        b.close_all(|_, _, k| closed.push(k));
        assert!(closed.iter().all(|k| k.start_ns <= k.end_ns));
    }

    #[test]
    fn idle_buckets_close_after_width_plus_grace() {
        let (a, s) = names();
        let mut b = IntervalBuckets::default();
        b.push(&a, &s, 10, 5, 1.0, 100);
        let mut closed = Vec::new();
        b.close_idle(114, 5, |_, _, k| closed.push(k));
        assert!(closed.is_empty());
        b.close_idle(115, 5, |_, _, k| closed.push(k));
        assert_eq!(closed.len(), 1);
        b.close_all(|_, _, k| closed.push(k));
        assert_eq!(closed.len(), 1, "nothing left open");
    }
}
