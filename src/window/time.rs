//! Time windows on an epoch-aligned grid, closed by the asset's watermark with a bounded number
//! of windows evaluated per push, and the suspect/confirm rule for time jumps (see the parent
//! module's header for the rules and numbers).
//!
//! All times inside are `i128` ns: an `i64` sample time plus or minus durations clamped to 2¹⁰⁰
//! ns cannot overflow.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::snapshot::RestoreError;
use super::{
    add, dur_ns, ns, to_i64, WindowCounters, WindowView, JUMP_CONFIRM, MAX_SUSPECT_SAMPLES,
    MAX_WINDOWS_PER_PUSH, NS,
};

/// What a time windower holds: per signal its samples (event-time order), where the next
/// window starts, the newest time, and the suspects of an unconfirmed jump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub(super) signals: Vec<Vec<(i64, f64)>>,
    pub(super) next_start: Option<i128>,
    watermark: Option<i64>,
    closed_any: bool,
    held: Vec<(usize, i64, f64)>,
    hi: i64,
    times: Vec<i64>,
    first_dist: i128,
    up: bool,
}

impl Snapshot {
    pub(super) fn values(&self) -> usize {
        self.signals.iter().map(Vec::len).sum::<usize>() + self.held.len()
    }
}

#[derive(Debug)]
pub(super) struct TimeState {
    /// Per signal, samples in event-time order.
    signals: Vec<VecDeque<(i64, f64)>>,
    /// Start of the next window to close; `None` until the first sample. Always a multiple of
    /// `hop_ns`.
    next_start: Option<i128>,
    /// Newest event time accepted; `None` until the first sample.
    watermark: Option<i64>,
    len_ns: i128,
    hop_ns: i128,
    /// Grid points per window (`N`).
    points: usize,
    period_ns: f64,
    /// Offset of the last grid point from the window start.
    last_off: i128,
    /// Largest distance between consecutive grid points (`⌈period⌉ + 1` for rounding).
    spacing: i128,
    max_gap_ns: i128,
    lateness_ns: i128,
    /// Further than this from the watermark, a sample is a suspect time jump (`J`).
    jump_ns: i128,
    closed_any: bool,
    /// Per signal, at most this many samples are buffered.
    max_buffered: usize,
    suspect: Suspect,
}

/// Samples held while a time jump is unconfirmed, in arrival order.
#[derive(Debug, Default)]
struct Suspect {
    held: Vec<(usize, i64, f64)>,
    hi: i64,
    /// Distinct timestamps among `held` (at most [`JUMP_CONFIRM`]).
    times: Vec<i64>,
    /// Distance of the first held sample from the watermark.
    first_dist: i128,
    /// Whether they are ahead of the watermark (else behind).
    up: bool,
}

/// Why a window could not be made.
enum Gap {
    /// A hole too narrow to rule out the windows that follow.
    Narrow,
    /// No sample after the hole: every later window has a gap too.
    Rest,
    /// A hole ending at the sample at this time (or before the first sample): every later
    /// window starting before it has a gap too.
    Until(i128),
}

impl TimeState {
    pub(super) fn new(
        secs: f64,
        hop_secs: f64,
        sample_rate_hz: f64,
        max_gap_secs: Option<f64>,
        lateness_secs: f64,
        points: usize,
        signals: usize,
    ) -> TimeState {
        let period = NS / sample_rate_hz;
        let len_ns = dur_ns(secs);
        let hop_ns = dur_ns(hop_secs).max(1);
        let max_gap_ns = max_gap_secs.map_or(dur_ns(2.0 / sample_rate_hz), dur_ns);
        let lateness_ns = dur_ns(lateness_secs);
        TimeState {
            signals: (0..signals).map(|_| VecDeque::new()).collect(),
            next_start: None,
            watermark: None,
            len_ns,
            hop_ns,
            points,
            period_ns: period,
            last_off: ns(points.saturating_sub(1) as f64 * period),
            spacing: dur_ns(1.0 / sample_rate_hz).saturating_add(2),
            max_gap_ns,
            lateness_ns,
            jump_ns: len_ns + lateness_ns + hop_ns + max_gap_ns,
            closed_any: false,
            max_buffered: 8 * points + 1024,
            suspect: Suspect::default(),
        }
    }

