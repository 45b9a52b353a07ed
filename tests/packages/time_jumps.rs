//! Hostile timestamps through [`ModelRunner`] with the shipped `turbofan-rul` package and the
//! C-MAPSS recording the demo replays (`firmware-config/recordings/turbofan-fd001-test-units.csv`,
//! engine 81): a far-future row, clock jumps either way, a 1 ns hop, arbitrary `i64` times.
//! Every push is checked by [`super::replay_rows`] / [`push_checked`]: at most
//! [`MAX_WINDOWS_PER_PUSH`] windows, each scored. The rules and numbers checked here are in
//! `src/window/mod.rs`'s header.

use std::sync::{Arc, OnceLock};

use forewarn::model::runner::{Binding, Infer, InferError, LoadedModel, ModelRunner};
use forewarn::record::{AssetMeta, Record, Sample};
use forewarn::window::{WindowSpec, JUMP_CONFIRM, MAX_WINDOWS_PER_PUSH};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use super::{package, replay_rows, repo, Event};

const S: i64 = 1_000_000_000;
/// Cycle c of the recording is at T0 + c seconds.
const T0: i64 = 1_767_600_000;
/// The turbofan window: 30 cycles.
const WINDOW_ROWS: usize = 30;
/// Engine 81's end of life (cycle), from `models/turbofan-rul/replay/expected.json`.
const END_OF_LIFE: i64 = 221;

/// Signal columns, and rows of (ts, one value per column).
type Rows = (Vec<String>, Vec<(i64, Vec<f64>)>);

/// Engine 81's rows of the demo recording (ts in s).
fn engine_81() -> &'static Rows {
    static ROWS: OnceLock<Rows> = OnceLock::new();
    ROWS.get_or_init(|| {
        let path = repo().join("firmware-config/recordings/turbofan-fd001-test-units.csv");
        let text = std::fs::read_to_string(&path).expect("recording");
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .expect("header")
            .split(',')
            .map(str::to_string)
            .collect();
        assert_eq!(header[..2], ["ts", "asset"]);
        let rows: Vec<(i64, Vec<f64>)> = lines
            .filter(|l| l.split(',').nth(1) == Some("engine-81"))
            .map(|l| {
                let mut f = l.split(',');
                let ts = f.next().and_then(|t| t.parse().ok()).expect("ts");
                let v = f.skip(1).map(|x| x.parse().expect("value")).collect();
                (ts, v)
            })
            .collect();
        assert_eq!(rows.len(), 213);
        (header[2..].to_vec(), rows)
    })
}

fn turbofan() -> Arc<LoadedModel> {
    static MODEL: OnceLock<Arc<LoadedModel>> = OnceLock::new();
    MODEL.get_or_init(|| package("turbofan-rul")).clone()
}

/// Engine 81's rows with event times in ns.
fn rows_ns() -> Vec<(i64, Vec<f64>)> {
    engine_81()
        .1
        .iter()
        .map(|(t, v)| (t * S, v.clone()))
        .collect()
}

/// The cycle (row) a window ending at `end_ns` ends with.
fn cycle(end_ns: i64) -> i64 {
    end_ns / S - T0 - 1
}

fn first_raise(events: &[Event]) -> Option<i64> {
    events
        .iter()
        .find(|e| e.0 == "low-rul" && e.1 == "raised")
        .map(|e| cycle(e.2))
}

