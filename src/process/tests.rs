use super::*;

fn processor(signals: &str) -> Processor {
    processor_with(signals, "")
}

fn processor_with(signals: &str, rest: &str) -> Processor {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "ts,x\n").unwrap();
    let text = format!(
        r#"
[gateway]
id = "gw"
site = "s"
data_dir = "/tmp/x"
[kafka]
bootstrap_servers = "127.0.0.1:9092"
[[sources]]
type = "replay"
name = "r"
path = "r.csv"
asset = "a"
[[assets]]
id = "a"
signals = [{signals}]
{rest}
"#
    );
    let config = crate::config::parse_str(&text, "t.toml", dir.path()).unwrap();
    Processor::new(&config)
}

fn sample(signal: &str, t: i64, v: f64) -> Sample {
    Sample {
        asset: Arc::from("a"),
        signal: Arc::from(signal),
        ts_ns: t * 1_000_000_000,
        value: v,
    }
}

fn points(out: &[Record]) -> Vec<(i64, f64, String)> {
    out.iter()
        .filter_map(|r| match r {
            Record::Telemetry(t) => Some((
                t.start_ns / 1_000_000_000,
                t.last,
                t.method.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn swinging_door_and_deadband_signals_emit_kept_samples_and_flush_at_the_end() {
    let mut p = processor(
        r#"{ name = "sdt", swinging_door = 0.5 }, { name = "db", deadband = 1.0, max_silence_secs = 100 }"#,
    );
    let mut out = Vec::new();
    // A ramp then a step: the door keeps the ramp's ends and the step.
    for t in 0..10 {
        p.push(&sample("sdt", t, t as f64), 0, &mut out);
        p.push(&sample("db", t, if t < 5 { 0.2 } else { 3.0 }), 0, &mut out);
    }
    p.push(&sample("sdt", 10, 0.0), 0, &mut out);
    p.push(&sample("db", 3, 9.0), 0, &mut out); // out of order: refused, counted
    p.close_all(&mut out);
    let got = points(&out);
    let sdt: Vec<_> = got.iter().filter(|g| g.2 == "swinging_door").collect();
    let db: Vec<_> = got.iter().filter(|g| g.2 == "deadband").collect();
    assert_eq!(
        sdt.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
        vec![(0, 0.0), (9, 9.0), (10, 0.0)]
    );
    assert_eq!(
        db.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(),
        vec![(0, 0.2), (5, 3.0), (9, 3.0)]
    );
    assert_eq!(p.take_late(), 1);
    // Buckets are off for these signals: every telemetry record is a kept sample.
    assert_eq!(got.len(), sdt.len() + db.len());
}

#[test]
fn a_quiet_compressed_signal_is_flushed_after_the_idle_time() {
    let mut p = processor(r#"{ name = "sdt", swinging_door = 0.5 }"#);
    let mut out = Vec::new();
    for t in 0..5 {
        p.push(&sample("sdt", t, t as f64), 0, &mut out);
    }
    assert_eq!(points(&out).len(), 1);
    p.close_idle(COMPRESSOR_IDLE_NS / 2, &mut out);
    assert_eq!(points(&out).len(), 1);
    p.close_idle(COMPRESSOR_IDLE_NS + 1, &mut out);
    assert_eq!(points(&out).last().map(|g| (g.0, g.1)), Some((4, 4.0)));
}

#[test]
fn compression_options_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "ts,x\n").unwrap();
    let base = r#"
[gateway]
id = "gw"
site = "s"
data_dir = "/tmp/x"
[kafka]
bootstrap_servers = "127.0.0.1:9092"
[[sources]]
type = "replay"
name = "r"
path = "r.csv"
asset = "a"
[[assets]]
id = "a"
"#;
    for (signals, needle) in [
        (
            r#"{ name = "x", deadband = 1, swinging_door = 1 }"#,
            "choose one",
        ),
        (r#"{ name = "x", deadband = -1 }"#, ">= 0"),
        (r#"{ name = "x", max_silence_secs = 5 }"#, "applies only"),
        (
            r#"{ name = "x", deadband = 1, interval_secs = 10 }"#,
            "not both",
        ),
    ] {
        let text = format!("{base}signals = [{signals}]\n");
        let e = crate::config::parse_str(&text, "t.toml", dir.path()).unwrap_err();
        assert!(e.to_string().contains(needle), "{signals}: {e}");
    }
}

mod time_jumps {
    use super::*;
    use crate::util::LateStreak;
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;

    /// Bucketed `x` with a threshold rule, deadband `y`, swinging-door `z`.
    fn every_state() -> Processor {
        processor_with(
            r#"{ name = "x", interval_secs = 1 }, { name = "y", deadband = 0.5 },
               { name = "z", swinging_door = 0.5 }"#,
            "[[rules]]\nname = \"hot\"\nasset = \"a\"\nsignal = \"x\"\nabove = 10.0\n",
        )
    }

    fn ts_strategy() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(0i64),
            (1_700_000_000i64..1_900_000_000).prop_map(|s| s * S),
        ]
    }

    proptest! {
        /// Any timestamps at all: no panic, and each sample makes a bounded number of records
        /// (a bucket or rebase, up to two kept points, an alert): no loop over a time span.
        #[test]
        fn any_timestamps_cost_bounded_work_per_sample(
            samples in prop::collection::vec((0usize..3, ts_strategy(), -100.0f64..100.0), 1..200)
        ) {
            let mut p = every_state();
            for (sig, ts, v) in samples {
                let mut out = Vec::new();
                let s = Sample { ts_ns: ts, ..sample(["x", "y", "z"][sig], 0, v) };
                p.push(&s, 0, &mut out);
                prop_assert!(out.len() <= 4, "{} records for one sample", out.len());
            }
            let mut out = Vec::new();
            p.close_idle(i64::MAX, &mut out);
            p.close_all(&mut out);
        }

        /// After a jump of any size, forward or back, every state follows the new time base
        /// within LateStreak::REBASE_AFTER samples: from then on no sample is late.
        #[test]
        fn every_state_follows_a_jump_within_the_rebase_count(
            before in 1_700_000_000i64..1_900_000_000,
            after in 1_000_000_000i64..3_000_000_000,
        ) {
            let mut p = every_state();
            let mut out = Vec::new();
            for i in 0..20 {
                for sig in ["x", "y", "z"] {
                    p.push(&sample(sig, before + i, 1.0), 0, &mut out);
                }
            }
            p.take_late();
            for i in 0..40 {
                for sig in ["x", "y", "z"] {
                    p.push(&sample(sig, after + i, 20.0 + i as f64), 0, &mut out);
                }
                if i as u8 >= LateStreak::REBASE_AFTER {
                    prop_assert_eq!(p.take_late(), 0, "late at sample {} after the jump", i);
                } else {
                    p.take_late();
                }
            }
            // The rule saw the new time too: x has been above 10 for 35 samples.
            prop_assert!(out.iter().any(|r| matches!(r, Record::Alert(a) if a.rule == "hot")));
        }
    }
}

/// A crash at any point between samples, followed by a start from the checkpoint taken at that
/// point, gives the records an uninterrupted run gives: buckets, threshold alerts (a raised
/// one clears under its id) and both compressors.
#[test]
fn a_run_restored_from_a_checkpoint_at_any_point_emits_what_an_uninterrupted_run_does() {
    const SIGNALS: &str = r#"{ name = "x", interval_secs = 10 }, { name = "sdt", swinging_door = 0.5 }, { name = "db", deadband = 1.0 }"#;
    const RULES: &str = "[[rules]]\nname = \"hot\"\nasset = \"a\"\nsignal = \"x\"\nabove = 10.0\nclear = 8.0\nfor_secs = 3\n";
    let input: Vec<Sample> = (0..60)
        .flat_map(|t| {
            let x = if (12..30).contains(&t) {
                20.0 + t as f64
            } else {
                t as f64 % 7.0
            };
            [
                sample("x", t, x),
                sample("sdt", t, (t as f64 / 4.0).sin() * 3.0),
                sample("db", t, (t / 9) as f64 * 1.5),
            ]
        })
        .collect();
    let run = |cut: Option<usize>| {
        let mut p = processor_with(SIGNALS, RULES);
        let mut out = Vec::new();
        for (i, s) in input.iter().enumerate() {
            if Some(i) == cut {
                let bytes = p.checkpoint().unwrap();
                p = processor_with(SIGNALS, RULES);
                let r = p.restore(&bytes).unwrap();
                assert_eq!(r.dropped, 0);
            }
            p.push(s, 0, &mut out);
        }
        p.close_all(&mut out);
        out
    };
    let whole = run(None);
    let alerts = whole
        .iter()
        .filter(|r| matches!(r, Record::Alert(_)))
        .count();
    assert_eq!(alerts, 2, "raised and cleared");
    for cut in (0..input.len()).step_by(7) {
        assert_eq!(run(Some(cut)), whole, "cut at sample {cut}");
    }
    // The same state gives the same bytes.
    let mut p = processor_with(SIGNALS, RULES);
    let mut out = Vec::new();
    for s in &input[..40] {
        p.push(s, 0, &mut out);
    }
    assert_eq!(p.checkpoint().unwrap(), p.checkpoint().unwrap());
}

#[test]
fn a_checkpoint_keeps_only_what_the_provisioning_file_still_configures_the_same_way() {
    let mut p = processor_with(
        r#"{ name = "x", interval_secs = 10 }, { name = "db", deadband = 1.0 }"#,
        "[[rules]]\nname = \"hot\"\nasset = \"a\"\nsignal = \"x\"\nabove = 10.0\n",
    );
    let mut out = Vec::new();
    p.push(&sample("x", 1, 50.0), 0, &mut out);
    p.push(&sample("db", 1, 1.0), 0, &mut out);
    assert_eq!(
        out.len(),
        2,
        "raised, and the deadband's first sample: {out:?}"
    );
    let bytes = p.checkpoint().unwrap();
    // Same file: everything comes back.
    let mut same = processor_with(
        r#"{ name = "x", interval_secs = 10 }, { name = "db", deadband = 1.0 }"#,
        "[[rules]]\nname = \"hot\"\nasset = \"a\"\nsignal = \"x\"\nabove = 10.0\n",
    );
    let r = same.restore(&bytes).unwrap();
    assert_eq!(
        (r.open_buckets, r.raised_alerts, r.states, r.dropped),
        (1, 1, 3, 0)
    );
    // Another width, another deadband, no rule: each starts afresh, counted.
    let mut changed = processor_with(
        r#"{ name = "x", interval_secs = 5 }, { name = "db", deadband = 2.0 }"#,
        "",
    );
    let r = changed.restore(&bytes).unwrap();
    assert_eq!((r.states, r.dropped), (0, 3));
    let mut out = Vec::new();
    changed.close_all(&mut out);
    assert!(out.is_empty(), "{out:?}");
    // Bytes that are not a checkpoint are an error, and change nothing.
    assert!(same.restore(b"\xff\x00").is_err());
    assert!(same
        .restore(&crate::codec::to_cbor(&(7u32,)).unwrap())
        .is_err());
}