    pub(super) fn snapshot(&self, max_values: usize) -> Option<Snapshot> {
        let values =
            self.signals.iter().map(VecDeque::len).sum::<usize>() + self.suspect.held.len();
        if values > max_values || self.watermark.is_none() {
            return None;
        }
        Some(Snapshot {
            signals: self
                .signals
                .iter()
                .map(|b| b.iter().copied().collect())
                .collect(),
            next_start: self.next_start,
            watermark: self.watermark,
            closed_any: self.closed_any,
            held: self.suspect.held.clone(),
            hi: self.suspect.hi,
            times: self.suspect.times.clone(),
            first_dist: self.suspect.first_dist,
            up: self.suspect.up,
        })
    }

    pub(super) fn restore(&mut self, s: Snapshot) -> Result<(), RestoreError> {
        use RestoreError::Invalid;
        if s.signals.len() != self.signals.len() {
            return Err(Invalid("signal count"));
        }
        if s.signals.iter().any(|b| b.len() > self.max_buffered)
            || s.held.len() > MAX_SUSPECT_SAMPLES
            || s.times.len() > JUMP_CONFIRM
        {
            return Err(Invalid("more samples than the window holds"));
        }
        if s.signals
            .iter()
            .any(|b| !b.windows(2).all(|w| w[0].0 <= w[1].0))
        {
            return Err(Invalid("samples out of time order"));
        }
        if s.held
            .iter()
            .any(|&(signal, _, _)| signal >= s.signals.len())
        {
            return Err(Invalid("a held sample of no signal"));
        }
        // The next window starts on the grid, within a hop of an i64 time; the distance of a
        // suspect from the watermark is one of two i64 times.
        let range = i128::from(i64::MIN) - self.hop_ns..=i128::from(i64::MAX) + self.hop_ns;
        if s.next_start
            .is_some_and(|n| !range.contains(&n) || n.rem_euclid(self.hop_ns) != 0)
            || !(0..=1i128 << 65).contains(&s.first_dist)
        {
            return Err(Invalid("a time off the grid"));
        }
        self.signals = s.signals.into_iter().map(VecDeque::from).collect();
        self.next_start = s.next_start;
        self.watermark = s.watermark;
        self.closed_any = s.closed_any;
        self.suspect = Suspect {
            held: s.held,
            hi: s.hi,
            times: s.times,
            first_dist: s.first_dist,
            up: s.up,
        };
        Ok(())
    }

    fn floor_hop(&self, t: i128) -> i128 {
        t.div_euclid(self.hop_ns) * self.hop_ns
    }

    fn ceil_hop(&self, t: i128) -> i128 {
        let f = self.floor_hop(t);
        if f == t {
            f
        } else {
            f + self.hop_ns
        }
    }

    fn grid_off(&self, k: usize) -> i128 {
        ns(k as f64 * self.period_ns)
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
        if signal >= self.signals.len() {
            return;
        }
        let far = self
            .watermark
            .is_some_and(|w| (i128::from(ts_ns) - i128::from(w)).abs() > self.jump_ns);
        if !far {
            if !self.suspect.held.is_empty() {
                // The stream goes on on its time base: what was held was an outlier.
                counters.outlier += self.suspect.held.len() as u64;
                self.suspect.held.clear();
                self.suspect.times.clear();
            }
            self.accept(signal, ts_ns, value, counters);
            self.close(out, counters, emit);
            return;
        }
        self.hold(signal, ts_ns, value, counters);
        if self.suspect.times.len() >= JUMP_CONFIRM {
            self.confirm(out, counters, emit);
        }
    }

