//! Event-time windows: samples of several signals of one asset → fixed-shape windows, the input
//! of feature extraction ([`crate::features`]). Pure: no I/O, no clock; time is the samples'
//! event time.
//!
//! Two kinds, chosen per model in its manifest:
//!
//! **Sample windows** (`samples = N, hop = H`): the last N samples of each signal, once N have
//! arrived and then every H new samples. For signals that arrive as a dense stream, such as
//! 12 kHz vibration in batches (`samples.rs`).
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
//! on one time base (`time.rs`).
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
//!
//! # Any timestamp, bounded work
//!
//! Timestamps come from devices and may be anything in `i64` nanoseconds: negative, 0,
//! `i64::MAX`, or jumping by any amount either way (a gateway booted with a 1970 clock and then
//! corrected by NTP, one row with a digit too many). The ingest time policy rejects most of
//! these before they get here; the windows are still correct and bounded for every `i64`.
//! - **No overflow.** Time arithmetic is done in `i128` (an `i64` time plus durations clamped to
//!   2¹⁰⁰ ns cannot overflow it), so nothing wraps in release or panics in debug.
//! - **Bounded work per sample.** One push evaluates (resamples and checks, emitted or found to
//!   have a gap) at most [`MAX_WINDOWS_PER_PUSH`] = 64 windows; nothing loops in proportion to
//!   a time span or a hop count. Windows that certainly have no data are skipped in O(1) and
//!   counted as `gap`: every window due after the newest sample of some signal plus
//!   `max_gap_secs`, and every window overlapping a hole in a signal (no sample for longer than
//!   `max_gap_secs` plus one grid period) once one window in it was found to have a gap. If more
//!   windows that may hold data are due than the budget (only with a hop far smaller than the
//!   window and a sparse signal), the newest of them are skipped and counted as
//!   `skipped_burst`. A sample window emits at most one window per sample (at most 64 when a
//!   confirmed jump replays its held samples, see below; more are counted as
//!   `skipped_burst`).
//!
//! # Time jumps and recovery
//!
//! **Time windows**, per asset (per model instance). Let `J = T + lateness_secs + hop_secs +
//! max_gap` (`max_gap`: `max_gap_secs`, by default two grid periods; `J` is the span that can
//! hold data of one window, plus slack; 33 s for `turbofan-rul`) and [`JUMP_CONFIRM`] `K = 3`.
//! - A sample within `J` of the watermark is handled as above. A jump back by at most `J`
//!   makes the samples behind the watermark `late` for at most `J` of event time, until the
//!   stream passes the windows already closed; a jump forward by at most `J` is ordinary data.
//! - A sample more than `J` away from the watermark (either way) is held as *suspect*: it does
//!   not move the watermark. Suspect samples consistent with one another accumulate (at most
//!   [`MAX_SUSPECT_SAMPLES`] = 1024; more are dropped as `outlier`). Consistent means: on the
//!   same side of the watermark, not earlier than the newest held one by more than `J`, and
//!   not later than it by more than `max(J, 2·d)`, `d` being how far the first held one was
//!   from the watermark. An inconsistent one replaces them (they count as `outlier`). When
//!   they carry `K` distinct timestamps, the jump is confirmed (counted in `time_jumps`):
//!   - forward: the held samples are accepted; the windows across the jump close as usual (the
//!     empty ones skipped in O(1) as `gap`);
//!   - back: the asset's window state restarts on the new time base (the windows open on the
//!     old base are discarded and counted as `skipped_jump`) and the held samples are
//!     replayed, so from there on the windows are those of a windower that started with the
//!     first held sample (exactly so for samples in event-time order).
//!
//!   Nothing of the new time base is lost; windows on it close once the watermark passes their
//!   end, as for any start. A stream sparser than `J` (consecutive samples further apart) is
//!   accepted in groups of `K` timestamps this way: nothing lost, windows delayed by up to
//!   `K − 1` samples.
//! - A sample within `J` of the watermark while samples are held drops the held ones, counted as
//!   `outlier` (so a sample more than `J` behind the watermark, alone, is an `outlier`, not
//!   `late`): a single wild timestamp (or a row of several signals sharing one) never moves
//!   the watermark, so nothing after it becomes `late`. The cost is exactly the outlier
//!   samples, as if they had never arrived. A signal whose clock disagrees with the rest of its
//!   asset for good is dropped as `outlier` while the others keep the base.
//!
//! **Sample windows** have no watermark: a forward jump is accepted (with `max_gap_secs` it
//! restarts the signal's buffer, as any gap). A sample older than its signal's newest by more
//! than `J_s = max(max_gap_secs, N/R)` is held in that signal's run of suspects; `K_s = max(3,
//! N)` consecutive such samples of one signal, in event-time order, confirm a jump back
//! (counted in `time_jumps`): the buffers of all the asset's signals restart, and the runs
//! every signal holds are replayed in event-time order (so signals sent together stay
//! aligned); windows resume once every buffer holds N samples again. A run broken by a sample
//! in order or by a smaller step back is dropped as `out_of_order` (so a batch re-sent from
//! the past, shorter than a window, is only out of order). A forward outlier
//! therefore costs, per signal, the buffer (at most N samples, refilled) and nothing of the
//! stream behind it, which resumes after `K_s` samples.
//!
//! In numbers (each checked by the tests in `tests_jumps.rs`, `tests_props.rs` and
//! `tests/packages/time_jumps.rs`):
//!
//! | what happens | time windows | sample windows |
//! |---|---|---|
//! | one wild timestamp (or one row of signals sharing it), any `i64` | dropped as `outlier`; every window as without it | windows resume N samples after it (the next `K_s` held, then replayed) |
//! | clock jump by more than `J` (`J_s`), either way | `K` = 3 distinct timestamps held, then replayed; on the new base the windows of a fresh start | `K_s` samples held, then replayed; windows resume after N |
//! | jump back by at most `J` (`J_s`) | `late` for at most `J` of event time | `out_of_order` until the stream passes its newest sample |
//! | work per sample | ≤ 64 windows evaluated | ≤ 1 window (≤ 64 when a jump is confirmed) |
//!
//! Every window emitted is featurised and scored by the model runner
//! ([`crate::model::runner`]); the counters above are in the model status (`window_drops`).

