//! Event-time windows: samples of several signals of one asset → fixed-shape windows, the input
//! of feature extraction ([`crate::features`]). Pure: no I/O, no clock; time is the samples'
//! event time.
//!
//! Two kinds, chosen per model in its manifest:
//!
//! **Sample windows** (`samples = N, hop = H`): the last N samples of each signal, once N have
//! arrived and then every H new samples. For signals that arrive as a dense stream, such as
//! 12 kHz vibration in batches.
//! - Samples of one signal must arrive in event-time order. One older than the signal's newest
//!   is dropped and counted as `out_of_order`.
//! - With `max_gap_secs` set, two consecutive samples further apart than that break the stream:
//!   the signal's buffer restarts (a window never spans a gap), counted as `gap`.
//! - Several signals: a window is emitted when every signal holds at least N samples and H new
//!   ones since the last window; it takes the latest N of each. Signals of one model are
//!   expected to arrive together (e.g. in one message).
//!
//! **Time windows** (`secs = T, hop_secs = S, sample_rate_hz = R`): windows `[s, s + T)` with
//! `s` a multiple of S since the epoch, resampled onto the grid `s + k/R`, `k = 0..N`,
//! `N = round(T·R)`. For irregular or slow signals (one value a minute), several signals aligned
//! on one time base.
//! - Grid value: the latest sample at or before the grid point (sample and hold). If there is
//!   none, or it is older than `max_gap_secs` (default: two grid periods), the window has a gap:
//!   it is skipped and counted as `gap`.
//! - A window closes when the asset's watermark (the newest event time seen on any of its
//!   signals, minus `lateness_secs`) reaches its end. Samples may arrive out of order until
//!   then.
//! - A sample older than the start of the next window to close can no longer change any window:
//!   dropped and counted as `late`. (The newest such sample of each signal is kept as the hold
//!   value for the next window's first grid points.)
//! - Windows close on event time only: with no new samples, an open window waits.

use std::collections::VecDeque;

use crate::features::SignalShape;

/// How a model cuts its input into windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowSpec {
    Samples {
        len: usize,
        hop: usize,
        /// Nominal sample rate (for spectral features).
        sample_rate_hz: f64,
        max_gap_secs: Option<f64>,
    },
    Time {
        secs: f64,
        hop_secs: f64,
        sample_rate_hz: f64,
        max_gap_secs: Option<f64>,
        lateness_secs: f64,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WindowError {
    #[error("a window needs at least one signal")]
    NoSignals,
    #[error("window length must be at least 1 sample")]
    Empty,
    #[error("hop must be at least 1 sample (or > 0 seconds) and at most the window length")]
    BadHop,
    #[error("sample rate must be finite and > 0")]
    BadRate,
    #[error("window of {0} grid points is too long (at most 1048576)")]
    TooLong(usize),
    #[error("{0} must be finite and >= 0")]
    BadDuration(&'static str),
}

/// Counts of what the windower did, for the status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounters {
    pub windows: u64,
    pub late: u64,
    pub out_of_order: u64,
    pub gap: u64,
    /// Samples dropped because a time window's buffer was full (a signal far denser than
    /// its `sample_rate_hz`).
    pub overflow: u64,
}

/// One window: event-time bounds and one slice per signal (model order).
#[derive(Debug)]
pub struct WindowView<'a> {
    pub start_ns: i64,
    pub end_ns: i64,
    pub signals: &'a [Vec<f64>],
}

const NS: f64 = 1e9;
const MAX_POINTS: usize = 1 << 20;

impl WindowSpec {
    /// Samples per window and sample rate of every signal.
    pub fn shape(&self) -> SignalShape {
        match *self {
            WindowSpec::Samples {
                len,
                sample_rate_hz,
                ..
            } => SignalShape {
                len,
                sample_rate_hz,
            },
            WindowSpec::Time {
                secs,
                sample_rate_hz,
                ..
            } => SignalShape {
                len: (secs * sample_rate_hz).round() as usize,
                sample_rate_hz,
            },
        }
    }