    /// Hold a suspect sample; one inconsistent with those held replaces them.
    ///
    /// Consistent: on the same side of the watermark, not earlier than the newest held one by
    /// more than `J`, and not later than it by more than `max(J, 2·d)`, `d` being how far the
    /// first held sample was from the watermark. So a stream moving on (even one sparser than
    /// `J`, each step about `d`) confirms itself, while a sample behind the held ones (the
    /// stream after a wild one) or far beyond them starts over.
    fn hold(&mut self, signal: usize, ts_ns: i64, value: f64, counters: &mut WindowCounters) {
        let w = self.watermark.map_or(0, i128::from);
        let j = self.jump_ns;
        let s = &mut self.suspect;
        let t = i128::from(ts_ns);
        let up = t > w;
        let consistent = !s.held.is_empty()
            && s.up == up
            && t >= i128::from(s.hi) - j
            && t <= i128::from(s.hi) + j.max(2 * s.first_dist);
        if !consistent {
            counters.outlier += s.held.len() as u64;
            s.held.clear();
            s.times.clear();
            s.hi = ts_ns;
            s.up = up;
            s.first_dist = (t - w).abs();
        }
        s.hi = s.hi.max(ts_ns);
        if !s.times.contains(&ts_ns) {
            s.times.push(ts_ns);
        }
        if s.held.len() < MAX_SUSPECT_SAMPLES {
            s.held.push((signal, ts_ns, value));
        } else {
            counters.outlier += 1;
        }
    }