#[test]
fn a_far_future_row_neither_hangs_the_runner_nor_silences_what_follows() {
    // Issue 14, item 1: one row's ts changed to 9223372036 (seconds: the year 2262).
    let model = turbofan();
    let columns = &engine_81().0;
    let clean = rows_ns();
    let at = 99; // cycle 100
    let mut bad = clean.clone();
    bad[at].0 = 9_223_372_036 * S;
    let mut without = clean.clone();
    without.remove(at);

    let got = replay_rows(&model, columns, &bad);
    let want = replay_rows(&model, columns, &without);
    let reference = replay_rows(&model, columns, &clean);
    // The row is dropped as an outlier (its 14 samples), exactly as if it had not been sent.
    assert_eq!(got.events, want.events);
    assert_eq!(got.per_row[..at], want.per_row[..at]);
    assert_eq!(got.per_row[at + 1..], want.per_row[at..]);
    let c = got.runner.window_counters("turbofan-rul");
    assert_eq!((c.outlier, c.late, c.time_jumps, c.gap), (14, 0, 0, 0));
    let status = got.runner.status();
    assert_eq!(
        status["turbofan-rul"].window_drops.get("outlier"),
        Some(&14)
    );
    // Every window is still made (the hold covers the missing cycle) and scored.
    assert_eq!(got.inferences, reference.inferences);
    assert_eq!(got.inferences, 183);
    // Windows that do not hold cycle 100 score as in the unchanged recording, and so do the
    // alerts after them.
    let later = |e: &[Event]| -> Vec<Event> {
        e.iter()
            .filter(|x| cycle(x.2) >= at as i64 + 1 + WINDOW_ROWS as i64)
            .cloned()
            .collect()
    };
    assert_eq!(later(&got.events), later(&reference.events));
    let raised = first_raise(&got.events).expect("low-rul raised");
    assert!(raised < END_OF_LIFE, "raised at cycle {raised}");
    assert_eq!(Some(raised), first_raise(&reference.events));
}

#[test]
fn clock_jumps_either_way_recover_within_the_documented_rows() {
    let model = turbofan();
    let columns = &engine_81().0;
    let split = 50;
    for (what, wrong_base) in [
        ("a 1970 clock corrected forward by NTP", 0i64),
        ("a clock a year ahead corrected back", T0 + 365 * 86_400),
    ] {
        let mut rows = rows_ns();
        for (i, r) in rows.iter_mut().take(split).enumerate() {
            r.0 = (wrong_base + i as i64 + 1) * S;
        }
        let tail = rows[split..].to_vec();
        let got = replay_rows(&model, columns, &rows);
        let fresh = replay_rows(&model, columns, &tail);
        // From the K-th row on the new base, the runner scores exactly what a runner started
        // on the new base scores (the K held rows are replayed, not lost).
        assert_eq!(
            got.per_row[split + JUMP_CONFIRM..],
            fresh.per_row[JUMP_CONFIRM..],
            "{what}"
        );
        let on_new_base: Vec<Event> = got
            .events
            .iter()
            .filter(|e| e.2 > T0 * S && e.2 < (T0 + 1000) * S)
            .cloned()
            .collect();
        assert_eq!(on_new_base, fresh.events, "{what}");
        let c = got.runner.window_counters("turbofan-rul");
        assert_eq!(
            (c.time_jumps, c.outlier, c.late),
            (1, 0, 0),
            "{what}: {c:?}"
        );
        // Forward, the confirming row also closes the three old-base windows the 2 s hold
        // still covers, in one push: all scored. Back, the old base's open windows are
        // discarded (counted).
        let confirming = got.per_row[split + JUMP_CONFIRM - 1];
        if wrong_base == 0 {
            assert_eq!((confirming, c.skipped_jump), (3, 0), "{what}");
        } else {
            assert_eq!((confirming, c.skipped_jump), (0, 30), "{what}");
        }
        let raised = first_raise(&got.events).expect("low-rul raised");
        assert!(raised < END_OF_LIFE, "{what}: raised at cycle {raised}");
    }
}

#[test]
fn a_far_future_vibration_sample_costs_one_buffer_and_the_fault_is_still_found() {
    // Sample windows (2048 samples, hop 1024, 12 kHz): one sample stamped in 2262 early in
    // the inner-race excerpt. The samples behind it are a jump back; K_s = max(3, N) = 2048
    // of them confirm it, the buffer restarts with them and makes a window at once: windows
    // resume 2048 samples after the outlier.
    let model = package("bearing-fault");
    let file = super::package_dir("bearing-fault").join("replay/inner_race.csv");
    let (columns, rows) = super::read_csv(&file);
    let mut rows: Vec<(i64, Vec<f64>)> = rows.into_iter().map(|(t, v)| (t * 1000, v)).collect();
    assert_eq!(rows.len(), 18_000);
    rows[1000].0 = 9_223_372_036 * S;
    let got = replay_rows(&model, &columns, &rows);
    let c = got.runner.window_counters("bearing-fault");
    assert_eq!((c.time_jumps, c.out_of_order, c.gap), (1, 0, 0), "{c:?}");
    // Windows at samples 3048, 4072, …, 17384: 15 (16 without the outlier).
    assert_eq!(got.inferences, 15);
    let mut raised: Vec<&str> = got
        .events
        .iter()
        .filter(|e| e.1 == "raised")
        .map(|e| e.0.as_str())
        .collect();
    raised.sort_unstable();
    assert_eq!(raised, ["bearing-fault", "bearing-inner-race"]);
}

