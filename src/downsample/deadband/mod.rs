//! Deadband downsampling of one signal: keep a sample only when it moved further than a band
//! away from the last kept value, and keep a point at least every `max_silence_secs`.
//!
//! Fed `(ts_ns, value)` in event-time order; kept points go to a callback. Pure and O(1) per
//! sample: the state is the last kept point and the last accepted sample.
//!
//! ## Rules
//! - **Band.** [`Band::Abs`]`(a)`: half-width `a` in signal units. [`Band::Percent`]`(p)`:
//!   half-width `p / 100 · |held|`, where `held` is the **last kept value** (not the previous
//!   sample, so a slow drift cannot creep through the band step by step).
//! - **Keep.** The first sample is kept. A later sample is kept when
//!   `|value − held| > band` (strictly: a sample exactly on the band edge is not kept).
//! - **Silence.** With `max_silence_secs = m`, consecutive kept points are never more than `m`
//!   apart unless the input itself has a longer gap. When a sample arrives more than `m` after
//!   the last kept point, the **previous** sample (the last one within `m`) is kept first if it
//!   was not, and the new sample is then judged against it; if the new sample is still more
//!   than `m` after it (a gap in the input), the new sample is kept too. Keeping the previous
//!   sample, not the current one, is what bounds the gap by `m`: with samples every 3 s and
//!   `m = 10 s`, points are kept at 0, 9, 18 s (not 0, 12, 24 s).
//! - **Percent near 0.** The band shrinks with the held value: around a held 0 it is 0, so every
//!   change is kept (equal values still are not). A signal that crosses or hovers at zero wants
//!   [`Band::Abs`].
//! - **Equal timestamps** are accepted and judged like any sample (a step at one instant keeps
//!   both values, in input order).
//! - **Out of order.** A sample older than the last accepted one is rejected and counted
//!   ([`Admission::OutOfOrder`]); it changes nothing. Non-finite values are rejected and
//!   counted likewise ([`Admission::NonFinite`]).
//! - **Flush** (end of stream, or idle): keeps the last accepted sample if it was not kept, so a
//!   consumer knows how long the held value lasted. The stream can go on after a flush.
//!
//! ## Reconstruction and guarantee
//! A deadband series is read back **sample and hold** ([`held_at`]): the value at `t` is the
//! value of the last kept point at or before `t`. That is what the keep rule bounds: a sample
//! is dropped only while it is within the band of the held value, so linear interpolation
//! between kept points would not carry the bound (a step followed by a plateau interpolates as
//! a ramp that misses the plateau's first samples by up to the step height).
//!
//! **Guarantee:** for every accepted sample `(t, v)`, `|v − h| ≤ band.width_at(h)` where `h` is
//! the held value at `t`. Where several kept points share `t` (equal timestamps), the step rises
//! through all of them at that instant and `h` is one of the values it takes there
//! ([`held_values_at`]): the value held before `t` or one of the kept values at `t`.

use std::time::Duration;

/// One kept point of a signal.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// Event time, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// The sample's value, unchanged.
    pub value: f64,
}

/// What `push` did with a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Taken into the series (kept or not).
    Accepted,
    /// Older than the last accepted sample: rejected, counted, nothing changed.
    OutOfOrder,
    /// NaN or infinite: rejected, counted, nothing changed.
    NonFinite,
}

/// What a downsampler has done since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Samples pushed, rejected ones included.
    pub input: u64,
    /// Points emitted (by `push` and `flush`).
    pub kept: u64,
    /// Samples rejected as older than the last accepted one.
    pub out_of_order: u64,
    /// Samples rejected as NaN or infinite.
    pub non_finite: u64,
}

/// A downsampler parameter that is negative, NaN or infinite.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name} must be a finite number >= 0, got {value}")]
pub struct InvalidParameter {
    /// Which parameter (`max_silence_secs`, `deadband abs`, ...).
    pub name: &'static str,
    /// The value refused.
    pub value: f64,
}

pub use crate::config::Band;

/// Checks a `*_secs` parameter and converts it to nanoseconds (saturating).
pub(super) fn silence_ns(max_silence_secs: Option<f64>) -> Result<Option<i64>, InvalidParameter> {
    max_silence_secs
        .map(|s| {
            if s.is_finite() && s >= 0.0 {
                // Past i64 nanoseconds (292 years) the limit cannot be reached: saturate.
                Ok(Duration::try_from_secs_f64(s)
                    .ok()
                    .and_then(|d| i64::try_from(d.as_nanos()).ok())
                    .unwrap_or(i64::MAX))
            } else {
                Err(InvalidParameter {
                    name: "max_silence_secs",
                    value: s,
                })
            }
        })
        .transpose()
}

