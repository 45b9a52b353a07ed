//! Hand-checked sequences, then properties over random series. The series generator and the
//! shape checks are shared with the swinging-door tests.

use proptest::prelude::*;

use super::*;

pub(crate) const SEC: i64 = 1_000_000_000;
/// 2026-01-05: absolute times near today's, so that differences, not raw `i64 → f64`
/// conversions (which lose nanoseconds past 2^53), carry the arithmetic.
pub(crate) const BASE_NS: i64 = 1_767_571_200 * SEC;

pub(crate) fn at(secs: &[(i64, f64)]) -> Vec<Point> {
    secs.iter()
        .map(|&(s, value)| Point {
            ts_ns: BASE_NS + s * SEC,
            value,
        })
        .collect()
}

fn run(db: &mut Deadband, input: &[Point]) -> Vec<Point> {
    let mut kept = Vec::new();
    for p in input {
        assert_eq!(
            db.push(p.ts_ns, p.value, |k| kept.push(k)),
            Admission::Accepted
        );
    }
    kept.extend(db.flush());
    kept
}

fn abs(a: f64, silence: Option<f64>) -> Deadband {
    Deadband::new(Band::Abs(a), silence).unwrap()
}

#[test]
fn a_ramp_keeps_a_point_each_time_it_leaves_the_band() {
    let input = at(&[
        (0, 0.0),
        (1, 0.5),
        (2, 1.0),
        (3, 1.5),
        (4, 2.0),
        (5, 2.5),
        (6, 3.0),
    ]);
    // 1.0 is on the band edge (not kept); 2.5 is 1.0 from the held 1.5 (not kept).
    let kept = run(&mut abs(1.0, None), &input);
    assert_eq!(kept, at(&[(0, 0.0), (3, 1.5), (6, 3.0)]));
}

#[test]
fn a_step_keeps_its_edge_and_flush_closes_the_plateau() {
    let input = at(&[(0, 5.0), (1, 5.0), (2, 5.0), (3, 9.0), (4, 9.0), (5, 9.0)]);
    let kept = run(&mut abs(0.5, None), &input);
    assert_eq!(kept, at(&[(0, 5.0), (3, 9.0), (5, 9.0)]));
    assert_eq!(held_at(&kept, BASE_NS + 2 * SEC), Some(5.0));
    assert_eq!(held_at(&kept, BASE_NS + 4 * SEC), Some(9.0));
    assert_eq!(held_at(&kept, BASE_NS - 1), None);
}

#[test]
fn a_constant_keeps_only_its_first_and_last_points() {
    let input: Vec<_> = (0..50).map(|s| (s, 7.0)).collect();
    let mut db = abs(0.0, None);
    let kept = run(&mut db, &at(&input));
    assert_eq!(kept, at(&[(0, 7.0), (49, 7.0)]));
    let c = db.counters();
    assert_eq!(
        (c.input, c.kept, c.out_of_order, c.non_finite),
        (50, 2, 0, 0)
    );
}

#[test]
fn noise_inside_the_band_is_dropped() {
    let noise = [0.3, -0.2, 0.1, -0.3, 0.25, 0.0, -0.1, 0.2];
    let input: Vec<_> = (0..40).map(|i| (i, 10.0 + noise[i as usize % 8])).collect();
    // Everything is within 0.6 of the first value, 10.3 (the band is around the held
    // value, not a running average).
    let kept = run(&mut abs(0.7, None), &at(&input));
    assert_eq!(kept, at(&[(0, 10.3), (39, 10.2)]));
}

#[test]
fn silence_keeps_the_last_sample_within_the_limit() {
    // Samples every 3 s, limit 10 s: the sample at 12 s finds 12 s of silence, so 9 s is
    // kept, and so on. The last (27 s) is kept by the flush.
    let input: Vec<_> = (0..10).map(|i| (3 * i, 1.0)).collect();
    let kept = run(&mut abs(1.0, Some(10.0)), &at(&input));
    assert_eq!(kept, at(&[(0, 1.0), (9, 1.0), (18, 1.0), (27, 1.0)]));
}

