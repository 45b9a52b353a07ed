//! Sample windows: the last N samples of each signal, every H new ones; and the recovery from a
//! jump back of one signal's time (see the parent module's header for the rules).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::snapshot::RestoreError;
use super::{dur_ns, WindowCounters, WindowView, JUMP_CONFIRM, MAX_WINDOWS_PER_PUSH, NS};

/// What a sample windower holds, per signal: its last samples, how many came since the last
/// window, and the suspects of a jump back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    rings: Vec<RingSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RingSnapshot {
    buf: Vec<(i64, f64)>,
    fresh: usize,
    back: Vec<(i64, f64)>,
}

impl Snapshot {
    /// (Tests: a snapshot damaged on disk.)
    #[cfg(test)]
    pub(super) fn push_too_many(&mut self, n: usize) {
        let last = self.rings[0].buf.last().copied().unwrap_or((0, 0.0));
        self.rings[0].buf.extend(std::iter::repeat_n(last, n));
    }

    pub(super) fn values(&self) -> usize {
        self.rings.iter().map(|r| r.buf.len() + r.back.len()).sum()
    }
}

#[derive(Debug)]
pub(super) struct SampleState {
    rings: Vec<SampleRing>,
    len: usize,
    hop: usize,
    max_gap_secs: Option<f64>,
    /// A step back larger than this starts a run of suspects (`J_s`).
    jump_ns: i128,
    /// Suspects that confirm a jump back (`K_s`): a batch re-sent from the past shorter than
    /// a window is only out of order.
    confirm: usize,
}

#[derive(Debug, Default)]
struct SampleRing {
    buf: VecDeque<(i64, f64)>,
    fresh: usize,
    /// Consecutive samples more than `jump_ns` older than the newest, in event-time order.
    back: Vec<(i64, f64)>,
}

impl SampleState {
    pub(super) fn new(
        len: usize,
        hop: usize,
        sample_rate_hz: f64,
        max_gap_secs: Option<f64>,
        signals: usize,
    ) -> SampleState {
        let span = dur_ns(len as f64 / sample_rate_hz);
        SampleState {
            rings: (0..signals)
                .map(|_| SampleRing {
                    buf: VecDeque::with_capacity(len + 1),
                    fresh: 0,
                    back: Vec::new(),
                })
                .collect(),
            len,
            hop,
            max_gap_secs,
            jump_ns: span.max(max_gap_secs.map_or(0, dur_ns)),
            confirm: JUMP_CONFIRM.max(len),
        }
    }

    pub(super) fn snapshot(&self, max_values: usize) -> Option<Snapshot> {
        let values: usize = self.rings.iter().map(|r| r.buf.len() + r.back.len()).sum();
        if values == 0 || values > max_values {
            return None;
        }
        Some(Snapshot {
            rings: self
                .rings
                .iter()
                .map(|r| RingSnapshot {
                    buf: r.buf.iter().copied().collect(),
                    fresh: r.fresh,
                    back: r.back.clone(),
                })
                .collect(),
        })
    }

    pub(super) fn restore(&mut self, s: Snapshot) -> Result<(), RestoreError> {
        if s.rings.len() != self.rings.len() {
            return Err(RestoreError::Invalid("signal count"));
        }
        for r in &s.rings {
            if r.buf.len() > self.len || r.back.len() >= self.confirm {
                return Err(RestoreError::Invalid("more samples than the window holds"));
            }
            let sorted = |v: &[(i64, f64)]| v.windows(2).all(|w| w[0].0 <= w[1].0);
            if !sorted(&r.buf) || !sorted(&r.back) {
                return Err(RestoreError::Invalid("samples out of time order"));
            }
        }
        for (ring, r) in self.rings.iter_mut().zip(s.rings) {
            ring.buf = r.buf.into();
            // Only `fresh >= hop` matters and `hop <= len`: a count from disk is held to `len`,
            // so that a damaged one cannot overflow.
            ring.fresh = r.fresh.min(self.len);
            ring.back = r.back;
        }
        Ok(())
    }

