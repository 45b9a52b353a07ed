//! The runner's tests: learning, scoring, alerts, gaps, and the kept baselines' lifecycle.
use super::*;
use crate::record::{Alert, AlertEvent, Severity};

const CONFIG: &str = r#"
[gateway]
id = "gw"
site = "plant"
data_dir = "/tmp/unused"
[kafka]
bootstrap_servers = "127.0.0.1:9"
[[sources]]
type = "mqtt"
name = "m"
host = "127.0.0.1"
topics = ["plant/+"]
topic_pattern = "plant/{asset}"
[[assets]]
id = "pump-1"
signals = [
  { name = "a" }, { name = "b" }, { name = "c" }, { name = "d" },
  { name = "e" }, { name = "f" }, { name = "g" }, { name = "h" },
]
[[detectors]]
name = "pump"
assets = ["pump-1"]
signals = ["a", "b", "c", "d", "e", "f", "g", "h"]
grid_secs = 10
learn = { steps = 300 }
lags = 1
alert = { severity = "critical", k = 2, n = 3 }
"#;

fn runner() -> DetectorRunner {
    let c = crate::config::parse_str(CONFIG, "test", std::path::Path::new("/tmp"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.detectors.len(), 1);
    DetectorRunner::new("gw", "plant", &c.detectors, &[]).unwrap()
}

const NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

/// Step `t` of a process: two slow factors drive eight signals; from step `fault`, signal
/// `c` is 3 higher (about 1.3 of its standard deviations) than its relation to the others
/// says.
fn step(t: i64, fault: Option<i64>) -> [f64; 8] {
    let f1 = (t as f64 * 0.07).sin() * 2.0 + (t as f64 * 0.011).cos();
    let f2 = (t as f64 * 0.031).cos() * 1.5;
    let w1 = [1.0, 2.0, 0.5, -1.0, 1.5, 0.3, -0.7, 1.0];
    let w2 = [0.5, -1.0, 2.0, 1.0, 0.2, -1.5, 0.8, 1.0];
    let mut x = [0.0; 8];
    for (j, v) in x.iter_mut().enumerate() {
        let k = j as i64;
        let noise = (((t * 7919 + k * 104_729) % 1000) as f64 / 1000.0 - 0.5) * 0.1;
        *v = 10.0 * (k + 1) as f64 + w1[j] * f1 + w2[j] * f2 + noise;
    }
    if fault.is_some_and(|at| t >= at) {
        x[2] += 3.0;
    }
    x
}

fn feed(r: &mut DetectorRunner, from: i64, to: i64, fault: Option<i64>) -> Vec<Alert> {
    feed_all(r, from, to, fault)
        .into_iter()
        .filter_map(|r| match r {
            Record::Alert(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn baselines(records: &[Record]) -> Vec<&BaselineRecord> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Baseline(b) => Some(&**b),
            _ => None,
        })
        .collect()
}

fn feed_all(r: &mut DetectorRunner, from: i64, to: i64, fault: Option<i64>) -> Vec<Record> {
    let mut out = Vec::new();
    for t in from..to {
        for (k, v) in step(t, fault).iter().enumerate() {
            let s = Sample {
                asset: Arc::from("pump-1"),
                signal: Arc::from(NAMES[k]),
                value: *v,
                ts_ns: 1_767_225_600_000_000_000 + t * 10_000_000_000,
            };
            r.push(&s, &mut out);
        }
    }
    out
}

#[test]
fn learning_sends_the_baseline_and_a_stored_one_scores_from_the_first_step() {
    let mut r = runner();
    let records = feed_all(&mut r, 0, 301, None);
    let learned = baselines(&records);
    assert_eq!(learned.len(), 1, "{records:?}");
    let b = learned[0].clone();
    assert_eq!((b.detector.as_str(), b.asset.as_str()), ("pump", "pump-1"));
    assert_eq!((b.generation, b.trigger), (1, BaselineTrigger::Learned));
    assert_eq!(b.steps, 300);
    assert_eq!(b.learned_to_ns - b.learned_from_ns, 300 * 10_000_000_000);
    assert_eq!(b.stats.len(), 8);

    // A new start with it stored: learned at once, and the fault is raised without a
    // learning phase.
    let c = crate::config::parse_str(CONFIG, "test", std::path::Path::new("/tmp")).unwrap();
    let mut again =
        DetectorRunner::new("gw", "plant", &c.detectors, std::slice::from_ref(&b)).unwrap();
    let st = &again.status()["pump"];
    assert_eq!(
        (st.learned, st.learning, st.generation),
        (1, 0, 1),
        "{st:?}"
    );
    let alerts = feed(&mut again, 1000, 1050, Some(1000));
    assert!(alerts.iter().any(|a| a.event == AlertEvent::Raised));

    // Stored for other signals: not used, the reason named, learning again.
    let mut other = b.clone();
    other.signals.swap(0, 1);
    let fresh = DetectorRunner::new("gw", "plant", &c.detectors, &[other]).unwrap();
    let st = &fresh.status()["pump"];
    assert_eq!((st.learned, st.learning), (0, 1), "{st:?}");
    assert!(
        st.last_error.as_deref().unwrap_or("").contains("signals"),
        "{st:?}"
    );
}

#[test]
fn relearn_keeps_scoring_until_the_new_baseline_then_switches_and_reset_forgets() {
    let mut r = runner();
    feed_all(&mut r, 0, 301, None);
    let mut out = Vec::new();
    r.apply("pump", "pump-1", Action::Relearn, None, &mut out);
    assert!(out.is_empty());
    assert_eq!(r.status()["pump"].relearning, 1);
    // During the relearn a fault is still raised by the old baseline.
    let records = feed_all(&mut r, 301, 320, Some(305));
    assert!(records
        .iter()
        .any(|x| matches!(x, Record::Alert(a) if a.event == AlertEvent::Raised)));
    // 300 steps later the new baseline is out, generation 2, relearned.
    let records = feed_all(&mut r, 320, 610, None);
    let b = baselines(&records);
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].generation, b[0].trigger),
        (2, BaselineTrigger::Relearned)
    );
    let st = &r.status()["pump"];
    assert_eq!(
        (st.learned, st.relearning, st.generation),
        (1, 0, 2),
        "{st:?}"
    );

    r.apply("pump", "pump-1", Action::Reset, None, &mut out);
    // Reset: learning from the next step, nothing scored meanwhile.
    let st = &r.status()["pump"];
    assert_eq!((st.learned, st.learning), (0, 1), "{st:?}");
    let records = feed_all(&mut r, 700, 760, Some(700));
    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn a_reset_or_an_import_clears_the_alert_that_is_up() {
    let mut r = runner();
    feed_all(&mut r, 0, 301, None);
    let mut out = Vec::new();
    // A fault raises against the relearned baseline; a reset while it is up clears it (the
    // baseline it was judged against is gone), at the last step's time.
    let raised = feed(&mut r, 301, 320, Some(305));
    let raised = raised
        .iter()
        .find(|a| a.event == AlertEvent::Raised)
        .expect("raised");
    r.apply("pump", "pump-1", Action::Reset, None, &mut out);
    let [Record::Alert(cleared)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (cleared.event, &cleared.id),
        (AlertEvent::Cleared, &raised.id)
    );
    let info = cleared.detector.as_ref().unwrap();
    assert_eq!(info.cleared_by.as_deref(), Some("baseline reset"));
    assert!(info.contributions.is_empty());
    assert_eq!(
        cleared.ts_ns,
        1_767_225_600_000_000_000 + 319 * 10_000_000_000
    );

    // A second reset has nothing to clear.
    out.clear();
    r.apply("pump", "pump-1", Action::Reset, None, &mut out);
    assert!(out.is_empty(), "{out:?}");

    // An import replaces the baseline an open alert was judged against: cleared too.
    let mut source = runner();
    let b = baselines(&feed_all(&mut source, 0, 301, None))[0].clone();
    let mut r = runner();
    feed_all(&mut r, 0, 301, None);
    assert!(feed(&mut r, 301, 320, Some(305))
        .iter()
        .any(|a| a.event == AlertEvent::Raised));
    r.apply("pump", "pump-1", Action::Import, Some(&b), &mut out);
    let cleared: Vec<_> = out
        .iter()
        .filter_map(|x| match x {
            Record::Alert(a) => a.detector.as_ref()?.cleared_by.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(cleared, ["baseline imported"]);
}

#[test]
fn an_import_is_scored_with_at_once_and_sent_as_this_gateways() {
    let mut source = runner();
    let records = feed_all(&mut source, 0, 301, None);
    let mut b = baselines(&records)[0].clone();
    b.gateway = "old-gw".into();
    b.trigger = BaselineTrigger::Imported;
    b.generation = 1;
    let mut r = runner();
    let mut out = Vec::new();
    r.apply("pump", "pump-1", Action::Import, Some(&b), &mut out);
    let sent = baselines(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].gateway, "gw");
    assert_eq!(sent[0].trigger, BaselineTrigger::Imported);
    assert_eq!(r.status()["pump"].learned, 1);
    let alerts = feed(&mut r, 1000, 1050, Some(1000));
    assert!(alerts.iter().any(|a| a.event == AlertEvent::Raised));
}

#[test]
fn learns_then_raises_an_explained_alert_and_clears_it() {
    let mut r = runner();
    // 300 steps to learn (the 301st sample time closes the 300th step); nothing raised.
    assert!(feed(&mut r, 0, 301, None).is_empty());
    let st = &r.status()["pump"];
    assert_eq!((st.assets, st.learned, st.learning), (1, 1, 0), "{st:?}");
    // Normal operation continues: no alert.
    assert!(feed(&mut r, 301, 600, None).is_empty());
    // The fault: raised on the second step past `on` (2 of 3), naming signal c first.
    let alerts = feed(&mut r, 600, 650, Some(600));
    let raised = alerts
        .iter()
        .find(|a| a.event == AlertEvent::Raised)
        .unwrap();
    assert_eq!(raised.severity, Severity::Critical);
    assert_eq!(raised.rule, "pump-anomaly");
    assert_eq!(raised.signal, "anomaly_index");
    assert!(raised.value >= 1.2, "{}", raised.value);
    let info = raised.detector.as_ref().unwrap();
    assert_eq!(info.name, "pump");
    assert_eq!(info.contributions.len(), CONTRIBUTIONS);
    assert_eq!(
        info.contributions[0].signal, "c",
        "{:?}",
        info.contributions
    );
    assert!(
        info.contributions[0].share > 0.5,
        "{:?}",
        info.contributions
    );
    let step_ns = 10_000_000_000;
    assert_eq!(info.step_end_ns - info.step_start_ns, step_ns);
    assert!(raised.ts_ns <= 1_767_225_600_000_000_000 + 603 * step_ns);
    // Back to normal: cleared, with the raise's id.
    let alerts = feed(&mut r, 650, 700, None);
    let cleared = alerts
        .iter()
        .find(|a| a.event == AlertEvent::Cleared)
        .unwrap();
    assert_eq!(cleared.id, raised.id);
    assert!(cleared.value < 1.0);
    assert_eq!(r.status()["pump"].steps, 699);
}

#[test]
fn steps_with_a_missing_signal_are_gaps_not_vectors() {
    let mut r = runner();
    let mut out = Vec::new();
    // Only signal a: no step completes, nothing is learned.
    for t in 0..1000 {
        r.push(
            &Sample {
                asset: Arc::from("pump-1"),
                signal: Arc::from("a"),
                value: 1.0,
                ts_ns: t * 10_000_000_000,
            },
            &mut out,
        );
    }
    let st = &r.status()["pump"];
    assert_eq!(
        (st.steps, st.learning, st.learning_steps),
        (0, 1, 0),
        "{st:?}"
    );
    assert!(
        st.window_drops.get("gap").copied().unwrap_or(0) > 900,
        "{st:?}"
    );
    assert!(out.is_empty());
}

#[test]
fn non_finite_means_are_skipped_and_counted() {
    let mut r = runner();
    let mut out = Vec::new();
    for t in 0..50 {
        for k in NAMES {
            r.push(
                &Sample {
                    asset: Arc::from("pump-1"),
                    signal: Arc::from(k),
                    value: if k == "b" && t % 2 == 0 {
                        f64::INFINITY
                    } else {
                        1.0
                    },
                    ts_ns: t * 10_000_000_000,
                },
                &mut out,
            );
        }
    }
    let st = &r.status()["pump"];
    assert_eq!(st.skipped_steps + st.steps, 49, "{st:?}");
    assert!(st.skipped_steps >= 24, "{st:?}");
}

#[test]
fn a_knn_detector_learns_its_window_then_raises_on_a_new_pattern_naming_the_signal() {
    let text = CONFIG
        .replace("lags = 1\n", "method = \"knn\"\n")
        .replace(
            r#"signals = ["a", "b", "c", "d", "e", "f", "g", "h"]"#,
            r#"signals = ["a", "b"]"#,
        )
        .replace("learn = { steps = 300 }", "learn = { steps = 200 }")
        .replace("alert = { severity = \"critical\", k = 2, n = 3 }", "");
    let c = crate::config::parse_str(&text, "test", std::path::Path::new("/tmp"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.detectors[0].method, crate::config::DetectorMethod::Knn);
    assert_eq!((c.detectors[0].alert.on, c.detectors[0].alert.k), (1.5, 1));
    let mut r = DetectorRunner::new("gw", "plant", &c.detectors, &[]).unwrap();
    // Two signals repeating a 40-step pattern with a little noise; from `spike`, b jumps.
    let mut feed = |from: i64, to: i64, spike: Option<i64>| {
        let mut out = Vec::new();
        for t in from..to {
            let noise = ((t * 7919 % 1000) as f64 / 1000.0 - 0.5) * 0.05;
            let a = (t as f64 * std::f64::consts::TAU / 40.0).sin() + noise;
            let b = 2.0 * (t as f64 * std::f64::consts::TAU / 40.0).cos() - noise
                + if spike.is_some_and(|s| (s..s + 3).contains(&t)) {
                    5.0
                } else {
                    0.0
                };
            for (name, v) in [("a", a), ("b", b)] {
                r.push(
                    &Sample {
                        asset: Arc::from("pump-1"),
                        signal: Arc::from(name),
                        value: v,
                        ts_ns: 1_767_225_600_000_000_000 + t * 10_000_000_000,
                    },
                    &mut out,
                );
            }
        }
        out
    };
    // Learning, then the same behaviour: a baseline record, no alert.
    let records = feed(0, 600, None);
    let b = baselines(&records);
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].method.as_str(), b[0].steps), ("knn", 200));
    let alerts: Vec<&Record> = records
        .iter()
        .filter(|x| matches!(x, Record::Alert(_)))
        .collect();
    assert!(alerts.is_empty(), "{} alerts on normal steps", alerts.len());
    // Three steps of b out of its pattern: raised at once, b named first; cleared after
    // the 12-step hold.
    let records = feed(600, 700, Some(600));
    let events: Vec<&Alert> = records
        .iter()
        .filter_map(|x| match x {
            Record::Alert(a) => Some(a),
            _ => None,
        })
        .collect();
    let raised = events
        .iter()
        .find(|a| a.event == AlertEvent::Raised)
        .expect("raised");
    assert!(raised.ts_ns <= 1_767_225_600_000_000_000 + 602 * 10_000_000_000);
    let info = raised.detector.as_ref().expect("detector");
    assert_eq!(info.contributions[0].signal, "b");
    let cleared = events
        .iter()
        .find(|a| a.event == AlertEvent::Cleared)
        .expect("cleared");
    assert!(cleared.ts_ns - raised.ts_ns >= 12 * 10_000_000_000);
    assert_eq!(
        events
            .iter()
            .filter(|a| a.event == AlertEvent::Raised)
            .count(),
        1
    );
}