    fn validate(&self) -> Result<(), WindowError> {
        let finite_pos = |x: f64| x.is_finite() && x > 0.0;
        let gap_ok = |g: Option<f64>| g.is_none_or(|g| g.is_finite() && g >= 0.0);
        match *self {
            WindowSpec::Samples {
                len,
                hop,
                sample_rate_hz,
                max_gap_secs,
            } => {
                if len == 0 {
                    return Err(WindowError::Empty);
                }
                if len > MAX_POINTS {
                    return Err(WindowError::TooLong(len));
                }
                if hop == 0 || hop > len {
                    return Err(WindowError::BadHop);
                }
                if !finite_pos(sample_rate_hz) {
                    return Err(WindowError::BadRate);
                }
                if !gap_ok(max_gap_secs) {
                    return Err(WindowError::BadDuration("max_gap_secs"));
                }
            }
            WindowSpec::Time {
                secs,
                hop_secs,
                sample_rate_hz,
                max_gap_secs,
                lateness_secs,
            } => {
                if !finite_pos(sample_rate_hz) {
                    return Err(WindowError::BadRate);
                }
                if !finite_pos(secs) {
                    return Err(WindowError::BadDuration("secs"));
                }
                let n = (secs * sample_rate_hz).round();
                if n < 1.0 {
                    return Err(WindowError::Empty);
                }
                if n > MAX_POINTS as f64 {
                    return Err(WindowError::TooLong(n as usize));
                }
                if !finite_pos(hop_secs) || hop_secs > secs || hop_secs * NS < 1.0 {
                    return Err(WindowError::BadHop);
                }
                if !gap_ok(max_gap_secs) {
                    return Err(WindowError::BadDuration("max_gap_secs"));
                }
                if !(lateness_secs.is_finite() && lateness_secs >= 0.0) {
                    return Err(WindowError::BadDuration("lateness_secs"));
                }
            }
        }
        Ok(())
    }
}

/// Cuts the samples of one asset's signals into windows for one model.
#[derive(Debug)]
pub struct Windower {
    spec: WindowSpec,
    kind: Kind,
    /// The window handed to `emit`, one buffer per signal, reused.
    out: Vec<Vec<f64>>,
    counters: WindowCounters,
}

#[derive(Debug)]
enum Kind {
    Samples(Vec<SampleRing>),
    Time(TimeState),
}

#[derive(Debug, Default)]
struct SampleRing {
    buf: VecDeque<(i64, f64)>,
    fresh: usize,
}

#[derive(Debug)]
struct TimeState {
    signals: Vec<VecDeque<(i64, f64)>>,
    /// Start of the next window to close; `None` until the first sample.
    next_start: Option<i64>,
    watermark: i64,
    len_ns: i64,
    hop_ns: i64,
    period_ns: f64,
    max_gap_ns: i64,
    lateness_ns: i64,
    closed_any: bool,
    /// Per signal, at most this many samples are buffered.
    max_buffered: usize,
}

impl Windower {
    pub fn new(spec: WindowSpec, signals: usize) -> Result<Windower, WindowError> {
        if signals == 0 {
            return Err(WindowError::NoSignals);
        }
        spec.validate()?;
        let len = spec.shape().len;
        let kind = match spec {
            WindowSpec::Samples { .. } => Kind::Samples(
                (0..signals)
                    .map(|_| SampleRing {
                        buf: VecDeque::with_capacity(len + 1),
                        fresh: 0,
                    })
                    .collect(),
            ),
            WindowSpec::Time {
                secs,
                hop_secs,
                sample_rate_hz,
                max_gap_secs,
                lateness_secs,
            } => {
                let period = NS / sample_rate_hz;
                Kind::Time(TimeState {
                    signals: (0..signals).map(|_| VecDeque::new()).collect(),
                    next_start: None,
                    watermark: i64::MIN,
                    len_ns: (secs * NS).round() as i64,
                    hop_ns: (hop_secs * NS).round() as i64,
                    period_ns: period,
                    max_gap_ns: max_gap_secs
                        .map_or((2.0 * period).round() as i64, |g| (g * NS).round() as i64),
                    lateness_ns: (lateness_secs * NS).round() as i64,
                    closed_any: false,
                    max_buffered: 8 * len + 1024,
                })
            }
        };
        Ok(Windower {
            spec,
            kind,
            out: (0..signals).map(|_| Vec::with_capacity(len)).collect(),
            counters: WindowCounters::default(),
        })
    }

    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    pub fn counters(&self) -> WindowCounters {
        self.counters
    }