use crate::features::SignalShape;

mod samples;
mod snapshot;
mod time;

pub use snapshot::{RestoreError, WindowSnapshot};

use samples::SampleState;
use time::TimeState;

/// Most windows one push evaluates; see the module header.
pub const MAX_WINDOWS_PER_PUSH: usize = 64;
/// Distinct timestamps that confirm a time window's jump (`K`); see the module header.
pub const JUMP_CONFIRM: usize = 3;
/// The windows in progress of one runner (the models', the detectors') that go into the
/// model thread's checkpoint hold at most this many values together (about 80 KiB encoded),
/// which bounds what is written to flash at most once a second ([`checkpoint_snapshots`]).
pub const MAX_CHECKPOINT_VALUES: usize = 4096;
/// Only windows that span at least this long go into the checkpoint: one that refills in
/// moments (vibration) is not worth writing to flash every second.
pub const MIN_CHECKPOINT_SPAN_SECS: f64 = 1.0;

/// The snapshots of `windowers` that go into a checkpoint, index for index (`None`: not
/// kept): those spanning at least [`MIN_CHECKPOINT_SPAN_SECS`], the longest spans first (the
/// costliest to lose), while all together hold at most [`MAX_CHECKPOINT_VALUES`] values.
pub fn checkpoint_snapshots(windowers: &[&Windower]) -> Vec<Option<WindowSnapshot>> {
    let mut order: Vec<usize> = (0..windowers.len())
        .filter(|&i| windowers[i].span_secs() >= MIN_CHECKPOINT_SPAN_SECS)
        .collect();
    order.sort_by(|&a, &b| {
        windowers[b]
            .span_secs()
            .total_cmp(&windowers[a].span_secs())
            .then(a.cmp(&b))
    });
    let mut out = vec![None; windowers.len()];
    let mut left = MAX_CHECKPOINT_VALUES;
    for i in order {
        if let Some(s) = windowers[i].snapshot(left) {
            left -= s.values();
            out[i] = Some(s);
        }
    }
    out
}
/// Most samples a time window holds as suspect while a jump is unconfirmed.
pub const MAX_SUSPECT_SAMPLES: usize = 1024;

/// How a model cuts its input into windows.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Windows emitted.
    pub windows: u64,
    pub late: u64,
    pub out_of_order: u64,
    /// Windows skipped because a signal had no recent enough sample (time windows), or
    /// sample-window buffers restarted after a gap.
    pub gap: u64,
    /// Samples dropped because a time window's buffer was full (a signal far denser than
    /// its `sample_rate_hz`).
    pub overflow: u64,
    /// Windows due in one push beyond [`MAX_WINDOWS_PER_PUSH`], skipped.
    pub skipped_burst: u64,
    /// Windows open on the old time base when a jump back restarted the windows.
    pub skipped_jump: u64,
    /// Samples held as a suspect time jump that no [`JUMP_CONFIRM`] samples confirmed.
    pub outlier: u64,
    /// Confirmed time jumps (not a drop: the samples were kept).
    pub time_jumps: u64,
    /// Windows evaluated (emitted or found to have a gap): the work done.
    pub evaluated: u64,
}