#[test]
fn a_gap_in_the_input_keeps_both_of_its_ends() {
    let mut db = abs(1.0, Some(10.0));
    let mut kept = Vec::new();
    for p in at(&[(0, 1.0), (3, 1.0), (30, 1.0), (31, 1.0)]) {
        db.push(p.ts_ns, p.value, |k| kept.push(k));
    }
    // 30 s: 3 s (last within the limit) is kept, and 30 s is still 27 s after it.
    assert_eq!(kept, at(&[(0, 1.0), (3, 1.0), (30, 1.0)]));
    assert_eq!(db.flush(), at(&[(31, 1.0)]).first().copied());
}

#[test]
fn a_percent_band_follows_the_held_value() {
    // 5 %: 104 is within 5 of 100; 106 is not; then the band is 5.3 around 106.
    let input = at(&[(0, 100.0), (1, 104.0), (2, 106.0), (3, 101.0), (4, 100.0)]);
    let kept = run(
        &mut Deadband::new(Band::Percent(5.0), None).unwrap(),
        &input,
    );
    assert_eq!(kept, at(&[(0, 100.0), (2, 106.0), (4, 100.0)]));
}

#[test]
fn a_percent_band_around_zero_keeps_every_change() {
    let input = at(&[(0, 0.0), (1, 0.0), (2, 1e-9), (3, 0.0), (4, 0.0), (5, 0.0)]);
    let kept = run(
        &mut Deadband::new(Band::Percent(50.0), None).unwrap(),
        &input,
    );
    assert_eq!(kept, at(&[(0, 0.0), (2, 1e-9), (3, 0.0), (5, 0.0)]));
}

#[test]
fn equal_timestamps_keep_a_step_at_one_instant() {
    let input = at(&[(5, 0.0), (5, 10.0), (5, 10.5), (6, 10.2)]);
    let kept = run(&mut abs(1.0, None), &input);
    assert_eq!(kept, at(&[(5, 0.0), (5, 10.0), (6, 10.2)]));
    let t = BASE_NS + 5 * SEC;
    assert_eq!(held_at(&kept, t), Some(10.0));
    assert_eq!(held_values_at(&kept, t).collect::<Vec<_>>(), [0.0, 10.0]);
    // At 6 s: the value held before (10.0), then the point at 6 s.
    let t6 = BASE_NS + 6 * SEC;
    assert_eq!(held_values_at(&kept, t6).collect::<Vec<_>>(), [10.0, 10.2]);
}

#[test]
fn a_single_point_is_kept_once() {
    let mut db = abs(1.0, Some(1.0));
    let mut kept = Vec::new();
    db.push(BASE_NS, 3.0, |k| kept.push(k));
    assert_eq!(kept, at(&[(0, 3.0)]));
    assert_eq!(db.flush(), None);
    assert_eq!(db.flush(), None);
    assert_eq!(db.counters().kept, 1);
}

#[test]
fn the_stream_goes_on_after_a_flush() {
    let mut db = abs(1.0, None);
    let mut kept = Vec::new();
    for p in at(&[(0, 1.0), (1, 1.2)]) {
        db.push(p.ts_ns, p.value, |k| kept.push(k));
    }
    kept.extend(db.flush());
    for p in at(&[(2, 2.1), (3, 2.3)]) {
        db.push(p.ts_ns, p.value, |k| kept.push(k));
    }
    // 2.1 is judged against the flushed 1.2 (0.9: not kept).
    kept.extend(db.flush());
    assert_eq!(kept, at(&[(0, 1.0), (1, 1.2), (3, 2.3)]));
}

