//! Property tests of the windows: any `i64` timestamps, clock jumps, outliers (the rules are
//! in the parent module's header).

use proptest::prelude::*;

use super::tests_jumps::{feed, rows, S, T0};
use super::*;

/// Timestamps a hostile device could send: anything, extremes, and values near a base.
fn any_ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0i64),
        (-1000i64..1000).prop_map(|d| (T0 + d) * S),
        (-5i64..=0).prop_map(|d| 9_223_372_036 * S + d * S),
    ]
}

/// Time window specs; with `tiny_hop`, also the 1 ns hop (whose due windows per push exceed
/// the budget, so that the exact-recovery properties leave it out).
fn time_spec(tiny_hop: bool) -> impl Strategy<Value = WindowSpec> {
    let smallest = if tiny_hop { 1e-9 } else { 0.5 };
    (
        1u32..40,
        prop_oneof![Just(smallest), Just(0.5), Just(1.0), Just(7.0)],
        prop_oneof![Just(0.1), Just(1.0), Just(4.0)],
        prop_oneof![Just(None), Just(Some(0.0)), Just(Some(3.0))],
        prop_oneof![Just(0.0), Just(2.0), Just(1e6)],
    )
        .prop_filter_map("valid", |(secs, hop, rate, gap, late)| {
            let spec = WindowSpec::Time {
                secs: f64::from(secs),
                hop_secs: hop,
                sample_rate_hz: rate,
                max_gap_secs: gap,
                lateness_secs: late,
            };
            spec.validate().ok().map(|_| spec)
        })
}