impl WindowCounters {
    /// Add another windower's counts (a model's assets summed).
    /// (Saturating: the skipped counts come from time spans and can be near `u64::MAX`.)
    pub fn add(&mut self, o: &WindowCounters) {
        for (a, b) in [
            (&mut self.windows, o.windows),
            (&mut self.late, o.late),
            (&mut self.out_of_order, o.out_of_order),
            (&mut self.gap, o.gap),
            (&mut self.overflow, o.overflow),
            (&mut self.skipped_burst, o.skipped_burst),
            (&mut self.skipped_jump, o.skipped_jump),
            (&mut self.outlier, o.outlier),
            (&mut self.time_jumps, o.time_jumps),
            (&mut self.evaluated, o.evaluated),
        ] {
            *a = a.saturating_add(b);
        }
    }

    /// What was dropped or skipped, by reason, for the status (zeros left out).
    pub fn drops(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("late", self.late),
            ("out_of_order", self.out_of_order),
            ("overflow", self.overflow),
            ("gap", self.gap),
            ("skipped_burst", self.skipped_burst),
            ("skipped_jump", self.skipped_jump),
            ("outlier", self.outlier),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
    }
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

/// Durations in ns, clamped to [0, 2¹⁰⁰] so that sums with `i64` times never overflow `i128`.
fn dur_ns(secs: f64) -> i128 {
    ns(secs * NS)
}

/// A duration already in ns (rounded), clamped like [`dur_ns`]; NaN is 0.
fn ns(x: f64) -> i128 {
    let max = (1u128 << 100) as f64;
    x.round().clamp(0.0, max) as i128
}

/// An `i128` time that is known to be in range, as `i64` (clamped if not).
fn to_i64(t: i128) -> i64 {
    t.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Add a count of windows (any `i128`, from time spans) to a counter, saturating.
fn add(counter: &mut u64, n: i128) {
    *counter = counter.saturating_add(n.clamp(0, i128::from(u64::MAX)) as u64);
}

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
    Samples(SampleState),
    /// (Boxed: the larger state, one per model and asset.)
    Time(Box<TimeState>),
}

impl Windower {
    pub fn new(spec: WindowSpec, signals: usize) -> Result<Windower, WindowError> {
        if signals == 0 {
            return Err(WindowError::NoSignals);
        }
        spec.validate()?;
        let len = spec.shape().len;
        let kind = match spec {
            WindowSpec::Samples {
                len,
                hop,
                sample_rate_hz,
                max_gap_secs,
            } => Kind::Samples(SampleState::new(
                len,
                hop,
                sample_rate_hz,
                max_gap_secs,
                signals,
            )),
            WindowSpec::Time {
                secs,
                hop_secs,
                sample_rate_hz,
                max_gap_secs,
                lateness_secs,
            } => Kind::Time(Box::new(TimeState::new(
                secs,
                hop_secs,
                sample_rate_hz,
                max_gap_secs,
                lateness_secs,
                len,
                signals,
            ))),
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

    /// The event time one window spans: `len / sample_rate_hz` for sample windows (nominal),
    /// `secs` for time windows.
    pub fn span_secs(&self) -> f64 {
        match self.spec {
            WindowSpec::Samples {
                len,
                sample_rate_hz,
                ..
            } => len as f64 / sample_rate_hz,
            WindowSpec::Time { secs, .. } => secs,
        }
    }

    pub fn counters(&self) -> WindowCounters {
        self.counters
    }

    /// Add one sample of signal `signal` (index in model order); `emit` is called for every
    /// window this completes, oldest first: at most [`MAX_WINDOWS_PER_PUSH`] times.
    pub fn push(
        &mut self,
        signal: usize,
        ts_ns: i64,
        value: f64,
        mut emit: impl FnMut(WindowView<'_>),
    ) {
        match &mut self.kind {
            Kind::Samples(st) => st.push(
                signal,
                ts_ns,
                value,
                &mut self.out,
                &mut self.counters,
                &mut emit,
            ),
            Kind::Time(st) => st.push(
                signal,
                ts_ns,
                value,
                &mut self.out,
                &mut self.counters,
                &mut emit,
            ),
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_jumps;
#[cfg(test)]
mod tests_props;
