//! Any `i64` timestamp, clock jumps, and the work bound: unit tests (the property tests are in
//! `tests_props.rs`).

use super::*;

pub(super) const S: i64 = 1_000_000_000;
/// 2026-01-05 (the replay recordings' base), in s.
pub(super) const T0: i64 = 1_767_600_000;

/// The turbofan package's windows: 30 s every 1 s at 1 Hz, hold up to 2 s.
fn turbofan() -> WindowSpec {
    WindowSpec::Time {
        secs: 30.0,
        hop_secs: 1.0,
        sample_rate_hz: 1.0,
        max_gap_secs: Some(2.0),
        lateness_secs: 0.0,
    }
}

/// A window as emitted: (start, end, values per signal).
type Win = (i64, i64, Vec<Vec<f64>>);

/// Pushes, checking the work bound on every one; the windows emitted.
pub(super) fn feed(w: &mut Windower, items: &[(usize, i64, f64)]) -> Vec<Win> {
    let mut got = Vec::new();
    for &(sig, ts, v) in items {
        let before = w.counters();
        let mut n = 0;
        w.push(sig, ts, v, |view| {
            n += 1;
            got.push((view.start_ns, view.end_ns, view.signals.to_vec()));
        });
        let after = w.counters();
        assert!(
            after.evaluated - before.evaluated <= MAX_WINDOWS_PER_PUSH as u64,
            "push at {ts} evaluated {} windows",
            after.evaluated - before.evaluated
        );
        assert!(n <= MAX_WINDOWS_PER_PUSH);
        assert_eq!(after.windows - before.windows, n as u64);
    }
    got
}

/// One signal, one sample a second from `from` (s), values = seconds.
fn stream(from_s: i64, n: i64) -> Vec<(usize, i64, f64)> {
    (0..n)
        .map(|i| (0, (from_s + i) * S, (from_s + i) as f64))
        .collect()
}

#[test]
fn a_far_future_sample_is_an_outlier_and_changes_nothing_else() {
    // C-MAPSS replay with one row's ts changed to 9223372036 s (year 2262).
    let mut items = stream(T0 + 1, 100);
    let without: Vec<_> = items
        .iter()
        .copied()
        .filter(|x| x.1 != (T0 + 50) * S)
        .collect();
    items[49] = (0, 9_223_372_036 * S, 49.0);
    let mut w = Windower::new(turbofan(), 1).unwrap();
    let got = feed(&mut w, &items);
    let mut reference = Windower::new(turbofan(), 1).unwrap();
    let want = feed(&mut reference, &without);
    assert_eq!(got, want);
    assert_eq!(got.len(), 70); // windows [T0+1, +30) … ending at the last sample
    let c = w.counters();
    assert_eq!((c.outlier, c.late, c.time_jumps, c.gap), (1, 0, 0, 0));
}

#[test]
fn extreme_timestamps_neither_panic_nor_loop() {
    for spec in [
        turbofan(),
        WindowSpec::Time {
            secs: 1.0,
            hop_secs: 1e-9, // the smallest hop a manifest can give
            sample_rate_hz: 1.0,
            max_gap_secs: None,
            lateness_secs: 0.0,
        },
    ] {
        let mut w = Windower::new(spec, 2).unwrap();
        let extremes = [i64::MIN, i64::MIN + 1, -S, 0, 1, S, i64::MAX - 1, i64::MAX];
        let mut items = Vec::new();
        for (i, &a) in extremes.iter().enumerate() {
            for &b in extremes.iter().rev() {
                items.push((i % 2, a, 1.0));
                items.push(((i + 1) % 2, b, 2.0));
                items.push((0, b, 3.0));
            }
        }
        feed(&mut w, &items);
        // Then a sane stream on each signal recovers.
        let before = w.counters().windows;
        let mut sane = Vec::new();
        for i in 0..100 {
            sane.push((0, (T0 + i) * S, 1.0));
            sane.push((1, (T0 + i) * S, 2.0));
        }
        feed(&mut w, &sane);
        assert!(
            w.counters().windows > before,
            "{spec:?}: {:?}",
            w.counters()
        );
    }
}

#[test]
fn a_one_nanosecond_hop_is_bounded_and_counts_what_it_skips() {
    let spec = WindowSpec::Time {
        secs: 30.0,
        hop_secs: 1e-9,
        sample_rate_hz: 1.0,
        max_gap_secs: Some(2.0),
        lateness_secs: 0.0,
    };
    let mut w = Windower::new(spec, 1).unwrap();
    let got = feed(&mut w, &stream(T0, 100));
    let c = w.counters();
    // Every second, 10⁹ windows are due: 64 evaluated (the oldest), the rest skipped.
    assert!(c.evaluated <= 100 * MAX_WINDOWS_PER_PUSH as u64);
    assert!(c.skipped_burst > 60 * 999_000_000, "{c:?}");
    assert!(!got.is_empty());
    assert!(got.iter().all(|g| g.1 - g.0 == 30 * S));
}