/// True when `ts_ns` is more than `max_ns` after `since`.
pub(super) fn too_silent(max_ns: Option<i64>, since: Point, ts_ns: i64) -> bool {
    max_ns.is_some_and(|m| ts_ns.saturating_sub(since.ts_ns) > m)
}

/// Deadband filter of one signal (rules in the module header).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Deadband {
    band: Band,
    max_silence_ns: Option<i64>,
    /// The held value's point.
    kept: Option<Point>,
    /// The last accepted sample and whether it was kept.
    last: Option<(Point, bool)>,
    counters: Counters,
}

impl Deadband {
    /// A filter with `band` (finite, ≥ 0) and an optional maximum silence in seconds
    /// (finite, ≥ 0; `None`: no limit).
    pub fn new(band: Band, max_silence_secs: Option<f64>) -> Result<Deadband, InvalidParameter> {
        let (name, w) = match band {
            Band::Abs(a) => ("deadband abs", a),
            Band::Percent(p) => ("deadband percent", p),
        };
        if !(w.is_finite() && w >= 0.0) {
            return Err(InvalidParameter { name, value: w });
        }
        Ok(Deadband {
            band,
            max_silence_ns: silence_ns(max_silence_secs)?,
            kept: None,
            last: None,
            counters: Counters::default(),
        })
    }

    /// The band it was built with.
    pub fn band(&self) -> Band {
        self.band
    }

    /// What it has done so far (in, kept, rejected).
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Feeds one sample; `emit` receives the points to keep (0, 1 or 2: the previous sample on a
    /// silence timeout, then this one), in order.
    pub fn push(&mut self, ts_ns: i64, value: f64, mut emit: impl FnMut(Point)) -> Admission {
        self.counters.input += 1;
        if !value.is_finite() {
            self.counters.non_finite += 1;
            return Admission::NonFinite;
        }
        if self.last.is_some_and(|(l, _)| ts_ns < l.ts_ns) {
            self.counters.out_of_order += 1;
            return Admission::OutOfOrder;
        }
        let p = Point { ts_ns, value };
        let keep = match self.kept {
            None => true,
            Some(mut held) => {
                if too_silent(self.max_silence_ns, held, ts_ns) {
                    if let Some((last, false)) = self.last {
                        self.keep(last, &mut emit);
                        held = last;
                    }
                }
                too_silent(self.max_silence_ns, held, ts_ns)
                    || (value - held.value).abs() > self.band.width_at(held.value)
            }
        };
        if keep {
            self.keep(p, &mut emit);
        }
        self.last = Some((p, keep));
        Admission::Accepted
    }

    /// Keeps the last accepted sample if it was not kept (end of stream or idle).
    pub fn flush(&mut self) -> Option<Point> {
        let (last, false) = self.last? else {
            return None;
        };
        self.keep(last, |_| {});
        self.last = Some((last, true));
        Some(last)
    }

    fn keep(&mut self, p: Point, mut emit: impl FnMut(Point)) {
        self.kept = Some(p);
        self.counters.kept += 1;
        emit(p);
    }
}

/// Sample-and-hold reconstruction: the value of the last kept point at or before `ts_ns`
/// (`None` before the first). `kept` in emission order.
pub fn held_at(kept: &[Point], ts_ns: i64) -> Option<f64> {
    let i = kept.partition_point(|p| p.ts_ns <= ts_ns);
    i.checked_sub(1).and_then(|i| kept.get(i)).map(|p| p.value)
}

/// Every value the held step takes at `ts_ns`: the value held before `ts_ns`, then the value of
/// each kept point at `ts_ns` (the step rises through them at that instant). One value
/// ([`held_at`]) unless a kept point lies at `ts_ns`; empty before the first kept point.
pub fn held_values_at(kept: &[Point], ts_ns: i64) -> impl Iterator<Item = f64> + '_ {
    let before = kept.partition_point(|p| p.ts_ns < ts_ns);
    let end = kept.partition_point(|p| p.ts_ns <= ts_ns);
    kept[before.saturating_sub(1)..end].iter().map(|p| p.value)
}

#[cfg(test)]
pub(crate) mod tests;