#[test]
fn out_of_order_and_non_finite_samples_are_rejected_and_counted() {
    let mut db = abs(1.0, None);
    let mut kept = Vec::new();
    assert_eq!(
        db.push(BASE_NS + 10, 1.0, |k| kept.push(k)),
        Admission::Accepted
    );
    assert_eq!(
        db.push(BASE_NS + 9, 50.0, |k| kept.push(k)),
        Admission::OutOfOrder
    );
    assert_eq!(
        db.push(BASE_NS + 11, f64::NAN, |k| kept.push(k)),
        Admission::NonFinite
    );
    assert_eq!(
        db.push(BASE_NS + 12, f64::INFINITY, |k| kept.push(k)),
        Admission::NonFinite
    );
    assert_eq!(
        db.push(BASE_NS + 10, 50.0, |k| kept.push(k)),
        Admission::Accepted,
        "an equal timestamp is in order"
    );
    let c = db.counters();
    assert_eq!(
        (c.input, c.kept, c.out_of_order, c.non_finite),
        (5, 2, 1, 2)
    );
    assert_eq!(kept.len(), 2);
}

#[test]
fn bad_parameters_are_refused() {
    assert!(Deadband::new(Band::Abs(-1.0), None).is_err());
    assert!(Deadband::new(Band::Percent(f64::NAN), None).is_err());
    assert!(Deadband::new(Band::Abs(1.0), Some(-0.5)).is_err());
    assert!(Deadband::new(Band::Abs(1.0), Some(f64::INFINITY)).is_err());
    let e = Deadband::new(Band::Abs(1.0), Some(f64::NAN)).unwrap_err();
    assert_eq!(e.name, "max_silence_secs");
    // A limit beyond i64 nanoseconds saturates instead of panicking.
    assert!(Deadband::new(Band::Abs(1.0), Some(1e300)).is_ok());
}

// ---- properties --------------------------------------------------------------------------

/// Random series of 1..250 samples: random walks, steps with a little noise, noisy sines,
/// and sines around zero (for percent bands), on random time steps of which about one in
/// eight is 0 (equal timestamps) and one in fifteen a long gap (20..200 s).
pub(crate) fn series() -> impl Strategy<Value = Vec<Point>> {
    let dt = prop_oneof![
        2 => Just(0i64),
        12 => 1i64..=5 * SEC,
        1 => 20 * SEC..=200 * SEC,
    ]
    .boxed();
    (1usize..250)
        .prop_flat_map(move |n| {
            (
                prop::collection::vec(dt.clone(), n),
                prop::collection::vec(-1.0f64..1.0, n),
                prop::collection::vec(-1.0f64..1.0, n),
                0u8..4,
                0.01f64..100.0,
                -1000.0f64..1000.0,
            )
        })
        .prop_map(|(dts, x, y, kind, scale, level)| {
            let mut ts = BASE_NS;
            let mut v = level;
            let mut out = Vec::with_capacity(dts.len());
            for (i, (dt, (&x, &y))) in dts.iter().zip(x.iter().zip(&y)).enumerate() {
                ts += dt;
                let phase = i as f64 * 0.2;
                let value = match kind {
                    0 => {
                        v += x * scale;
                        v
                    }
                    1 => {
                        if y > 0.85 {
                            v = level + x * scale * 10.0;
                        }
                        v + y * scale * 0.01
                    }
                    2 => level + scale * 10.0 * phase.sin() + x * scale,
                    _ => scale * phase.sin() + x * scale * 0.1,
                };
                out.push(Point { ts_ns: ts, value });
            }
            out
        })
}