    /// `K` distinct timestamps agree: move to their time base.
    fn confirm(
        &mut self,
        out: &mut [Vec<f64>],
        counters: &mut WindowCounters,
        emit: &mut impl FnMut(WindowView<'_>),
    ) {
        counters.time_jumps += 1;
        let held = std::mem::take(&mut self.suspect.held);
        self.suspect.times.clear();
        let back = self.watermark.is_some_and(|w| self.suspect.hi < w);
        if back {
            // The windows open on the old base: from the next to close to the last one that
            // started at or before the newest sample.
            if let (Some(next), Some(w)) = (self.next_start, self.watermark) {
                let last = self.floor_hop(i128::from(w));
                if last >= next {
                    add(&mut counters.skipped_jump, (last - next) / self.hop_ns + 1);
                }
            }
            for buf in &mut self.signals {
                buf.clear();
            }
            self.next_start = None;
            self.watermark = None;
            self.closed_any = false;
        }
        for (signal, t, v) in held {
            self.accept(signal, t, v, counters);
        }
        self.close(out, counters, emit);
    }

    /// Buffer a sample (or keep it as a hold value, or count it late). Does not close windows.
    fn accept(&mut self, signal: usize, ts_ns: i64, value: f64, counters: &mut WindowCounters) {
        let t = i128::from(ts_ns);
        // The first window starts at the first hop boundary at or after the first sample;
        // earlier samples only serve as hold values for it.
        let next = match self.next_start {
            Some(n) => n,
            None => {
                let n = self.ceil_hop(t);
                self.next_start = Some(n);
                n
            }
        };
        self.watermark = Some(self.watermark.map_or(ts_ns, |w| w.max(ts_ns)));
        let buf = &mut self.signals[signal];
        if t < next {
            if self.closed_any {
                counters.late += 1;
            }
            // The newest sample before the next window is its hold value.
            match buf.front().filter(|&&(f, _)| i128::from(f) < next) {
                Some(&(f, _)) if f >= ts_ns => {}
                Some(_) => buf[0] = (ts_ns, value),
                None => buf.push_front((ts_ns, value)),
            }
            return;
        }
        if buf.len() >= self.max_buffered {
            buf.pop_front();
            counters.overflow += 1;
        }
        // Insert in event-time order (usually at the back).
        let at = buf.partition_point(|&(f, _)| f <= ts_ns);
        buf.insert(at, (ts_ns, value));
    }

    /// Close the windows whose end the watermark passed: at most [`MAX_WINDOWS_PER_PUSH`]
    /// evaluated, the rest skipped in O(1).
    fn close(
        &mut self,
        out: &mut [Vec<f64>],
        counters: &mut WindowCounters,
        emit: &mut impl FnMut(WindowView<'_>),
    ) {
        let (Some(w), Some(start)) = (self.watermark, self.next_start) else {
            return;
        };
        let due_end = i128::from(w) - self.lateness_ns;
        if start + self.len_ns > due_end {
            return; // the usual case: nothing to close
        }
        // No window starting after this can be complete: its last grid point would be more
        // than `max_gap` after the newest sample of some signal (or a signal has none).
        // (`min` over `Option`: `None`, a signal without samples, wins.)
        let horizon = self
            .signals
            .iter()
            .map(|b| b.back().map(|&(t, _)| i128::from(t)))
            .min()
            .flatten()
            .map(|t| t + self.max_gap_ns - self.last_off);
        let mut budget = MAX_WINDOWS_PER_PUSH;
        while let Some(start) = self.next_start {
            if start + self.len_ns > due_end {
                return;
            }
            let last_due = self.floor_hop(due_end - self.len_ns);
            let due = (last_due - start) / self.hop_ns + 1;
            if horizon.is_none_or(|h| start > h) {
                add(&mut counters.gap, due);
                self.advance(last_due + self.hop_ns);
                return;
            }
            if budget == 0 {
                add(&mut counters.skipped_burst, due);
                self.advance(last_due + self.hop_ns);
                return;
            }
            budget -= 1;
            counters.evaluated += 1;
            let mut next = start + self.hop_ns;
            match self.resample(start, out) {
                Ok(()) => {
                    counters.windows += 1;
                    emit(WindowView {
                        start_ns: to_i64(start),
                        end_ns: to_i64(start + self.len_ns),
                        signals: out,
                    });
                }
                Err(gap) => {
                    add(&mut counters.gap, 1);
                    // Skip the windows that start inside the hole, as far as they are due.
                    let to = match gap {
                        Gap::Narrow => next,
                        Gap::Until(b) => self.ceil_hop(b).min(last_due + self.hop_ns),
                        Gap::Rest => last_due + self.hop_ns,
                    };
                    if to > next {
                        add(&mut counters.gap, (to - next) / self.hop_ns);
                        next = to;
                    }
                }
            }
            self.advance(next);
        }
    }

    /// Move the next window to `next`; drop samples no later window can use, keeping the
    /// newest one at or before `next` as its hold value.
    fn advance(&mut self, next: i128) {
        self.next_start = Some(next);
        self.closed_any = true;
        for buf in &mut self.signals {
            while buf.len() >= 2 && i128::from(buf[1].0) <= next {
                buf.pop_front();
            }
        }
    }

    /// The window starting at `start`, resampled into `out`.
    fn resample(&self, start: i128, out: &mut [Vec<f64>]) -> Result<(), Gap> {
        for (buf, o) in self.signals.iter().zip(out.iter_mut()) {
            o.clear();
            // Index of the first sample after the current grid point.
            let mut i = buf.partition_point(|&(t, _)| i128::from(t) <= start);
            for k in 0..self.points {
                let t = start + self.grid_off(k);
                while i < buf.len() && i128::from(buf[i].0) <= t {
                    i += 1;
                }
                let held = i.checked_sub(1).map(|j| buf[j]);
                match held {
                    Some((ts, v)) if t - i128::from(ts) <= self.max_gap_ns => o.push(v),
                    _ => {
                        // The hole `(held + max_gap, next sample)` fails every grid point in
                        // it; if it is wider than the grid spacing, every window starting
                        // before its end has a point in it.
                        let after = buf.get(i).map(|&(ts, _)| i128::from(ts));
                        return Err(match (held, after) {
                            (_, None) => Gap::Rest,
                            (None, Some(b)) => Gap::Until(b),
                            (Some((a, _)), Some(b)) => {
                                if b - (i128::from(a) + self.max_gap_ns) > self.spacing {
                                    Gap::Until(b)
                                } else {
                                    Gap::Narrow
                                }
                            }
                        });
                    }
                }
            }
        }
        Ok(())
    }
}
