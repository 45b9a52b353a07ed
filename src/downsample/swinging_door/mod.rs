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
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone, Copy)]
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
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::downsample::deadband::tests::{
        at, check_shape, series, slips, with_rejects, BASE_NS, SEC,
    };
    use crate::downsample::deadband::{self, Band, Deadband};

    fn run(sdt: &mut SwingingDoor, input: &[Point]) -> Vec<Point> {
        let mut kept = Vec::new();
        for p in input {
            assert_eq!(
                sdt.push(p.ts_ns, p.value, |k| kept.push(k)),
                Admission::Accepted
            );
        }
        kept.extend(sdt.flush());
        kept
    }

    fn sdt(e: f64, silence: Option<f64>) -> SwingingDoor {
        SwingingDoor::new(e, silence).unwrap()
    }

    /// How far `v` is from the reconstruction at `ts_ns` (0 inside a vertical segment).
    fn error_at(kept: &[Point], ts_ns: i64, v: f64) -> f64 {
        let r = interpolate_at(kept, ts_ns).unwrap();
        (r.start() - v).max(v - r.end()).max(0.0)
    }

    #[test]
    fn a_ramp_keeps_its_two_ends() {
        let input: Vec<_> = (0..=10).map(|s| (s, 3.0 * s as f64 - 7.0)).collect();
        let mut c = sdt(0.1, None);
        assert_eq!(run(&mut c, &at(&input)), at(&[(0, -7.0), (10, 23.0)]));
        assert_eq!(c.counters().kept, 2);
        // Exactly collinear input stays two points even with E = 0.
        assert_eq!(run(&mut sdt(0.0, None), &at(&input)).len(), 2);
    }

    #[test]
    fn a_step_keeps_the_corners() {
        // Hinge (0, 0): the doors narrow to ±1/6 by 3 s; the slope to (4, 5) is 5/4: archive
        // (3, 0). From (3, 0), (5, 5) has slope 2.5 below the upper door's 4.5 set by (4, 5):
        // archive (4, 5). The flush archives (7, 5).
        let input = at(&[
            (0, 0.0),
            (1, 0.0),
            (2, 0.0),
            (3, 0.0),
            (4, 5.0),
            (5, 5.0),
            (6, 5.0),
            (7, 5.0),
        ]);
        let kept = run(&mut sdt(0.5, None), &input);
        assert_eq!(kept, at(&[(0, 0.0), (3, 0.0), (4, 5.0), (7, 5.0)]));
        assert_eq!(
            interpolate_at(&kept, BASE_NS + 3 * SEC + SEC / 2),
            Some(2.5..=2.5)
        );
        assert_eq!(interpolate_at(&kept, BASE_NS - 1), None);
        assert_eq!(interpolate_at(&kept, BASE_NS + 8 * SEC), None);
    }

    #[test]
    fn a_constant_keeps_its_two_ends() {
        let input: Vec<_> = (0..100).map(|s| (s, 42.0)).collect();
        assert_eq!(
            run(&mut sdt(0.0, None), &at(&input)),
            at(&[(0, 42.0), (99, 42.0)])
        );
    }

    #[test]
    fn noise_well_inside_e_keeps_only_the_ends() {
        // Any line between two samples of 10 ± 0.2 is within 0.4 < E of every other.
        let noise = [0.2, -0.2, 0.1, -0.15, 0.05, 0.0, -0.1, 0.2, -0.05];
        let input: Vec<_> = (0..60).map(|i| (i, 10.0 + noise[i as usize % 9])).collect();
        let kept = run(&mut sdt(0.5, None), &at(&input));
        assert_eq!(kept, at(&[(0, 10.2), (59, 10.0)]));
    }

    #[test]
    fn the_line_to_the_archived_point_must_stay_within_e() {
        // The textbook test keeps (0, 0) and (10, 0) here: its doors, swung by (10, 0), are
        // upper max(0.08, -0.1) = 0.08 and lower min(0.48, 0.1) = 0.1, still open. But the line
        // between them misses (5, 1.4) by 1.4 > E.
        let input = at(&[(0, 0.0), (5, 1.4), (10, 0.0)]);
        let kept = run(&mut sdt(1.0, None), &input);
        assert_eq!(kept, input);
    }

    #[test]
    fn silence_archives_the_last_sample_within_the_limit() {
        let input: Vec<_> = (0..10).map(|i| (3 * i, 1.0)).collect();
        let kept = run(&mut sdt(1.0, Some(10.0)), &at(&input));
        assert_eq!(kept, at(&[(0, 1.0), (9, 1.0), (18, 1.0), (27, 1.0)]));
    }

    #[test]
    fn a_gap_in_the_input_archives_both_of_its_ends() {
        let mut c = sdt(1.0, Some(10.0));
        let mut kept = Vec::new();
        for p in at(&[(0, 1.0), (3, 1.0), (30, 1.0), (31, 1.0)]) {
            c.push(p.ts_ns, p.value, |k| kept.push(k));
        }
        assert_eq!(kept, at(&[(0, 1.0), (3, 1.0), (30, 1.0)]));
        assert_eq!(c.flush(), at(&[(31, 1.0)]).first().copied());
        assert_eq!(c.flush(), None);
    }

    #[test]
    fn a_step_at_one_instant_is_a_vertical_segment() {
        // (0, 5) is a vertical candidate from the hinge (0, 0), with nothing to cover; (1, 5)
        // leaves (0, 0), which does not cover (0, 5): archive it.
        let kept = run(&mut sdt(1.0, None), &at(&[(0, 0.0), (0, 5.0), (1, 5.0)]));
        assert_eq!(kept, at(&[(0, 0.0), (0, 5.0), (1, 5.0)]));
        assert_eq!(interpolate_at(&kept, BASE_NS), Some(0.0..=5.0));
        // Within E of the hinge, an equal timestamp needs no point of its own.
        let kept = run(&mut sdt(1.0, None), &at(&[(0, 0.0), (0, 0.5), (1, 0.0)]));
        assert_eq!(kept, at(&[(0, 0.0), (1, 0.0)]));
        // A jump down at 1 s after a rise: both values of the instant are kept.
        let input = at(&[(0, 0.0), (1, 1.0), (1, -1.0), (2, 0.0)]);
        let kept = run(&mut sdt(0.5, None), &input);
        assert_eq!(kept, input);
        assert_eq!(interpolate_at(&kept, BASE_NS + SEC), Some(-1.0..=1.0));
    }

    #[test]
    fn samples_sharing_a_later_timestamp_are_bounded_by_the_slopes() {
        // (2, 0.2) and (2, -0.2) are within E = 0.5 of each other and of the line to (4, 0).
        let input = at(&[(0, 0.0), (2, 0.2), (2, -0.2), (4, 0.0)]);
        let kept = run(&mut sdt(0.5, None), &input);
        assert_eq!(kept, at(&[(0, 0.0), (4, 0.0)]));
        // (2, 0.4) and (2, -0.4) are not within E = 0.3 of each other: the segment to the
        // second would miss the first, so the first is archived; the second is then a vertical
        // segment from it, archived because (4, 0) misses it from (2, 0.4).
        let input = at(&[(0, 0.0), (2, 0.4), (2, -0.4), (4, 0.0)]);
        let kept = run(&mut sdt(0.3, None), &input);
        for p in &input {
            assert!(
                error_at(&kept, p.ts_ns, p.value) <= 0.3,
                "{p:?} in {kept:?}"
            );
        }
        assert_eq!(kept, at(&[(0, 0.0), (2, 0.4), (2, -0.4), (4, 0.0)]));
    }

    #[test]
    fn a_single_point_is_kept_once() {
        let mut c = sdt(1.0, Some(5.0));
        let mut kept = Vec::new();
        c.push(BASE_NS, -2.0, |k| kept.push(k));
        assert_eq!(kept, at(&[(0, -2.0)]));
        assert_eq!(c.flush(), None);
        assert_eq!(interpolate_at(&kept, BASE_NS), Some(-2.0..=-2.0));
    }

    #[test]
    fn the_stream_goes_on_from_a_flushed_point() {
        let mut c = sdt(0.1, None);
        let mut kept = Vec::new();
        for p in at(&[(0, 0.0), (1, 1.0), (2, 2.0)]) {
            c.push(p.ts_ns, p.value, |k| kept.push(k));
        }
        kept.extend(c.flush());
        // (3, 3.0) and (4, 4.0) continue the same line, but from the flushed hinge (2, 2.0).
        for p in at(&[(3, 3.0), (4, 4.0)]) {
            c.push(p.ts_ns, p.value, |k| kept.push(k));
        }
        kept.extend(c.flush());
        assert_eq!(kept, at(&[(0, 0.0), (2, 2.0), (4, 4.0)]));
    }

    #[test]
    fn out_of_order_and_non_finite_samples_are_rejected_and_counted() {
        let mut c = sdt(1.0, None);
        let mut kept = Vec::new();
        for (ts, v, want) in [
            (10, 1.0, Admission::Accepted),
            (20, 2.0, Admission::Accepted),
            (15, 9.0, Admission::OutOfOrder),
            (25, f64::NEG_INFINITY, Admission::NonFinite),
            (20, 2.5, Admission::Accepted),
        ] {
            assert_eq!(c.push(BASE_NS + ts, v, |k| kept.push(k)), want);
        }
        let n = c.counters();
        assert_eq!((n.input, n.out_of_order, n.non_finite), (5, 1, 1));
        assert_eq!(n.kept, kept.len() as u64);
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(SwingingDoor::new(-0.1, None).is_err());
        assert!(SwingingDoor::new(f64::NAN, None).is_err());
        assert!(SwingingDoor::new(f64::INFINITY, None).is_err());
        assert!(SwingingDoor::new(1.0, Some(-1.0)).is_err());
        assert!(SwingingDoor::new(0.0, Some(0.0)).is_ok());
    }

    // ---- properties --------------------------------------------------------------------------

    fn deviation_for(input: &[Point]) -> impl Strategy<Value = f64> {
        let (lo, hi) = input
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.value), hi.max(p.value))
            });
        let range = hi - lo;
        prop_oneof![
            Just(0.0),
            (0.0f64..0.5).prop_map(move |f| f * range),
            0.0f64..1.0,
        ]
    }

    /// Rounding allowance: a few ulps of the largest magnitude in the series.
    fn rounding(input: &[Point]) -> f64 {
        let m = input.iter().fold(1.0f64, |m, p| m.max(p.value.abs()));
        64.0 * f64::EPSILON * m
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        #[test]
        fn every_sample_is_within_e_of_the_interpolated_kept_points(
            (input, e) in series().prop_flat_map(|s| { let e = deviation_for(&s); (Just(s), e) }),
            max_silence in prop::option::of(prop_oneof![Just(0.0), 0.5f64..60.0]),
        ) {
            let mut c = SwingingDoor::new(e, max_silence).unwrap();
            let kept = run(&mut c, &input);
            check_shape(&input, &kept, max_silence)?;
            let tol = rounding(&input);
            for p in &input {
                let err = error_at(&kept, p.ts_ns, p.value);
                prop_assert!(err <= e + tol, "{:?} is {} from the reconstruction (E = {})", p, err, e);
            }
            let n = c.counters();
            prop_assert_eq!((n.input, n.kept), (input.len() as u64, kept.len() as u64));
        }

        #[test]
        fn rejected_samples_are_counted_and_change_nothing(
            (input, e) in series().prop_flat_map(|s| { let e = deviation_for(&s); (Just(s), e) }),
            max_silence in prop::option::of(0.5f64..60.0),
            slips in slips(),
        ) {
            let clean = run(&mut SwingingDoor::new(e, max_silence).unwrap(), &input);
            let (mixed, old, nan) = with_rejects(&input, &slips);
            let mut c = SwingingDoor::new(e, max_silence).unwrap();
            let mut kept = Vec::new();
            for p in &mixed {
                c.push(p.ts_ns, p.value, |k| kept.push(k));
            }
            kept.extend(c.flush());
            prop_assert_eq!(kept, clean);
            let n = c.counters();
            prop_assert_eq!((n.input, n.out_of_order, n.non_finite), (mixed.len() as u64, old, nan));
        }
    }

    // ---- compression on a real recording ------------------------------------------------------

    /// The demo's C-MAPSS recording, one series per (asset, signal), in file order.
    fn cmapss() -> BTreeMap<(String, String), Vec<Point>> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/firmware-config/recordings/turbofan-fd001-test-units.csv"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let mut out: BTreeMap<(String, String), Vec<Point>> = BTreeMap::new();
        for line in lines {
            let cells: Vec<&str> = line.split(',').collect();
            let ts_ns = cells[0].parse::<i64>().unwrap() * 1_000_000_000;
            for (name, cell) in header.iter().zip(&cells).skip(2) {
                out.entry((cells[1].to_string(), name.to_string()))
                    .or_default()
                    .push(Point {
                        ts_ns,
                        value: cell.parse().unwrap(),
                    });
            }
        }
        out
    }

    fn std_dev(s: &[Point]) -> f64 {
        let n = s.len() as f64;
        let mean = s.iter().map(|p| p.value).sum::<f64>() / n;
        (s.iter().map(|p| (p.value - mean).powi(2)).sum::<f64>() / n).sqrt()
    }

    /// Kept/in on the C-MAPSS recording (14 sensors × 2 test engines, one sample per cycle,
    /// noisy by design with a slow degradation trend), with E and the deadband at k·σ of each series.
    /// Run with `--nocapture` to see the table. Checks the guarantees on real data and that
    /// compression does not regress.
    #[test]
    fn compression_on_the_cmapss_recording() {
        let data = cmapss();
        assert_eq!(data.len(), 28);
        let total: usize = data.values().map(Vec::len).sum();
        println!(
            "C-MAPSS FD001 test units 81 and 89: {} series, {total} samples",
            data.len()
        );
        println!("  k·σ    SDT kept/in          deadband kept/in");
        let mut sdt_at_1 = 0.0;
        for k in [0.25, 0.5, 1.0, 2.0, 3.0] {
            let (mut sdt_kept, mut db_kept) = (0, 0);
            for s in data.values() {
                let e = k * std_dev(s);
                let kept = run(&mut sdt(e, None), s);
                for p in s {
                    assert!(error_at(&kept, p.ts_ns, p.value) <= e + rounding(s));
                }
                sdt_kept += kept.len();
                let mut db = Deadband::new(Band::Abs(e), None).unwrap();
                let mut held = Vec::new();
                for p in s {
                    db.push(p.ts_ns, p.value, |k| held.push(k));
                }
                held.extend(db.flush());
                for p in s {
                    let h = deadband::held_at(&held, p.ts_ns).unwrap();
                    assert!((p.value - h).abs() <= e);
                }
                db_kept += held.len();
            }
            let (r_sdt, r_db) = (
                sdt_kept as f64 / total as f64,
                db_kept as f64 / total as f64,
            );
            println!(
                "  {k:<5}  {sdt_kept:>4}/{total} = {r_sdt:.3}   {db_kept:>4}/{total} = {r_db:.3}"
            );
            if k == 1.0 {
                sdt_at_1 = r_sdt;
            }
        }
        println!("  per series at E = 1σ (SDT kept/in):");
        for ((asset, signal), s) in &data {
            let e = std_dev(s);
            let kept = run(&mut sdt(e, None), s);
            println!(
                "    {asset} {signal:<5} σ = {e:<8.4} {:>3}/{}",
                kept.len(),
                s.len()
            );
        }
        assert!(
            sdt_at_1 < 0.5,
            "SDT at E = 1σ kept {sdt_at_1:.3} of the samples"
        );
    }
}