#[test]
fn a_clock_corrected_forward_resumes_on_the_new_base_and_loses_nothing() {
    // A gateway booted with a 1970 clock, corrected by NTP after 100 s.
    let mut items = stream(1, 100);
    let after = stream(T0, 100);
    items.extend(&after);
    let mut w = Windower::new(turbofan(), 1).unwrap();
    let got = feed(&mut w, &items);
    let mut fresh = Windower::new(turbofan(), 1).unwrap();
    let want = feed(&mut fresh, &after);
    let new_base: Vec<_> = got.iter().filter(|g| g.0 >= T0 * S).cloned().collect();
    assert_eq!(new_base, want);
    let c = w.counters();
    assert_eq!((c.time_jumps, c.outlier, c.late), (1, 0, 0));
    // The old base's windows: [1, 31) … [70, 100) up to the last sample, then the three
    // that the hold (2 s) still covers.
    assert_eq!(got.len() - new_base.len(), 73);
    assert!(
        c.gap > 1_000_000_000,
        "the 56 years between are counted as gap: {c:?}"
    );
    assert!(c.evaluated < 250, "{c:?}");
}

#[test]
fn a_clock_corrected_back_restarts_the_windows_after_three_timestamps() {
    // A clock a day ahead, corrected back.
    let mut items = stream(T0 + 86_400, 100);
    let after = stream(T0, 100);
    items.extend(&after);
    let mut w = Windower::new(turbofan(), 1).unwrap();
    let got = feed(&mut w, &items);
    let mut fresh = Windower::new(turbofan(), 1).unwrap();
    let want = feed(&mut fresh, &after);
    let new_base: Vec<_> = got
        .iter()
        .filter(|g| g.0 < (T0 + 86_400) * S)
        .cloned()
        .collect();
    assert_eq!(new_base, want);
    let c = w.counters();
    assert_eq!((c.time_jumps, c.outlier, c.late), (1, 0, 0));
    // The old base's open windows: starts 70 … 99 after its first sample (30 of them).
    assert_eq!(c.skipped_jump, 30);
}

#[test]
fn a_small_step_back_is_late_only_until_the_stream_catches_up() {
    // Back by 20 s (< J = 33 s): samples are late until they pass the closed windows.
    let mut items = stream(T0, 100);
    items.extend(stream(T0 + 80, 60));
    let mut w = Windower::new(turbofan(), 1).unwrap();
    let got = feed(&mut w, &items);
    let c = w.counters();
    assert_eq!((c.time_jumps, c.outlier), (0, 0));
    // Windows up to [T0+70, T0+100) closed; the samples at T0+80 … T0+99 are buffered (the
    // window starting at T0+70 is still open), duplicates of what was there.
    assert_eq!(c.late, 0);
    assert_eq!(got.last().map(|g| g.0), Some((T0 + 109) * S));
    // A step back past the open windows but within J (33 s): late until the stream passes
    // them.
    let mut w = Windower::new(turbofan(), 1).unwrap();
    let mut items = stream(T0, 100);
    items.extend(stream(T0 + 66, 100));
    feed(&mut w, &items);
    let c = w.counters();
    assert_eq!((c.late, c.time_jumps), (4, 0), "{c:?}"); // T0+66 … T0+69
}

#[test]
fn suspects_that_disagree_with_each_other_never_confirm() {
    // A device sending garbage timestamps among good ones.
    let mut w = Windower::new(turbofan(), 1).unwrap();
    let mut items = Vec::new();
    let wild = [
        i64::MAX,
        i64::MIN,
        0,
        9_223_372_036 * S,
        -S,
        17_676_000_510 * 1_000_000, // one digit too many, read as ms
    ];
    for i in 0..200 {
        items.push((0, (T0 + i) * S, 1.0));
        if i % 10 == 5 {
            items.push((0, wild[(i as usize / 10) % wild.len()], 9.0));
        }
    }
    let got = feed(&mut w, &items);
    let c = w.counters();
    assert_eq!((c.outlier, c.time_jumps, c.late), (20, 0, 0));
    assert_eq!(got.len(), 170);
    assert!(got.iter().all(|g| g.2[0].iter().all(|&v| v == 1.0)));
}