    pub(super) fn push(
        &mut self,
        signal: usize,
        ts_ns: i64,
        value: f64,
        out: &mut [Vec<f64>],
        counters: &mut WindowCounters,
        emit: &mut impl FnMut(WindowView<'_>),
    ) {
        let Some(ring) = self.rings.get_mut(signal) else {
            return;
        };
        let newest = ring.buf.back().map(|&(t, _)| t);
        if let Some(last) = newest.filter(|&last| ts_ns < last) {
            let step_back = i128::from(last) - i128::from(ts_ns);
            let in_run = ring.back.last().is_none_or(|&(t, _)| t <= ts_ns);
            if step_back <= self.jump_ns || !in_run {
                // An ordinary sample out of order; it also breaks a run of suspects (a run
                // out of order is not a new time base). A suspect that breaks the run starts
                // a new one.
                counters.out_of_order += ring.back.len() as u64;
                ring.back.clear();
                if step_back <= self.jump_ns {
                    counters.out_of_order += 1;
                    return;
                }
            }
            ring.back.push((ts_ns, value));
            if ring.back.len() < self.confirm {
                return;
            }
            // Confirmed: the stream continues on an earlier time base. The asset's buffers
            // restart, and what every signal holds of the new base is replayed in event-time
            // order, so that signals arriving together stay aligned.
            counters.time_jumps += 1;
            let mut held: Vec<(i64, usize, f64)> = Vec::new();
            for (j, r) in self.rings.iter_mut().enumerate() {
                held.extend(r.back.drain(..).map(|(t, v)| (t, j, v)));
                r.buf.clear();
                r.fresh = 0;
            }
            held.sort_by_key(|&(t, j, _)| (t, j));
            let mut budget = MAX_WINDOWS_PER_PUSH;
            for (t, j, v) in held {
                self.accept(j, t, v, out, counters, emit, &mut budget);
            }
            return;
        }
        if !ring.back.is_empty() {
            counters.out_of_order += ring.back.len() as u64;
            ring.back.clear();
        }
        self.accept(signal, ts_ns, value, out, counters, emit, &mut 1);
    }

    /// Append a sample in order; emit the window it completes, if any and if `budget` allows
    /// (else count it as `skipped_burst`).
    #[allow(clippy::too_many_arguments)] // the windower's parts, lent for one push
    fn accept(
        &mut self,
        signal: usize,
        ts_ns: i64,
        value: f64,
        out: &mut [Vec<f64>],
        counters: &mut WindowCounters,
        emit: &mut impl FnMut(WindowView<'_>),
        budget: &mut usize,
    ) {
        let (len, hop) = (self.len, self.hop);
        let Some(ring) = self.rings.get_mut(signal) else {
            return;
        };
        if let (Some(&(last, _)), Some(g)) = (ring.buf.back(), self.max_gap_secs) {
            let step = (i128::from(ts_ns) - i128::from(last)) as f64;
            if step > g * NS {
                counters.gap += 1;
                ring.buf.clear();
                ring.fresh = 0;
            }
        }
        ring.buf.push_back((ts_ns, value));
        if ring.buf.len() > len {
            ring.buf.pop_front();
        }
        ring.fresh += 1;
        if !self
            .rings
            .iter()
            .all(|r| r.buf.len() >= len && r.fresh >= hop)
        {
            return;
        }
        if *budget == 0 {
            counters.skipped_burst += 1;
            for r in &mut self.rings {
                r.fresh = 0;
            }
            return;
        }
        *budget -= 1;
        let mut start = i64::MAX;
        let mut end = i64::MIN;
        for (r, o) in self.rings.iter_mut().zip(out.iter_mut()) {
            r.fresh = 0;
            o.clear();
            o.extend(r.buf.iter().map(|&(_, v)| v));
            start = start.min(r.buf.front().map_or(i64::MAX, |s| s.0));
            end = end.max(r.buf.back().map_or(i64::MIN, |s| s.0));
        }
        counters.windows += 1;
        counters.evaluated += 1;
        emit(WindowView {
            start_ns: start,
            end_ns: end,
            signals: out,
        });
    }
}