#[test]
fn a_learning_span_learns_only_its_steps_and_a_later_reset_learns_the_next_ones() {
    // The span: steps 50 to 349 (300 steps of 10 s from 2026-01-01T00:08:20Z).
    let text = CONFIG.replace(
        "learn = { steps = 300 }",
        r#"learn = { from = "2026-01-01T00:08:20Z", until = "2026-01-01T00:58:20Z" }"#,
    );
    let c = crate::config::parse_str(&text, "test", std::path::Path::new("/tmp"))
        .unwrap_or_else(|e| panic!("{e}"));
    let d = &c.detectors[0];
    assert_eq!(d.learn_steps, 300);
    let t0 = 1_767_225_600_000_000_000i64;
    assert_eq!(
        d.learn_span,
        Some((t0 + 50 * 10_000_000_000, t0 + 350 * 10_000_000_000))
    );
    let mut r = DetectorRunner::new("gw", "plant", &c.detectors, &[]).unwrap();
    // Before the span: a fault, passed over (neither learned nor scored).
    assert!(feed_all(&mut r, 0, 50, Some(0)).is_empty());
    assert_eq!(r.status()["pump"].learning_steps, 0);
    let records = feed_all(&mut r, 50, 400, None);
    let b = baselines(&records);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].steps, 300);
    assert_eq!(b[0].learned_from_ns, t0 + 50 * 10_000_000_000);
    assert_eq!(b[0].learned_to_ns, t0 + 350 * 10_000_000_000);
    // The fault is raised once scoring.
    let alerts = feed(&mut r, 400, 450, Some(400));
    assert!(alerts.iter().any(|a| a.event == AlertEvent::Raised));
    // A reset long after the span learns the next 300 steps (the first is step 449, which
    // the next sample closes).
    let mut out = Vec::new();
    r.apply("pump", "pump-1", Action::Reset, None, &mut out);
    let records = feed_all(&mut r, 500, 801, None);
    let b = baselines(&records);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].learned_from_ns, t0 + 449 * 10_000_000_000);
    assert_eq!(b[0].steps, 300);
}

