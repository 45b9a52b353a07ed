//! Swinging-door trending (SDT) of one signal, the compression OT historians use: keep the
//! points such that straight lines between consecutive kept points pass within ±E (the
//! compression deviation, in signal units) of every sample.
//!
//! Fed `(ts_ns, value)` in event-time order; kept ("archived") points go to a callback. Pure and
//! O(1) per sample: the state is the last archived point, the last accepted sample and the two
//! door slopes.
//!
//! ## The algorithm
//! The last archived point `A` carries two doors: the upper door pivots at `A + E`, the lower at
//! `A − E`. Every sample after `A` swings them: the upper door's slope is the largest slope from
//! `A + E` to a sample, the lower door's the smallest slope from `A − E` to a sample. A segment
//! leaving `A` with slope `s` passes within `E` of every one of those samples exactly when
//! `upper ≤ s ≤ lower`.
//!
//! A new sample `P` is tested before it swings the doors: if the slope from `A` to `P` lies
//! between them, `P` extends the segment (and then swings the doors). If not, the previous
//! sample is archived, becomes the new `A`, the doors close to nothing, and `P` is the first
//! sample of the next segment.
//!
//! **This differs from the textbook test, on purpose.** The textbook archives the previous
//! sample when the doors, swung by `P`, open past parallel (`upper > lower`). Doors still open
//! prove that *some* line from `A` passes within `E` of every sample, not that the line to the
//! archived sample does: that sample is only within `E` of the good line, so the textbook's
//! reconstruction error reaches `2E`. With `E = 1`: `A = (0, 0)`, then `(5, 1.4)`, `(10, 0)`;
//! the doors stay open (upper 0.08 < lower 0.1), the textbook keeps `(0, 0)` and `(10, 0)`, and
//! their line misses `(5, 1.4)` by 1.4. Testing the slope to `P` itself keeps a few more points
//! and makes `E` a guarantee (test `the_line_to_the_archived_point_must_stay_within_e`).
//!
//! ## Rules
//! - **First sample:** archived at once.
//! - **Equal timestamps** are accepted. A sample at a later time than `A` is bounded through
//!   the slopes (one at the same time as a later `P` must be within `E` of `P`). A sample at
//!   `A`'s own time has no slope: a segment leaving `A` covers it only if it is within `E` of
//!   `A`; a candidate `P` at `A`'s time is a vertical segment, which covers it if it is within
//!   `E` of the span between `A` and `P`. So a step at one instant is archived as a vertical
//!   segment: both of its values are kept, in input order.
//! - **Silence** (`max_silence_secs = m`): consecutive archived points are never more than `m`
//!   apart unless the input itself has a longer gap. A sample arriving more than `m` after `A`
//!   first archives the previous sample (if it is not archived); if the new sample is still
//!   more than `m` after that (a gap in the input), it is archived too.
//! - **Out of order:** a sample older than the last accepted one is rejected and counted
//!   ([`Admission::OutOfOrder`]); it changes nothing. Non-finite values likewise
//!   ([`Admission::NonFinite`]).
//! - **Flush** (end of stream, or idle): archives the last accepted sample if it is not, so the
//!   tail is reconstructable. The stream can go on: the flushed point is the new `A`.
//!
//! ## Reconstruction and guarantee
//! Linear interpolation between consecutive kept points ([`interpolate_at`]). Where several
//! kept points share a timestamp the line is vertical there and takes every value between
//! their least and greatest.
//!
//! **Guarantee:** every accepted sample `(t, v)` is within `E` of the reconstruction at `t`,
//! up to floating-point rounding (a few ulps of the values). Every sample lies between two
//! consecutive kept points, and the segment joining them is the one the doors accepted.

use std::ops::RangeInclusive;

use super::deadband::{silence_ns, too_silent, Admission, Counters, InvalidParameter, Point};

/// Swinging-door compression of one signal (algorithm and rules in the module header).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SwingingDoor {
    deviation: f64,
    max_silence_ns: Option<i64>,
    /// The last archived point, where the doors pivot.
    hinge: Option<Point>,
    /// The last accepted sample and whether it is archived.
    last: Option<(Point, bool)>,
    doors: Doors,
    counters: Counters,
}

/// The doors on the samples accepted since the hinge `A`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Doors {
    /// Largest slope from `A + E` to a later sample: a segment from `A` any flatter passes more
    /// than `E` below that sample.
    upper: f64,
    /// Smallest slope from `A − E` to a later sample.
    lower: f64,
    /// Least and greatest value of the samples at `A`'s own timestamp (no slope reaches them).
    at_hinge: Option<(f64, f64)>,
}

impl Doors {
    /// Before any sample: each door vertical at `A`, so nothing constrains the slope yet.
    const SHUT: Doors = Doors {
        upper: f64::NEG_INFINITY,
        lower: f64::INFINITY,
        at_hinge: None,
    };