fn sample_spec() -> impl Strategy<Value = WindowSpec> {
    (
        1usize..20,
        1usize..20,
        prop_oneof![Just(None), Just(Some(2.0))],
    )
        .prop_filter_map("valid", |(len, hop, gap)| {
            let spec = WindowSpec::Samples {
                len,
                hop,
                sample_rate_hz: 1.0,
                max_gap_secs: gap,
            };
            spec.validate().ok().map(|_| spec)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any timestamps, any valid spec: no panic, bounded windows per push, well-formed windows.
    #[test]
    fn any_timestamps_bounded_work_no_panic(
        spec in prop_oneof![time_spec(true), sample_spec()],
        signals in 1usize..4,
        items in proptest::collection::vec((0usize..4, any_ts(), -1e3f64..1e3), 1..200),
    ) {
        let mut w = Windower::new(spec, signals).unwrap();
        let len = spec.shape().len;
        let mut got = Vec::new();
        for (sig, ts, v) in items {
            let before = w.counters();
            let mut n = 0usize;
            w.push(sig % signals, ts, v, |view| {
                n += 1;
                got.push((view.start_ns, view.end_ns));
                assert_eq!(view.signals.len(), signals);
                assert!(view.signals.iter().all(|s| s.len() == len));
                assert!(view.start_ns <= view.end_ns);
            });
            let after = w.counters();
            prop_assert!(after.evaluated - before.evaluated <= MAX_WINDOWS_PER_PUSH as u64);
            prop_assert!(n <= MAX_WINDOWS_PER_PUSH);
        }
    }

    /// A regular stream that jumps to another time base (either way, any distance beyond `J`)
    /// produces, on the new base, the windows a fresh windower would.
    #[test]
    fn a_jump_recovers_exactly_on_the_new_base(
        spec in time_spec(false),
        signals in 1usize..3,
        n_before in 0usize..80,
        n_after in 0usize..80,
        target in any::<i64>(),
        step_ms in prop_oneof![Just(250i64), Just(1000), Just(3000)],
    ) {
        let WindowSpec::Time { secs, hop_secs, lateness_secs, max_gap_secs, sample_rate_hz } = spec
        else {
            unreachable!()
        };
        let step = step_ms * 1_000_000;
        // A stream denser than J (sparser ones are accepted in groups: tested apart).
        let max_gap = max_gap_secs.unwrap_or(2.0 / sample_rate_hz);
        prop_assume!((step as f64) <= (secs + lateness_secs + hop_secs + max_gap) * 1e9);
        let span = step * 100;
        // Base A around T0, base B anywhere `J` away, both fitting in i64.
        let a = T0 * S;
        let b = target.clamp(i64::MIN + span, i64::MAX - span);
        // J plus slack: max_gap is at most 20 s here (two periods at 0.1 Hz).
        let j = (secs + lateness_secs + hop_secs + 40.0) * 1e9 + 2.0 * span as f64;
        prop_assume!(((b as f64) - (a as f64)).abs() > j);
        let before = rows(a, step, n_before, signals);
        let after = rows(b, step, n_after, signals);
        let mut w = Windower::new(spec, signals).unwrap();
        let mut items = before.clone();
        items.extend(&after);
        let got = feed(&mut w, &items);
        let mut fresh = Windower::new(spec, signals).unwrap();
        let want = feed(&mut fresh, &after);
        let lo = b - span;
        let hi = b + span;
        let on_b: Vec<_> = got.into_iter().filter(|g| g.0 >= lo && g.0 <= hi).collect();
        let c = w.counters();
        if n_before > 0 && n_after < JUMP_CONFIRM {
            // Still held: not confirmed yet, nothing of base B emitted.
            prop_assert!(on_b.is_empty());
            prop_assert_eq!(c.time_jumps, 0);
        } else {
            prop_assert_eq!(on_b, want);
            prop_assert_eq!(c.outlier, 0);
            prop_assert_eq!(c.late, fresh.counters().late);
            prop_assert_eq!(c.time_jumps, u64::from(n_before > 0));
        }
    }

    /// One wild sample in a regular stream costs exactly that sample.
    #[test]
    fn a_single_outlier_costs_only_itself(
        spec in time_spec(false),
        n in 1usize..120,
        at in 1usize..120, // (a wild *first* sample is the base until K samples overrule it)
        wild in any_ts(),
    ) {
        let WindowSpec::Time { secs, hop_secs, lateness_secs, .. } = spec else {
            unreachable!()
        };
        let clean = rows(T0 * S, S, n, 1);
        let j = (secs + lateness_secs + hop_secs + 40.0) * 1e9;
        let end = T0 * S + n as i64 * S;
        prop_assume!((wild as f64) < (T0 * S) as f64 - j || (wild as f64) > end as f64 + j);
        let mut items = clean.clone();
        items.insert(at.min(n), (0, wild, 1e9));
        let mut w = Windower::new(spec, 1).unwrap();
        let got = feed(&mut w, &items);
        let mut reference = Windower::new(spec, 1).unwrap();
        let want = feed(&mut reference, &clean);
        if at < n {
            // Followed by a sample on the base: dropped as an outlier.
            prop_assert_eq!(got, want);
            prop_assert_eq!(w.counters().outlier, 1);
        } else {
            // Last: still held, nothing emitted for it.
            prop_assert_eq!(got, want);
        }
    }

    /// Sample windows: after a jump back beyond `J_s`, the windows of the stream behind are
    /// those of a fresh windower once `K_s` samples confirmed it.
    #[test]
    fn sample_windows_recover_after_a_jump_back(
        spec in sample_spec(),
        n_before in 1usize..60,
        n_after in 0usize..80,
        back in 1i64..1_000_000,
    ) {
        let WindowSpec::Samples { len, max_gap_secs, .. } = spec else { unreachable!() };
        let a = T0 * S;
        let jump = (len as i64 + max_gap_secs.map_or(0, |g| g as i64) + 1) * S;
        let b = a - jump - back * S;
        let before = rows(a, S, n_before, 1);
        let after = rows(b, S, n_after, 1);
        // Every sample behind by more than J_s = max(max_gap, len / rate).
        prop_assume!(b + n_after as i64 * S + jump < a);
        let mut items = before;
        items.extend(&after);
        let mut w = Windower::new(spec, 1).unwrap();
        let got = feed(&mut w, &items);
        let mut fresh = Windower::new(spec, 1).unwrap();
        let want = feed(&mut fresh, &after);
        let on_b: Vec<_> = got.into_iter().filter(|g| g.1 < a).collect();
        if n_after >= JUMP_CONFIRM.max(len) {
            prop_assert_eq!(on_b, want);
            prop_assert_eq!(w.counters().time_jumps, 1);
        } else {
            prop_assert!(on_b.is_empty());
            prop_assert_eq!(w.counters().time_jumps, 0);
        }
    }
}

/// Every window a windower emits for `items`, as (start, end, values).
type Emitted = Vec<(i64, i64, Vec<Vec<f64>>)>;

fn push_all(w: &mut Windower, signals: usize, items: &[(usize, i64, f64)], got: &mut Emitted) {
    for &(sig, ts, v) in items {
        w.push(sig % signals, ts, v, |view| {
            got.push((view.start_ns, view.end_ns, view.signals.to_vec()))
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A windower stopped anywhere, kept as a snapshot through CBOR and taken back by a new
    /// one, emits exactly the windows the uninterrupted one emits (the model thread's
    /// checkpoint across a crash).
    #[test]
    fn a_snapshot_taken_back_goes_on_exactly_where_it_was(
        spec in prop_oneof![time_spec(true), sample_spec()],
        signals in 1usize..4,
        items in proptest::collection::vec((0usize..4, any_ts(), -1e3f64..1e3), 1..200),
        cut in 0usize..200,
    ) {
        let cut = cut.min(items.len());
        let mut whole = Windower::new(spec, signals).unwrap();
        let mut want = Vec::new();
        push_all(&mut whole, signals, &items, &mut want);

        let mut first = Windower::new(spec, signals).unwrap();
        let mut got = Vec::new();
        push_all(&mut first, signals, &items[..cut], &mut got);
        let mut second = Windower::new(spec, signals).unwrap();
        if let Some(snap) = first.snapshot(usize::MAX) {
            let bytes = crate::codec::to_cbor(&snap).unwrap();
            let back: WindowSnapshot = crate::codec::from_cbor(&bytes).unwrap();
            prop_assert_eq!(&back, &snap);
            second.restore(back).unwrap();
        }
        push_all(&mut second, signals, &items[cut..], &mut got);
        prop_assert_eq!(got, want);
        // And counts the same: what each part did adds up to the whole.
        let mut parts = first.counters();
        parts.add(&second.counters());
        prop_assert_eq!(parts, whole.counters());
    }
}

#[test]
fn a_snapshot_is_only_taken_back_by_the_same_window_and_when_whole() {
    let spec = WindowSpec::Time {
        secs: 10.0,
        hop_secs: 5.0,
        sample_rate_hz: 1.0,
        max_gap_secs: None,
        lateness_secs: 0.0,
    };
    let mut w = Windower::new(spec, 2).unwrap();
    assert_eq!(w.snapshot(100), None, "nothing held");
    for k in 0..4 {
        w.push(0, (T0 + k) * S, 1.0, |_| {});
        w.push(1, (T0 + k) * S, 2.0, |_| {});
    }
    let snap = w.snapshot(100).unwrap();
    assert_eq!(snap.values(), 8);
    assert_eq!(w.snapshot(7), None, "over the cap");

    let longer = WindowSpec::Time {
        secs: 20.0,
        hop_secs: 5.0,
        sample_rate_hz: 1.0,
        max_gap_secs: None,
        lateness_secs: 0.0,
    };
    let mut w2 = Windower::new(longer, 2).unwrap();
    assert_eq!(w2.restore(snap.clone()), Err(RestoreError::OtherSpec));
    let mut w3 = Windower::new(spec, 3).unwrap();
    assert_eq!(
        w3.restore(snap.clone()),
        Err(RestoreError::OtherSignals { now: 3, then: 2 })
    );
    let samples = WindowSpec::Samples {
        len: 4,
        hop: 2,
        sample_rate_hz: 1.0,
        max_gap_secs: None,
    };
    let mut w4 = Windower::new(samples, 2).unwrap();
    assert_eq!(w4.restore(snap.clone()), Err(RestoreError::OtherSpec));

    // Damaged on disk: out of order, or off the grid.
    let mut bad = snap.clone();
    if let snapshot::StateSnapshot::Time(t) = &mut bad.state {
        t.signals[0].reverse();
    }
    let mut w5 = Windower::new(spec, 2).unwrap();
    assert_eq!(
        w5.restore(bad),
        Err(RestoreError::Invalid("samples out of time order"))
    );
    let mut bad = snap.clone();
    if let snapshot::StateSnapshot::Time(t) = &mut bad.state {
        t.next_start = t.next_start.map(|n| n + 1);
    }
    assert_eq!(
        w5.restore(bad),
        Err(RestoreError::Invalid("a time off the grid"))
    );
    // Nothing changed by a refused snapshot; the good one is taken.
    assert_eq!(w5.snapshot(100), None);
    w5.restore(snap.clone()).unwrap();
    assert_eq!(w5.snapshot(100), Some(snap));

    let mut s = Windower::new(samples, 1).unwrap();
    for k in 0..3 {
        s.push(0, (T0 + k) * S, 1.0, |_| {});
    }
    let mut bad = s.snapshot(100).unwrap();
    if let snapshot::StateSnapshot::Samples(r) = &mut bad.state {
        r.push_too_many(5);
    }
    let mut s2 = Windower::new(samples, 1).unwrap();
    assert_eq!(
        s2.restore(bad),
        Err(RestoreError::Invalid("more samples than the window holds"))
    );
}