/// The checks every downsampler's output must pass besides its bound: first and last input
/// points kept, kept points a subsequence of the input, and the silence limit.
pub(crate) fn check_shape(
    input: &[Point],
    kept: &[Point],
    max_silence_secs: Option<f64>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(kept.first(), input.first(), "first point kept");
    prop_assert_eq!(kept.last(), input.last(), "last point kept");
    let mut rest = input.iter();
    for k in kept {
        prop_assert!(
            rest.any(|p| p.ts_ns == k.ts_ns && p.value.to_bits() == k.value.to_bits()),
            "kept {:?} is not next in the input",
            k
        );
    }
    if let Some(m) = silence_ns(max_silence_secs).unwrap() {
        for w in kept.windows(2) {
            if w[1].ts_ns - w[0].ts_ns > m {
                // Allowed only across a gap of the input itself: nothing in between.
                let next = input.partition_point(|p| p.ts_ns <= w[0].ts_ns);
                prop_assert!(
                    input[next].ts_ns >= w[1].ts_ns,
                    "kept {:?} and {:?} are more than {} ns apart",
                    w[0],
                    w[1],
                    m
                );
            }
        }
    }
    Ok(())
}

/// `input` with rejected samples slipped in after random positions: older than the sample
/// before them (`true`) or NaN (`false`). Returns the mixed stream and the two counts.
pub(crate) fn with_rejects(
    input: &[Point],
    slips: &[(usize, bool, i64)],
) -> (Vec<Point>, u64, u64) {
    let (mut out, mut old, mut nan) = (Vec::new(), 0, 0);
    for (i, p) in input.iter().enumerate() {
        out.push(*p);
        for &(_, older, back) in slips.iter().filter(|s| s.0 % input.len() == i) {
            let (ts_ns, value) = if older {
                old += 1;
                (p.ts_ns - back, p.value + 1e6)
            } else {
                nan += 1;
                (p.ts_ns + back, f64::NAN)
            };
            out.push(Point { ts_ns, value });
        }
    }
    (out, old, nan)
}

pub(crate) fn slips() -> impl Strategy<Value = Vec<(usize, bool, i64)>> {
    prop::collection::vec((0usize..1000, any::<bool>(), 1i64..=10 * SEC), 0..20)
}

fn band_for(input: &[Point]) -> impl Strategy<Value = Band> {
    let (lo, hi) = input
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.value), hi.max(p.value))
        });
    let range = hi - lo;
    prop_oneof![
        Just(Band::Abs(0.0)),
        (0.0f64..0.5).prop_map(move |f| Band::Abs(f * range)),
        (0.0f64..20.0).prop_map(Band::Percent),
    ]
}

fn silence() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(prop_oneof![Just(0.0), 0.5f64..60.0])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn every_sample_is_within_the_band_of_the_held_value(
        (input, band) in series().prop_flat_map(|s| { let b = band_for(&s); (Just(s), b) }),
        max_silence in silence(),
    ) {
        let mut db = Deadband::new(band, max_silence).unwrap();
        let kept = run(&mut db, &input);
        for p in &input {
            prop_assert!(
                held_values_at(&kept, p.ts_ns).any(|h| (p.value - h).abs() <= band.width_at(h)),
                "{:?} is outside {:?} of the held values {:?}",
                p, band, held_values_at(&kept, p.ts_ns).collect::<Vec<_>>()
            );
        }
        check_shape(&input, &kept, max_silence)?;
        let c = db.counters();
        prop_assert_eq!((c.input, c.kept), (input.len() as u64, kept.len() as u64));
    }

    #[test]
    fn rejected_samples_are_counted_and_change_nothing(
        (input, band) in series().prop_flat_map(|s| { let b = band_for(&s); (Just(s), b) }),
        max_silence in silence(),
        slips in slips(),
    ) {
        let clean = run(&mut Deadband::new(band, max_silence).unwrap(), &input);
        let (mixed, old, nan) = with_rejects(&input, &slips);
        let mut db = Deadband::new(band, max_silence).unwrap();
        let mut kept = Vec::new();
        for p in &mixed {
            db.push(p.ts_ns, p.value, |k| kept.push(k));
        }
        kept.extend(db.flush());
        prop_assert_eq!(kept, clean);
        let c = db.counters();
        prop_assert_eq!((c.input, c.out_of_order, c.non_finite), (mixed.len() as u64, old, nan));
    }
}