#[test]
fn sample_windows_recover_from_a_jump_back_after_k_samples() {
    let spec = WindowSpec::Samples {
        len: 4,
        hop: 2,
        sample_rate_hz: 1.0,
        max_gap_secs: None,
    };
    let mut w = Windower::new(spec, 1).unwrap();
    let mut items = stream(T0, 10);
    items.push((0, 9_223_372_036 * S, -1.0)); // forward outlier: accepted
    let after = stream(T0 + 10, 10);
    items.extend(&after);
    let got = feed(&mut w, &items);
    let c = w.counters();
    assert_eq!((c.time_jumps, c.out_of_order), (1, 0));
    // After the restart the windows are those of a fresh windower on the stream behind.
    let mut fresh = Windower::new(spec, 1).unwrap();
    let want = feed(&mut fresh, &after);
    assert_eq!(got[got.len() - want.len()..], want[..]);
    // An ordinary swap is still just out of order.
    let mut w = Windower::new(spec, 1).unwrap();
    feed(
        &mut w,
        &[(0, 10 * S, 1.0), (0, 9 * S, 2.0), (0, 11 * S, 3.0)],
    );
    assert_eq!((w.counters().out_of_order, w.counters().time_jumps), (1, 0));
    // Two suspects then a sample in order: dropped as out of order, no jump.
    let mut w = Windower::new(spec, 1).unwrap();
    feed(
        &mut w,
        &[
            (0, 100 * S, 1.0),
            (0, S, 2.0),
            (0, 2 * S, 3.0),
            (0, 101 * S, 4.0),
        ],
    );
    assert_eq!((w.counters().out_of_order, w.counters().time_jumps), (2, 0));
}

#[test]
fn a_stream_sparser_than_j_is_accepted_in_groups_and_loses_nothing() {
    // 10 s windows held up to 60 s, one sample every 100 s: J = 10 + 10 + 60 = 80 s.
    let spec = WindowSpec::Time {
        secs: 10.0,
        hop_secs: 10.0,
        sample_rate_hz: 1.0,
        max_gap_secs: Some(60.0),
        lateness_secs: 0.0,
    };
    let mut w = Windower::new(spec, 1).unwrap();
    let items: Vec<_> = (0..20).map(|i| (0, (T0 + 100 * i) * S, i as f64)).collect();
    let got = feed(&mut w, &items);
    let c = w.counters();
    assert_eq!((c.outlier, c.late), (0, 0), "{c:?}");
    // After each sample, the windows its hold covers: starts t … t + 50 s (6 of them), each
    // constant. The last samples' windows wait for later samples (still held, or not due).
    for i in 0..17 {
        let t = (T0 + 100 * i) * S;
        let mine: Vec<_> = got
            .iter()
            .filter(|g| g.0 >= t && g.0 < t + 100 * S)
            .collect();
        assert_eq!(mine.len(), 6, "sample {i}: {mine:?}");
        assert!(mine.iter().all(|g| g.2[0].iter().all(|&v| v == i as f64)));
    }
}

#[test]
fn a_batch_resent_from_the_past_is_only_out_of_order() {
    // 8-sample windows: a batch of 7 old samples (an MQTT redelivery) then the stream goes on.
    let spec = WindowSpec::Samples {
        len: 8,
        hop: 4,
        sample_rate_hz: 1.0,
        max_gap_secs: None,
    };
    let mut items = stream(T0, 20);
    items.extend(stream(T0 + 2, 7));
    items.extend(stream(T0 + 20, 20));
    let mut w = Windower::new(spec, 1).unwrap();
    let got = feed(&mut w, &items);
    let mut reference = Windower::new(spec, 1).unwrap();
    let mut clean = stream(T0, 20);
    clean.extend(stream(T0 + 20, 20));
    assert_eq!(got, feed(&mut reference, &clean));
    assert_eq!((w.counters().out_of_order, w.counters().time_jumps), (7, 0));
}

#[test]
fn sample_windows_of_several_signals_stay_aligned_across_a_jump_back() {
    // One reading of three signals per window (the process-failure package's shape).
    let spec = WindowSpec::Samples {
        len: 1,
        hop: 1,
        sample_rate_hz: 1.0,
        max_gap_secs: None,
    };
    let mut w = Windower::new(spec, 3).unwrap();
    let mut items = rows(T0 * S, S, 5, 3);
    let after = rows((T0 - 3600) * S, S, 5, 3);
    items.extend(&after);
    let got = feed(&mut w, &items);
    let mut fresh = Windower::new(spec, 3).unwrap();
    let want = feed(&mut fresh, &after);
    assert_eq!(want.len(), 5);
    assert_eq!(got[5..], want[..]);
    assert_eq!(w.counters().time_jumps, 1);
}

/// A regular stream of `n` rows of `signals` samples, `step` ns apart from `from`.
pub(super) fn rows(from: i64, step: i64, n: usize, signals: usize) -> Vec<(usize, i64, f64)> {
    let mut v = Vec::new();
    for i in 0..n as i64 {
        for s in 0..signals {
            v.push((s, from + i * step, (i * 7 + s as i64) as f64));
        }
    }
    v
}