    /// Add one sample of signal `signal` (index in model order); `emit` is called for every
    /// window this completes, oldest first.
    pub fn push(
        &mut self,
        signal: usize,
        ts_ns: i64,
        value: f64,
        mut emit: impl FnMut(WindowView<'_>),
    ) {
        let len = self.spec.shape().len;
        match (&mut self.kind, self.spec) {
            (
                Kind::Samples(rings),
                WindowSpec::Samples {
                    hop, max_gap_secs, ..
                },
            ) => {
                let Some(ring) = rings.get_mut(signal) else {
                    return;
                };
                if let Some(&(last, _)) = ring.buf.back() {
                    if ts_ns < last {
                        self.counters.out_of_order += 1;
                        return;
                    }
                    if max_gap_secs.is_some_and(|g| (ts_ns - last) as f64 > g * NS) {
                        self.counters.gap += 1;
                        ring.buf.clear();
                        ring.fresh = 0;
                    }
                }
                ring.buf.push_back((ts_ns, value));
                if ring.buf.len() > len {
                    ring.buf.pop_front();
                }
                ring.fresh += 1;
                let ready = rings.iter().all(|r| r.buf.len() >= len && r.fresh >= hop);
                if ready {
                    let mut start = i64::MAX;
                    let mut end = i64::MIN;
                    for (r, out) in rings.iter_mut().zip(self.out.iter_mut()) {
                        r.fresh = 0;
                        out.clear();
                        out.extend(r.buf.iter().map(|&(_, v)| v));
                        start = start.min(r.buf.front().map_or(i64::MAX, |s| s.0));
                        end = end.max(r.buf.back().map_or(i64::MIN, |s| s.0));
                    }
                    self.counters.windows += 1;
                    emit(WindowView {
                        start_ns: start,
                        end_ns: end,
                        signals: &self.out,
                    });
                }
            }
            (Kind::Time(st), WindowSpec::Time { .. }) => {
                if signal >= st.signals.len() {
                    return;
                }
                // The first window starts at the first hop boundary at or after the first
                // sample; earlier samples only serve as hold values for it.
                let next = *st.next_start.get_or_insert_with(|| {
                    ts_ns.div_euclid(st.hop_ns) * st.hop_ns
                        + if ts_ns.rem_euclid(st.hop_ns) == 0 {
                            0
                        } else {
                            st.hop_ns
                        }
                });
                let buf = &mut st.signals[signal];
                if ts_ns < next {
                    if st.closed_any {
                        self.counters.late += 1;
                    }
                    // The newest sample before the next window is its hold value.
                    match buf.front().filter(|&&(t, _)| t < next) {
                        Some(&(t, _)) if t >= ts_ns => {}
                        Some(_) => buf[0] = (ts_ns, value),
                        None => buf.push_front((ts_ns, value)),
                    }
                    return;
                }
                if buf.len() >= st.max_buffered {
                    buf.pop_front();
                    self.counters.overflow += 1;
                }
                // Insert in event-time order (usually at the back).
                let at = buf.partition_point(|&(t, _)| t <= ts_ns);
                buf.insert(at, (ts_ns, value));
                st.watermark = st.watermark.max(ts_ns);
                let mut counters = self.counters;
                close_time_windows(st, len, &mut self.out, &mut counters, &mut emit);
                self.counters = counters;
            }
            _ => {}
        }
    }
}

/// Close every window whose end the watermark passed.
fn close_time_windows(
    st: &mut TimeState,
    len: usize,
    out: &mut [Vec<f64>],
    counters: &mut WindowCounters,
    emit: &mut impl FnMut(WindowView<'_>),
) {
    while let Some(start) = st.next_start {
        let end = start + st.len_ns;
        if st.watermark.saturating_sub(st.lateness_ns) < end {
            return;
        }
        let mut complete = true;
        for (buf, o) in st.signals.iter().zip(out.iter_mut()) {
            o.clear();
            let mut i = 0usize; // index of the first sample after the current grid point
            for k in 0..len {
                let t = start + (k as f64 * st.period_ns).round() as i64;
                while i < buf.len() && buf[i].0 <= t {
                    i += 1;
                }
                match i.checked_sub(1).map(|j| buf[j]) {
                    Some((ts, v)) if t - ts <= st.max_gap_ns => o.push(v),
                    _ => {
                        complete = false;
                        break;
                    }
                }
            }
            if !complete {
                break;
            }
        }
        if complete {
            counters.windows += 1;
            emit(WindowView {
                start_ns: start,
                end_ns: end,
                signals: out,
            });
        } else {
            counters.gap += 1;
        }
        let next = start + st.hop_ns;
        st.next_start = Some(next);
        st.closed_any = true;
        // Drop samples no later window can use; keep the newest one before `next` to hold.
        for buf in &mut st.signals {
            while buf.len() >= 2 && buf[1].0 <= next {
                buf.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests;
