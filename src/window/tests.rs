use super::*;

const S: i64 = 1_000_000_000;

fn samples(len: usize, hop: usize) -> WindowSpec {
    WindowSpec::Samples {
        len,
        hop,
        sample_rate_hz: 1.0,
        max_gap_secs: None,
    }
}

fn time(secs: f64, hop_secs: f64, rate: f64) -> WindowSpec {
    WindowSpec::Time {
        secs,
        hop_secs,
        sample_rate_hz: rate,
        max_gap_secs: None,
        lateness_secs: 0.0,
    }
}

/// Collected windows: (start, end, values per signal).
type Got = Vec<(i64, i64, Vec<Vec<f64>>)>;

fn push_all(w: &mut Windower, items: &[(usize, i64, f64)]) -> Got {
    let mut got = Vec::new();
    for &(sig, ts, v) in items {
        w.push(sig, ts, v, |view| {
            got.push((view.start_ns, view.end_ns, view.signals.to_vec()))
        });
    }
    got
}

#[test]
fn specs_are_validated() {
    assert_eq!(
        Windower::new(samples(4, 2), 0).err(),
        Some(WindowError::NoSignals)
    );
    assert_eq!(
        Windower::new(samples(0, 1), 1).err(),
        Some(WindowError::Empty)
    );
    assert_eq!(
        Windower::new(samples(4, 5), 1).err(),
        Some(WindowError::BadHop)
    );
    assert_eq!(
        Windower::new(samples(4, 0), 1).err(),
        Some(WindowError::BadHop)
    );
    assert_eq!(
        Windower::new(time(10.0, 20.0, 1.0), 1).err(),
        Some(WindowError::BadHop)
    );
    assert_eq!(
        Windower::new(time(10.0, 5.0, f64::NAN), 1).err(),
        Some(WindowError::BadRate)
    );
    assert_eq!(
        Windower::new(time(0.1, 0.1, 1.0), 1).err(),
        Some(WindowError::Empty)
    );
    assert!(matches!(
        Windower::new(time(1e9, 1.0, 1e3), 1).err(),
        Some(WindowError::TooLong(_))
    ));
}

#[test]
fn sample_windows_slide_by_the_hop() {
    let mut w = Windower::new(samples(4, 2), 1).unwrap();
    let items: Vec<_> = (0..8).map(|i| (0, i * S, i as f64)).collect();
    let got = push_all(&mut w, &items);
    let values: Vec<Vec<f64>> = got.iter().map(|g| g.2[0].clone()).collect();
    assert_eq!(
        values,
        vec![
            vec![0., 1., 2., 3.],
            vec![2., 3., 4., 5.],
            vec![4., 5., 6., 7.]
        ]
    );
    assert_eq!((got[1].0, got[1].1), (2 * S, 5 * S));
    assert_eq!(w.counters().windows, 3);
}

#[test]
fn sample_windows_align_several_signals_and_wait_for_the_slowest() {
    let mut w = Windower::new(samples(2, 2), 2).unwrap();
    let got = push_all(
        &mut w,
        &[
            (0, 0, 1.0),
            (0, S, 2.0),
            (1, 0, 10.0),
            (1, S, 20.0),
            (0, 2 * S, 3.0),
        ],
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, vec![vec![1.0, 2.0], vec![10.0, 20.0]]);
}

#[test]
fn sample_windows_drop_out_of_order_and_restart_after_a_gap() {
    let spec = WindowSpec::Samples {
        len: 3,
        hop: 3,
        sample_rate_hz: 1.0,
        max_gap_secs: Some(5.0),
    };
    let mut w = Windower::new(spec, 1).unwrap();
    let got = push_all(
        &mut w,
        &[
            (0, 10 * S, 1.0),
            (0, 9 * S, 99.0), // out of order: dropped
            (0, 11 * S, 2.0),
            (0, 30 * S, 3.0), // 19 s gap: the buffer restarts here
            (0, 31 * S, 4.0),
            (0, 32 * S, 5.0),
        ],
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2[0], vec![3.0, 4.0, 5.0]);
    let c = w.counters();
    assert_eq!((c.out_of_order, c.gap, c.windows), (1, 1, 1));
}

#[test]
fn time_windows_resample_by_sample_and_hold_on_an_epoch_aligned_grid() {
    // 4 s windows every 2 s at 1 Hz; samples at irregular times.
    let mut w = Windower::new(time(4.0, 2.0, 1.0), 1).unwrap();
    let got = push_all(
        &mut w,
        &[
            (0, 3 * S + S / 2, 3.5), // before the first window (starts at 4 s): hold value
            (0, 4 * S, 4.0),
            (0, 6 * S + S / 3, 6.3),
            (0, 7 * S, 7.0),
            (0, 8 * S, 8.0),   // watermark 8 s closes [4, 8)
            (0, 10 * S, 10.0), // closes [6, 10)
        ],
    );
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].0, got[0].1), (4 * S, 8 * S));
    assert_eq!(got[0].2[0], vec![4.0, 4.0, 4.0, 7.0]); // grid 4,5,6,7: 6 holds 4.0 (6.3 is later)
    assert_eq!((got[1].0, got[1].1), (6 * S, 10 * S));
    // grid 6, 7, 8, 9: at 7 s the sample at exactly 7 s supersedes the one at 6.33 s.
    assert_eq!(got[1].2[0], vec![4.0, 7.0, 8.0, 8.0]);
    assert_eq!(w.counters().late, 0);
}