#[test]
fn several_windows_closed_by_one_push_are_all_scored() {
    // Issue 14, item 6: one cycle every 2 s (a slow signal for a 1 s hop): each row closes
    // two windows (the 2 s hold covers the grid point between), and both are inferred.
    let model = turbofan();
    let rows: Vec<(i64, Vec<f64>)> = engine_81()
        .1
        .iter()
        .take(100)
        .enumerate()
        .map(|(i, (_, v))| ((T0 + 2 * i as i64) * S, v.clone()))
        .collect();
    let got = replay_rows(&model, &engine_81().0, &rows);
    let c = got.runner.window_counters("turbofan-rul");
    // Windows [T0, T0+30) … ending at the last row (T0 + 198 s): 169, none with a gap.
    assert_eq!((c.windows, c.gap), (169, 0));
    assert_eq!(got.inferences, c.windows);
    // Row 15 (T0 + 30 s) closes the first window; every later row closes two.
    assert_eq!(got.per_row[15], 1);
    assert!(
        got.per_row[16..].iter().all(|&n| n == 2),
        "{:?}",
        got.per_row
    );
}

/// A package's model under another manifest (same ONNX model).
struct Same(Arc<LoadedModel>);

impl Infer for Same {
    fn infer(&self, features: &[f32]) -> Result<Vec<f32>, InferError> {
        self.0.model.infer(features)
    }
}

#[test]
fn a_one_nanosecond_hop_is_bounded_and_counted() {
    // Issue 14, item 4: a manifest `hop_secs` down to 1 ns.
    let base = turbofan();
    let mut manifest = base.manifest.clone();
    manifest.window = WindowSpec::Time {
        secs: 30.0,
        hop_secs: 1e-9,
        sample_rate_hz: 1.0,
        max_gap_secs: Some(2.0),
        lateness_secs: 0.0,
    };
    let model = Arc::new(LoadedModel {
        manifest,
        model: Box::new(Same(base)),
    });
    let rows = rows_ns()[..40].to_vec();
    let got = replay_rows(&model, &engine_81().0, &rows);
    // 10⁹ windows are due per cycle after the first 30: 64 scored, the rest skipped.
    assert!(got
        .per_row
        .iter()
        .all(|&n| n <= MAX_WINDOWS_PER_PUSH as u64));
    assert_eq!(got.inferences, 1 + 9 * MAX_WINDOWS_PER_PUSH as u64);
    let c = got.runner.window_counters("turbofan-rul");
    assert_eq!(
        c.skipped_burst,
        9 * (1_000_000_000 - MAX_WINDOWS_PER_PUSH as u64)
    );
    let status = got.runner.status();
    assert_eq!(
        status["turbofan-rul"].window_drops.get("skipped_burst"),
        Some(&c.skipped_burst)
    );
}

/// Push one sample, checking that every window it closed was scored, at most
/// [`MAX_WINDOWS_PER_PUSH`] of them; returns the windows scored.
fn push_checked(runner: &mut ModelRunner, s: &Sample, out: &mut Vec<Record>) -> u64 {
    let scored = |r: &ModelRunner| {
        let st = &r.stats()["turbofan-rul"];
        (
            st.inferences + st.errors,
            r.window_counters("turbofan-rul").windows,
        )
    };
    let (s0, w0) = scored(runner);
    runner.push(s, out);
    let (s1, w1) = scored(runner);
    assert_eq!(s1 - s0, w1 - w0, "every window is scored");
    assert!(w1 - w0 <= MAX_WINDOWS_PER_PUSH as u64);
    w1 - w0
}