    /// Whether the segment `a → p` passes within `e` of every sample the doors have seen.
    fn admit(&self, a: Point, p: Point, e: f64) -> bool {
        let dt = span(a, p);
        if dt == 0.0 {
            let (lo, hi) = (a.value.min(p.value) - e, a.value.max(p.value) + e);
            self.at_hinge
                .is_none_or(|(min, max)| min >= lo && max <= hi)
        } else {
            let s = (p.value - a.value) / dt;
            self.at_hinge
                .is_none_or(|(min, max)| min >= a.value - e && max <= a.value + e)
                && self.upper <= s
                && s <= self.lower
        }
    }

    /// Swings the doors hinged on `a` by the sample `p`.
    fn swing(&mut self, a: Point, p: Point, e: f64) {
        let dt = span(a, p);
        if dt == 0.0 {
            self.at_hinge = Some(match self.at_hinge {
                None => (p.value, p.value),
                Some((min, max)) => (min.min(p.value), max.max(p.value)),
            });
        } else {
            self.upper = self.upper.max((p.value - e - a.value) / dt);
            self.lower = self.lower.min((p.value + e - a.value) / dt);
        }
    }
}

/// Nanoseconds from `a` to `p` (≥ 0: input is in order), exact in `f64` below 104 days.
fn span(a: Point, p: Point) -> f64 {
    ns_between(a.ts_ns, p.ts_ns)
}

fn ns_between(from: i64, to: i64) -> f64 {
    (i128::from(to) - i128::from(from)) as f64
}

impl SwingingDoor {
    /// A compressor with deviation `E` (finite, ≥ 0; signal units) and an optional maximum
    /// silence in seconds (finite, ≥ 0; `None`: no limit).
    pub fn new(
        deviation: f64,
        max_silence_secs: Option<f64>,
    ) -> Result<SwingingDoor, InvalidParameter> {
        if !(deviation.is_finite() && deviation >= 0.0) {
            return Err(InvalidParameter {
                name: "swinging door deviation",
                value: deviation,
            });
        }
        Ok(SwingingDoor {
            deviation,
            max_silence_ns: silence_ns(max_silence_secs)?,
            hinge: None,
            last: None,
            doors: Doors::SHUT,
            counters: Counters::default(),
        })
    }

    /// The compression deviation `E` it was built with.
    pub fn deviation(&self) -> f64 {
        self.deviation
    }

    /// What it has done so far (in, kept, rejected).
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Feeds one sample; `emit` receives the points to archive (0, 1 or 2: the previous sample,
    /// then this one after a gap in the input), in order.
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
        let Some(mut hinge) = self.hinge else {
            self.archive(p, emit);
            return Admission::Accepted;
        };
        if too_silent(self.max_silence_ns, hinge, ts_ns) {
            if let Some((last, false)) = self.last {
                self.archive(last, &mut emit);
                hinge = last;
            }
            if too_silent(self.max_silence_ns, hinge, ts_ns) {
                self.archive(p, emit);
                return Admission::Accepted;
            }
        }
        if !self.doors.admit(hinge, p, self.deviation) {
            // `last` is never archived here: right after an archive the doors are shut, which
            // admits any slope.
            if let Some((last, false)) = self.last {
                self.archive(last, &mut emit);
                hinge = last;
            }
        }
        self.doors.swing(hinge, p, self.deviation);
        self.last = Some((p, false));
        Admission::Accepted
    }

    /// Archives the last accepted sample if it is not archived (end of stream or idle).
    pub fn flush(&mut self) -> Option<Point> {
        let (last, false) = self.last? else {
            return None;
        };
        self.archive(last, |_| {});
        Some(last)
    }

    fn archive(&mut self, p: Point, mut emit: impl FnMut(Point)) {
        self.hinge = Some(p);
        self.last = Some((p, true));
        self.doors = Doors::SHUT;
        self.counters.kept += 1;
        emit(p);
    }
}

/// The reconstructed series at `ts_ns`: linear interpolation between the kept points around it,
/// as the range of values the line takes there. A single value (`lo == hi`) except where
/// several kept points share `ts_ns` (a vertical segment: their least to greatest). `None`
/// before the first or after the last kept point. `kept` in emission order.
pub fn interpolate_at(kept: &[Point], ts_ns: i64) -> Option<RangeInclusive<f64>> {
    let start = kept.partition_point(|p| p.ts_ns < ts_ns);
    let end = kept.partition_point(|p| p.ts_ns <= ts_ns);
    if start < end {
        let (lo, hi) = kept[start..end]
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.value), hi.max(p.value))
            });
        return Some(lo..=hi);
    }
    let a = kept.get(start.checked_sub(1)?)?;
    let b = kept.get(start)?;
    let v = a.value + (b.value - a.value) * (ns_between(a.ts_ns, ts_ns) / span(*a, *b));
    Some(v..=v)
}

#[cfg(test)]
mod tests;