/// A bearing's vibration at 1 kHz: a 50 Hz running tone and broadband noise; from sample
/// `fault` on, a 300 Hz defect tone as well.
fn vibration(from: i64, to: i64, fault: Option<i64>) -> Vec<Sample> {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64.wrapping_add(from as u64);
    (from..to)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed % 2001) as f64 / 1000.0 - 1.0;
            let t = i as f64 / 1000.0;
            let mut v = (2.0 * std::f64::consts::PI * 50.0 * t).sin() + 0.3 * noise;
            if fault.is_some_and(|at| i >= at) {
                v += 0.5 * (2.0 * std::f64::consts::PI * 300.0 * t).sin();
            }
            Sample {
                asset: Arc::from("pump-1"),
                signal: Arc::from("vib"),
                value: v,
                ts_ns: 1_767_225_600_000_000_000 + i * 1_000_000,
            }
        })
        .collect()
}

#[test]
fn a_feature_detector_learns_windows_of_vibration_and_names_the_feature_that_moved() {
    let text = CONFIG
        .replace(
            "{ name = \"a\" }, { name = \"b\" }",
            "{ name = \"vib\" }, { name = \"a\" }, { name = \"b\" }",
        )
        .replace(
            "signals = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\"]\ngrid_secs = 10\nlearn = { steps = 300 }\nlags = 1\n",
            concat!(
                "signals = [\"vib\"]\n",
                "features = [\"rms\", \"kurtosis\", \"band_energy[0,100]\", \"band_energy[250,350]\"]\n",
                "window = { samples = 256, hop = 128, sample_rate_hz = 1000 }\n",
                "learn = { steps = 60 }\n",
            ),
        );
    let c = crate::config::parse_str(&text, "test", std::path::Path::new("/tmp"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(c.detectors[0].features.is_some());
    let mut r = DetectorRunner::new("gw", "plant", &c.detectors, &[]).unwrap();
    let mut out = Vec::new();
    // 60 learning windows (the first ends at sample 256), then 40 healthy ones.
    for s in vibration(0, 256 + 100 * 128, None) {
        r.push(&s, &mut out);
    }
    let learned = baselines(&out);
    assert_eq!(learned.len(), 1, "{out:?}");
    let b = learned[0].clone();
    let names: Vec<&str> = b.stats.iter().map(|s| s.signal.as_str()).collect();
    assert_eq!(
        names,
        [
            "vib.rms",
            "vib.kurtosis",
            "vib.band_energy[0,100]",
            "vib.band_energy[250,350]"
        ]
    );
    assert_eq!(b.features.as_ref().map(|f| f.hop), Some(128));
    // Amplitudes and energies are learned as log10: the 50 Hz tone's band holds about
    // 0.5 (a sine of amplitude 1), rms about 0.73.
    assert!(
        (b.stats[2].mean - 0.5f64.log10()).abs() < 0.1,
        "{:?}",
        b.stats
    );
    assert!(
        !out.iter().any(|r| matches!(r, Record::Alert(_))),
        "healthy windows raised: {out:?}"
    );

    out.clear();
    let at = 256 + 100 * 128;
    for s in vibration(at, at + 20 * 128, Some(at)) {
        r.push(&s, &mut out);
    }
    let raised = out
        .iter()
        .find_map(|r| match r {
            Record::Alert(a) if a.event == AlertEvent::Raised => Some(a),
            _ => None,
        })
        .expect("the defect tone raises");
    let d = raised.detector.as_ref().unwrap();
    // The tone moves its band, and with it rms and kurtosis; the running tone's band stays.
    assert!(
        d.contributions
            .iter()
            .any(|c| c.signal == "vib.band_energy[250,350]" && c.z > 5.0),
        "{d:?}"
    );
    assert!(
        d.contributions
            .iter()
            .all(|c| c.signal != "vib.band_energy[0,100]" && c.z.abs() > 3.0),
        "{d:?}"
    );

    // The baseline fits only a detector with the same features and window.
    let other = crate::config::parse_str(
        &text.replace("hop = 128", "hop = 64"),
        "test",
        std::path::Path::new("/tmp"),
    )
    .unwrap();
    let e = persist::adopt(&other.detectors[0], &b).unwrap_err();
    assert!(e.contains("hop 128") && e.contains("hop 64"), "{e}");
    assert!(persist::adopt(&c.detectors[0], &b).is_ok());
}

/// `forewarn baseline reset` deletes the stored baseline; a baseline the running agent learned
/// just before it saw the reset is stored after that. The next start must not score with it.
#[test]
fn a_start_follows_a_reset_that_a_later_stored_but_older_baseline_hides() {
    use crate::config::Durability;
    use crate::detect::requests::Baselines;
    use crate::outbox::{baselines::Store, Outbox};

    let dir = tempfile::tempdir().unwrap();
    let learned = baselines(&feed_all(&mut runner(), 0, 301, None))[0].clone();
    let c = crate::config::parse_str(CONFIG, "test", std::path::Path::new("/tmp")).unwrap();
    let start = |stored_after_reset: i64| {
        {
            let o = Outbox::open(dir.path(), 1 << 22, Durability::Full).unwrap();
            o.append(&[Record::Baseline(Box::new(learned.clone()))])
                .unwrap();
        }
        let reset = Store::open(dir.path())
            .unwrap()
            .request("pump", "pump-1", Action::Reset, None)
            .unwrap();
        let o = Outbox::open(dir.path(), 1 << 22, Durability::Full).unwrap();
        let mut late = learned.clone();
        late.created_ns = reset.at_ns + stored_after_reset;
        o.append(&[Record::Baseline(Box::new(late))]).unwrap();
        let (stored, mut requests) = Baselines::open(Arc::new(o));
        let mut r = DetectorRunner::new("gw", "plant", &c.detectors, &stored).unwrap();
        assert_eq!(r.status()["pump"].learned, 1);
        requests.start(&mut r, &mut Vec::new());
        let st = &r.status()["pump"];
        (st.learned, st.learning)
    };
    // Made before the reset: the reset wins, the asset learns again.
    assert_eq!(start(-1), (0, 1));
    // Made after it (learned from steps after the reset): scored with.
    assert_eq!(start(1), (1, 0));
}

/// A crash while an alert is up: the next start (the stored baseline, the checkpoint's alert
/// and scorer states) keeps it up and clears it under its id once the asset is normal again;
/// with another baseline in use meanwhile, it is cleared at once instead.
#[test]
fn an_alert_up_before_a_crash_clears_after_the_start_under_its_id() {
    // The timeline of `learns_then_raises_an_explained_alert_and_clears_it`, with a crash at
    // step 640, during the fault.
    let mut r = runner();
    let learned = feed_all(&mut r, 0, 301, None);
    let b = baselines(&learned)[0].clone();
    assert!(feed(&mut r, 301, 600, None).is_empty());
    let raised = feed(&mut r, 600, 640, Some(600))
        .into_iter()
        .find(|a| a.event == AlertEvent::Raised)
        .expect("raised");
    let snaps = r.alert_snapshots();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert_eq!(snaps[0].generation, 1);
    assert!(snaps[0].scorer.is_some());
    // Through the checkpoint's encoding.
    let bytes = crate::codec::to_cbor(&snaps).unwrap();
    let snaps: Vec<DetectorSnapshot> = crate::codec::from_cbor(&bytes).unwrap();

    let c = crate::config::parse_str(CONFIG, "test", std::path::Path::new("/tmp")).unwrap();
    let mut again =
        DetectorRunner::new("gw", "plant", &c.detectors, std::slice::from_ref(&b)).unwrap();
    let mut out = Vec::new();
    let got = again.restore_alerts(snaps.clone(), &mut out);
    assert_eq!(
        (got.taken, got.raised, got.cleared, got.scorers, got.dropped),
        (1, 1, 0, 1, 0)
    );
    assert!(out.is_empty(), "{out:?}");
    // Still faulty: no second raise, no clear. Then normal: cleared under the raise's id
    // (without the crash it clears at step 695: the EWMA forgets a fault slowly).
    let alerts = feed(&mut again, 640, 650, Some(600));
    assert!(
        alerts
            .iter()
            .all(|a| a.event == AlertEvent::Updated && a.id == raised.id),
        "{alerts:?}"
    );
    let later = feed(&mut again, 650, 750, None);
    let cleared = later
        .iter()
        .find(|a| a.event == AlertEvent::Cleared)
        .unwrap_or_else(|| panic!("not cleared: {later:?} {:?}", again.alert_snapshots()));
    assert_eq!(cleared.id, raised.id);
    let t = (cleared.ts_ns - 1_767_225_600_000_000_000) / 10_000_000_000;
    assert!((690..705).contains(&t), "cleared at step {t}");

    // Without the stored baseline (learning afresh): cleared at once, saying why, with the
    // time of the last step before the stop.
    let mut fresh = DetectorRunner::new("gw", "plant", &c.detectors, &[]).unwrap();
    let mut out = Vec::new();
    let got = fresh.restore_alerts(snaps.clone(), &mut out);
    assert_eq!(
        (got.taken, got.raised, got.cleared, got.scorers),
        (1, 0, 1, 0)
    );
    let Some(Record::Alert(a)) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (a.event, a.id.as_str()),
        (AlertEvent::Cleared, raised.id.as_str())
    );
    assert_eq!(
        a.detector.as_ref().and_then(|d| d.cleared_by.as_deref()),
        Some("baseline changed while stopped")
    );
    assert_eq!(a.ts_ns, snaps[0].last_step.1);
    assert!(fresh
        .alert_snapshots()
        .iter()
        .all(|s| s.alert.state.raised.is_none()));

    // A detector no longer configured: dropped.
    let mut other = snaps[0].clone();
    other.alert.owner = "gone".into();
    let got = fresh.restore_alerts(vec![other], &mut Vec::new());
    assert_eq!((got.taken, got.dropped), (0, 1));
}

/// A step in progress at a stop goes on after the start (the model thread's checkpoint keeps
/// the detector's window): the stop falls between two signals of a step, and the steps the
/// runners before and after the stop count add up to those of a runner without the stop.
#[test]
fn a_step_in_progress_at_a_stop_goes_on_after_the_start() {
    let push = |r: &mut DetectorRunner, t: i64, signals: std::ops::Range<usize>| {
        let mut out = Vec::new();
        let x = step(t, None);
        for k in signals {
            r.push(
                &Sample {
                    asset: Arc::from("pump-1"),
                    signal: Arc::from(NAMES[k]),
                    value: x[k],
                    ts_ns: 1_767_225_600_000_000_000 + t * 10_000_000_000 + k as i64,
                },
                &mut out,
            );
        }
    };
    let steps = |r: &DetectorRunner| r.status()["pump"].steps;
    let mut whole = runner();
    let mut before = runner();
    for t in 0..20 {
        push(&mut whole, t, 0..8);
        push(&mut before, t, 0..8);
    }
    push(&mut whole, 20, 0..4);
    push(&mut before, 20, 0..4);
    let snaps = before.alert_snapshots();
    assert!(snaps.iter().any(|s| s.window.is_some()), "{snaps:?}");
    let mut after = runner();
    let got = after.restore_alerts(snaps, &mut Vec::new());
    assert_eq!((got.taken, got.windows), (1, 1));
    push(&mut whole, 20, 4..8);
    push(&mut after, 20, 4..8);
    for t in 21..30 {
        push(&mut whole, t, 0..8);
        push(&mut after, t, 0..8);
    }
    assert_eq!(steps(&before) + steps(&after), steps(&whole));
    assert!(steps(&after) > 0);
}