#[test]
fn time_windows_accept_out_of_order_samples_until_they_close_and_count_late_ones() {
    let spec = WindowSpec::Time {
        secs: 2.0,
        hop_secs: 2.0,
        sample_rate_hz: 1.0,
        max_gap_secs: None,
        lateness_secs: 1.0,
    };
    let mut w = Windower::new(spec, 1).unwrap();
    let got = push_all(
        &mut w,
        &[
            (0, 2 * S, 2.0),
            (0, 4 * S, 4.0),
            (0, 3 * S, 3.0),  // out of order but [2, 4) is still open (lateness 1 s)
            (0, 5 * S, 5.0),  // watermark 5 − 1 = 4 closes [2, 4)
            (0, 3 * S, 33.0), // late: [2, 4) is closed
        ],
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2[0], vec![2.0, 3.0]);
    assert_eq!(w.counters().late, 1);
}

#[test]
fn time_windows_with_a_gap_are_skipped_and_counted() {
    // 1 Hz grid, default max gap 2 s.
    let mut w = Windower::new(time(4.0, 4.0, 1.0), 1).unwrap();
    let got = push_all(
        &mut w,
        &[
            (0, 0, 0.0),
            (0, S, 1.0),
            (0, 6 * S, 6.0),
            (0, 8 * S, 8.0),
            (0, 9 * S, 9.0),
            (0, 10 * S, 10.0),
            (0, 11 * S, 11.0),
            (0, 12 * S, 12.0),
        ],
    );
    // [0,4): grid 3 is 2 s after the sample at 1 → ok; [4,8): grid 4 is 3 s after 1 → gap.
    assert_eq!(got.iter().map(|g| g.0 / S).collect::<Vec<_>>(), vec![0, 8]);
    assert_eq!(got[0].2[0], vec![0.0, 1.0, 1.0, 1.0]);
    assert_eq!(w.counters().gap, 1);
}

#[test]
fn slow_signals_one_value_a_minute_make_hourly_windows() {
    let rate = 1.0 / 60.0;
    let mut w = Windower::new(time(3600.0, 600.0, rate), 2).unwrap();
    let mut items = Vec::new();
    for m in 0..180i64 {
        items.push((0, m * 60 * S + 5 * S, m as f64)); // 5 s after each minute
        items.push((1, m * 60 * S + 7 * S, -(m as f64)));
    }
    let got = push_all(&mut w, &items);
    // The first window starts at the first 10-min boundary after the first sample (600 s);
    // windows close up to the last sample (179 min 7 s): starts 600 s, 1200 s, ..., 6600 s.
    assert_eq!(got.len(), 11);
    assert_eq!(got[0].0, 600 * S);
    for (start, end, sigs) in &got {
        assert_eq!(end - start, 3600 * S);
        assert_eq!(sigs[0].len(), 60);
        // Grid point k at start + k min holds the sample of minute k − 1 (5 s after it).
        let first_minute = start / (60 * S);
        assert_eq!(sigs[0][1], first_minute as f64);
        assert_eq!(sigs[1][1], -(first_minute as f64));
    }
}

#[test]
fn high_rate_batches_12_khz_make_fixed_length_windows() {
    let mut w = Windower::new(
        WindowSpec::Samples {
            len: 2048,
            hop: 1024,
            sample_rate_hz: 12_000.0,
            max_gap_secs: Some(0.01),
        },
        1,
    )
    .unwrap();
    let period = S / 12_000;
    let mut n = 0;
    for batch in 0..12 {
        for i in 0..1000i64 {
            let k = batch * 1000 + i;
            w.push(0, k * period, (k as f64).sin(), |v| {
                assert_eq!(v.signals[0].len(), 2048);
                n += 1;
            });
        }
    }
    // 12000 samples: windows at 2048, 3072, ..., 11264 → 10.
    assert_eq!(n, 10);
    assert_eq!(w.counters().gap, 0);
}

/// Which windows go into a checkpoint: only those spanning a second or more, the longest
/// first, within the values budget.
#[test]
fn the_checkpoint_keeps_the_longest_windows_within_its_budget() {
    let samples = |len: usize, rate: f64| WindowSpec::Samples {
        len,
        hop: len,
        sample_rate_hz: rate,
        max_gap_secs: None,
    };
    // At 1 Hz: 3000 samples of a 6000-sample window (100 min), 2000 of a 4000-sample one;
    // at 12 kHz: 100 of a 2048-sample window (0.17 s).
    let mut slow = Windower::new(samples(4000, 1.0), 1).unwrap();
    let mut slower = Windower::new(samples(6000, 1.0), 1).unwrap();
    let mut vib = Windower::new(samples(2048, 12_000.0), 1).unwrap();
    for k in 0..3000 {
        slower.push(0, k * 1_000_000_000, 1.0, |_| {});
    }
    for k in 0..2000 {
        slow.push(0, k * 1_000_000_000, 1.0, |_| {});
    }
    for k in 0..100 {
        vib.push(0, k * 83_333, 1.0, |_| {});
    }
    let kept = checkpoint_snapshots(&[&vib, &slow, &slower]);
    let values: Vec<Option<usize>> = kept
        .iter()
        .map(|s| s.as_ref().map(|s| s.values()))
        .collect();
    // The vibration window spans 0.17 s; the longest goes first; 3000 + 2000 > 4096.
    assert_eq!(values, [None, None, Some(3000)]);
    let kept = checkpoint_snapshots(&[&vib, &slow]);
    assert_eq!(kept[1].as_ref().map(|s| s.values()), Some(2000));
}