/// Timestamps a hostile device could send.
fn any_ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0i64),
        Just(-1i64),
        (-300i64..300).prop_map(|d| (T0 + d) * S),
        (-5i64..=0).prop_map(|d| 9_223_372_036 * S + d * S),
        (-5i64..5).prop_map(|d| 17_676_000_510 * 1_000_000 + d * S),
    ]
}

/// Garbage rows (ts, how many of the 14 signals, which recording row gives the values), then
/// `n_clean` rows of a clean stream from `CLEAN_BASE` (s) through one runner, and the clean rows
/// alone through a fresh one. Every push is checked (bounded, every window scored); from the
/// K-th clean row on, both score the same windows per row. Returns the first difference.
fn garbage_then_clean(garbage: &[(i64, usize, usize)], n_clean: usize) -> Result<(), String> {
    let model = turbofan();
    let m = &model.manifest;
    let (columns, rows) = engine_81();
    let asset: Arc<str> = Arc::from("a");
    let signals: Vec<Arc<str>> = m.signals.iter().map(|s| Arc::from(s.as_str())).collect();
    let col: Vec<usize> = m
        .signals
        .iter()
        .map(|s| columns.iter().position(|c| c == s).expect("column"))
        .collect();
    let binding = Binding {
        asset: asset.clone(),
        signals: signals.clone(),
        meta: AssetMeta::default(),
    };
    let new_runner = || {
        ModelRunner::new("gw", "site", vec![(model.clone(), vec![binding.clone()])])
            .expect("runner")
    };
    let mut runner = new_runner();
    let mut fresh = new_runner();
    let mut out = Vec::new();
    let sample = |k: usize, ts_ns: i64, row: usize| Sample {
        asset: asset.clone(),
        signal: signals[k].clone(),
        ts_ns,
        value: rows[row % rows.len()].1[col[k]],
    };
    for &(ts, n, row) in garbage {
        for k in 0..n.min(signals.len()) {
            push_checked(&mut runner, &sample(k, ts, row), &mut out);
        }
    }
    for i in 0..n_clean {
        let ts = (CLEAN_BASE + i as i64) * S;
        let (mut a, mut b) = (0, 0);
        for k in 0..signals.len() {
            a += push_checked(&mut runner, &sample(k, ts, i), &mut out);
            b += push_checked(&mut fresh, &sample(k, ts, i), &mut out);
        }
        if (i >= JUMP_CONFIRM || garbage.is_empty()) && a != b {
            return Err(format!(
                "clean row {i}: {a} windows scored, {b} by a fresh runner; {:?}",
                runner.window_counters("turbofan-rul")
            ));
        }
    }
    // The status is built for any state.
    assert!(runner.status().contains_key("turbofan-rul"));
    Ok(())
}

/// Base of the clean stream (s): far from every garbage time the tests use.
const CLEAN_BASE: i64 = T0 + 1_000_000;

#[test]
fn garbage_found_by_the_property_test_then_a_clean_stream_recovers() {
    // Cases the property test below found (minimised) while the rules were written.
    let cases: [&[(i64, usize, usize)]; 2] = [
        &[(0, 1, 0), (i64::MAX, 1, 0)],
        &[(i64::MIN, 1, 0), (0, 1, 0), (9_223_372_035 * S, 1, 0)],
    ];
    for garbage in cases {
        garbage_then_clean(garbage, 40).unwrap_or_else(|e| panic!("{garbage:?}: {e}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // Beside the other seeds (the default would put them next to this file).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/packages/time_jumps.txt",
        ))),
        ..ProptestConfig::default()
    })]

    /// Any timestamps (whole rows or a few signals of one), then a clean stream on a base far
    /// from all of them: bounded work and every window scored on every push, and from the K-th
    /// clean row on the runner scores exactly what a fresh runner on the clean stream scores.
    #[test]
    fn any_timestamps_then_a_clean_stream_recovers(
        garbage in proptest::collection::vec((any_ts(), 1usize..=14, 0usize..213), 0..40),
        n_clean in 0usize..70,
    ) {
        prop_assume!(garbage.iter().all(|g| {
            (i128::from(g.0) - i128::from(CLEAN_BASE) * 1_000_000_000).abs()
                > 200_000 * 1_000_000_000
        }));
        let r = garbage_then_clean(&garbage, n_clean);
        prop_assert!(r.is_ok(), "{:?}", r);
    }
}
