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
        println!("  {k:<5}  {sdt_kept:>4}/{total} = {r_sdt:.3}   {db_kept:>4}/{total} = {r_db:.3}");
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
