//! The stage's reload logic with an in-process stand-in for the child check (the unit tests do
//! not have the agent's binary; tests/it/model_packages.rs runs the real child). The packages
//! are the real `level` test package (scikit-learn, skl2onnx) and copies of it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::reload::{check_all, is_transient, CheckFn, Outcome, Stage};
use super::*;
use crate::model::load::check_child;
use crate::model::runner::{Infer, InferError, LoadedModel};
use crate::model::verify::{ChildVerdict, Verdict};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/level")
}

fn copy_package(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["manifest.toml", "model.onnx"] {
        std::fs::copy(fixture().join(f), to.join(f)).unwrap();
    }
}

fn edit_manifest(dir: &Path, f: impl Fn(String) -> String) {
    let path = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, f(text)).unwrap();
}

/// The child's work, done in process.
fn in_process() -> CheckFn {
    Arc::new(|dir, _limits, _stop| match check_child(dir) {
        ChildVerdict::Ok {
            name,
            version,
            sha256,
        } => Verdict::Ok {
            name,
            version,
            sha256,
        },
        ChildVerdict::Refused { reason } => Verdict::Refused(reason),
    })
}

/// A verdict the child would give for a package that aborts or hangs.
fn fixed(v: Verdict) -> CheckFn {
    Arc::new(move |_dir, _limits, _stop| v.clone())
}

fn config(dir: &Path, packages: &[&str]) -> Config {
    let models: String = packages
        .iter()
        .map(|p| format!("[[models]]\npackage = \"{p}\"\nassets = [\"pump-1\"]\nsignals = {{ x = \"level\" }}\n"))
        .collect();
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
asset = "pump-1"
[[assets]]
id = "pump-1"
signals = [{{ name = "level" }}, {{ name = "temp" }}]
{models}"#
    );
    std::fs::write(dir.join("r.csv"), "ts,level\n").unwrap();
    crate::config::parse_str(&text, "t.toml", dir).unwrap()
}

fn stage(c: &Config, check: CheckFn) -> Stage {
    Stage::new(
        "gw".into(),
        "s".into(),
        c.models.clone(),
        HashMap::new(),
        check,
    )
    .unwrap()
}

fn check_now(s: &mut Stage, trigger: &'static str) {
    s.request(trigger, || {});
    assert!(s.wait(Duration::from_secs(30)), "the check ended");
}

fn last(s: &Stage, i: usize) -> (String, Option<String>) {
    let (r, why) = s.reloads[i].clone().unwrap();
    (r.outcome, why)
}

#[test]
fn a_package_refused_at_start_leaves_the_others_running() {
    let dir = tempfile::tempdir().unwrap();
    let other = |t: String| t.replace("name = \"level\"", "name = \"other\"");
    copy_package(&dir.path().join("good"));
    copy_package(&dir.path().join("bad"));
    edit_manifest(&dir.path().join("bad"), other);
    let c = config(dir.path(), &["good", "bad"]);
    // Broken after validation (as a package copied in between): an absurd hop is refused.
    edit_manifest(&dir.path().join("bad"), |t| {
        t.replace(
            "window = { samples = 4, hop = 4, sample_rate_hz = 1.0 }",
            "window = { secs = 4.0, hop_secs = 1e-9, sample_rate_hz = 1.0 }",
        )
    });
    let mut s = stage(&c, in_process());
    check_now(&mut s, "start");
    assert!(s.loaded[0].is_some());
    assert!(s.loaded[1].is_none());
    assert_eq!(last(&s, 0), ("loaded".into(), None));
    let (outcome, why) = last(&s, 1);
    assert_eq!(outcome, "refused");
    assert!(
        why.as_deref()
            .unwrap_or("")
            .contains("input.window.hop_secs"),
        "{why:?}"
    );
    assert!(!s.runner.is_empty());
    // Tried again at the next trigger: fixed, it loads.
    copy_package(&dir.path().join("bad"));
    edit_manifest(&dir.path().join("bad"), other);
    check_now(&mut s, "SIGHUP");
    assert!(s.loaded[1].is_some());
    let (r, why) = s.reloads[1].clone().unwrap();
    assert_eq!(
        (r.outcome.as_str(), why, r.attempts, r.refusals),
        ("loaded", None, 2, 1)
    );
    assert_eq!(last(&s, 0).0, "unchanged");
}

#[test]
fn a_crashed_or_hung_check_refuses_the_new_version_and_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("level");
    copy_package(&pkg);
    let c = config(dir.path(), &["level"]);
    let mut s = stage(&c, in_process());
    check_now(&mut s, "start");
    let v1 = s.loaded[0].clone().unwrap();
    edit_manifest(&pkg, |t| {
        t.replace("version = \"1.0.0\"", "version = \"1.1.0\"")
    });
    for (verdict, transient) in [
        (
            Verdict::Crashed {
                signal: libc::SIGABRT,
                memory_bytes: 1 << 30,
            },
            false,
        ),
        (Verdict::TimedOut { secs: 60 }, true),
        (
            Verdict::Crashed {
                signal: libc::SIGKILL,
                memory_bytes: 1 << 30,
            },
            true,
        ),
    ] {
        s.check = fixed(verdict.clone());
        check_now(&mut s, "package changed");
        assert!(Arc::ptr_eq(s.loaded[0].as_ref().unwrap(), &v1));
        let (r, why) = s.reloads[0].clone().unwrap();
        assert_eq!(r.outcome, "refused");
        assert_eq!(r.version.as_deref(), Some("1.1.0"));
        assert_eq!(why, Some(verdict.to_string()));
        assert_eq!(s.retry_after.is_some(), transient, "{verdict}");
        assert_eq!(is_transient(&verdict), transient);
    }
    // Retries back off, doubling.
    assert_eq!(s.retry_after, Some(reload::RETRY_FIRST * 2));
    s.check = in_process();
    check_now(&mut s, "retry");
    assert_eq!(s.loaded[0].as_ref().unwrap().manifest.version, "1.1.0");
    assert_eq!(s.retry_after, None);
    assert_eq!(s.retry_delay, reload::RETRY_FIRST);
}

struct Zero;
impl Infer for Zero {
    fn infer(&self, _: &[f32]) -> Result<Vec<f32>, InferError> {
        Ok(vec![0.0])
    }
}

fn two_signal_model(signals: &str) -> Arc<LoadedModel> {
    let text = format!(
        r#"
[model]
name = "level"
version = "2"
onnx = "model.onnx"
sha256 = "{}"
[input]
signals = {signals}
features = ["x.mean", "temp.mean"]
window = {{ samples = 4, hop = 4, sample_rate_hz = 1.0 }}
[output]
kind = "anomaly"
name = "score"
[[golden]]
features = [0.0, 0.0]
output = [0.0]
"#,
        "0".repeat(64)
    );
    Arc::new(LoadedModel {
        manifest: crate::model::manifest::Manifest::parse(&text).unwrap(),
        model: Box::new(Zero),
    })
}

#[test]
fn a_package_that_reorders_its_signals_is_bound_by_name() {
    let dir = tempfile::tempdir().unwrap();
    copy_package(&dir.path().join("level"));
    let c = config(dir.path(), &["level"]);
    let s = stage(&c, in_process());
    let names = |m: &LoadedModel| -> Vec<String> {
        s.bindings(0, m).unwrap()[0]
            .signals
            .iter()
            .map(|x| x.to_string())
            .collect()
    };
    // x is mapped to the asset's `level`; `temp` binds to the signal of that name.
    assert_eq!(
        names(&two_signal_model(r#"["x", "temp"]"#)),
        ["level", "temp"]
    );
    assert_eq!(
        names(&two_signal_model(r#"["temp", "x"]"#)),
        ["temp", "level"]
    );
}

#[test]
fn a_new_version_that_cannot_be_built_is_refused_and_the_old_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("level");
    copy_package(&pkg);
    let c = config(dir.path(), &["level"]);
    let mut s = stage(&c, in_process());
    check_now(&mut s, "start");
    let v1 = s.loaded[0].clone().unwrap();
    // A version needing a signal the asset lacks: refused before it is even checked.
    edit_manifest(&pkg, |t| {
        t.replace("version = \"1.0.0\"", "version = \"3\"")
            .replace("signals = [\"x\"]", "signals = [\"x\", \"speed\"]")
            .replace("[\"x.mean\", \"x.max\"]", "[\"x.mean\", \"speed.max\"]")
    });
    let running = vec![Some(("1.0.0".to_string(), v1.manifest.sha256.clone()))];
    let out = check_all(&s.models, &running, &s.check, &AtomicBool::new(false));
    assert!(
        matches!(&out[0], Outcome::Refused { reason, .. } if reason.contains("no signal `speed`")),
        "{}",
        match &out[0] {
            Outcome::Refused { reason, .. } => reason.clone(),
            _ => "not refused".into(),
        }
    );
    // And if such a model reaches the runner anyway (here: handed over directly), the runner
    // is built without it and the running version stays.
    let bad = Arc::new(LoadedModel {
        manifest: crate::model::manifest::Manifest::parse(
            &std::fs::read_to_string(pkg.join("manifest.toml")).unwrap(),
        )
        .unwrap(),
        model: Box::new(Zero),
    });
    s.apply(reload::Report {
        trigger: "SIGHUP",
        outcomes: vec![Outcome::Loaded(bad)],
    });
    assert!(Arc::ptr_eq(s.loaded[0].as_ref().unwrap(), &v1));
    let (outcome, why) = last(&s, 0);
    assert_eq!(outcome, "refused");
    assert!(why.unwrap_or_default().contains("speed"));
    assert!(!s.runner.is_empty());
}

#[test]
fn samples_that_arrive_during_the_start_check_are_scored_after_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_package(&dir.path().join("level"));
    let c = config(dir.path(), &["level"]);
    let metrics = Arc::new(Metrics::new(&[]));
    let (rtx, mut rrx) = crate::channel::channel(16, 1 << 16);
    // A check that takes 300 ms, as a real child takes a moment.
    let slow: CheckFn = Arc::new(|dir, l, stop| {
        std::thread::sleep(Duration::from_millis(300));
        in_process()(dir, l, stop)
    });
    let (tx, handle) = start_with(&c, metrics.clone(), rtx, None, slow).unwrap();
    let asset: Arc<str> = "pump-1".into();
    let signal: Arc<str> = "level".into();
    let batch: Vec<Sample> = (0..4)
        .map(|i| Sample {
            asset: asset.clone(),
            signal: signal.clone(),
            ts_ns: 1_700_000_000_000_000_000 + i * 1_000_000_000,
            value: 150.0,
        })
        .collect();
    tx.blocking_send(ModelMsg::Samples(batch)).unwrap();
    drop(tx);
    handle.join().unwrap();
    let records = rrx.blocking_recv().expect("the raised alert");
    assert!(
        matches!(&records.records[0], Record::Alert(a) if a.rule == "level-high"),
        "{:?}",
        records.records
    );
    let st = metrics.models();
    let level = &st["level"];
    assert!(level.running);
    assert_eq!(level.windows, 1);
    assert_eq!(level.last_reload.as_ref().unwrap().outcome, "loaded");
}

/// Starts the model thread on `outbox`, feeds it `batches`, lets it end, and commits what it
/// sent as the writer does; returns its alert records and its metrics.
fn run_committing(
    c: &Config,
    outbox: &Arc<crate::outbox::Outbox>,
    batches: Vec<Vec<Sample>>,
) -> (Vec<crate::record::Alert>, Arc<Metrics>) {
    let (rtx, mut rrx) = crate::channel::channel(16, 1 << 16);
    let metrics = Arc::new(Metrics::new(&[]));
    let (tx, handle) =
        start_with(c, metrics.clone(), rtx, Some(outbox.clone()), in_process()).unwrap();
    for b in batches {
        tx.blocking_send(ModelMsg::Samples(b)).unwrap();
    }
    drop(tx);
    handle.join().unwrap();
    let mut alerts = Vec::new();
    while let Ok(w) = rrx.try_recv() {
        let states: Vec<(&str, &[u8])> = w
            .checkpoints
            .iter()
            .map(|c| (c.key, &c.state[..]))
            .collect();
        outbox.append_with(&w.records, &states).unwrap();
        alerts.extend(w.records.into_iter().filter_map(|r| match r {
            Record::Alert(a) => Some(a),
            _ => None,
        }));
    }
    (alerts, metrics)
}

/// A model alert up when the agent died: the next start (the checkpoint the writer stored
/// with the raise) keeps it up while the package's start check runs, and the first normal
/// window clears it under the raise's id; without the checkpoint nothing would ever clear it.
#[test]
fn a_model_alert_up_before_a_crash_clears_after_the_start_under_its_id() {
    use crate::config::Durability;
    use crate::outbox::{Outbox, MODELS_STATE};
    let dir = tempfile::tempdir().unwrap();
    copy_package(&dir.path().join("level"));
    let c = config(dir.path(), &["level"]);
    let data = dir.path().join("data");
    let outbox = Arc::new(Outbox::open(&data, 1 << 22, Durability::Full).unwrap());
    let window = |from: i64, value: f64| -> Vec<Sample> {
        (from..from + 4)
            .map(|i| Sample {
                asset: "pump-1".into(),
                signal: "level".into(),
                ts_ns: 1_700_000_000_000_000_000 + i * 1_000_000_000,
                value,
            })
            .collect()
    };
    let run = |batches: Vec<Vec<Sample>>| run_committing(&c, &outbox, batches).0;
    let first = run(vec![window(0, 150.0), window(4, 150.0)]);
    let raised = first
        .iter()
        .find(|a| a.event == crate::record::AlertEvent::Raised)
        .unwrap_or_else(|| panic!("{first:?}"));
    assert!(outbox.checkpoint(MODELS_STATE).unwrap().is_some());
    // "Crash" (the thread's end here sends nothing the writer would not have had), start again:
    // still high, then normal.
    let second = run(vec![window(8, 150.0), window(12, 10.0), window(16, 10.0)]);
    let events: Vec<_> = second.iter().map(|a| (a.event, a.id.clone())).collect();
    assert_eq!(
        events,
        vec![(crate::record::AlertEvent::Cleared, raised.id.clone())],
        "no second raise, one clear under the first id"
    );
    // And a third start has nothing up.
    let third = run(vec![window(20, 10.0), window(24, 10.0)]);
    assert!(third.is_empty(), "{third:?}");
}

/// A window in progress when the agent stopped goes on after the start: two samples of a
/// four-sample window before the stop, two after it, and that window is scored (its alert
/// raised, over the four samples). Without the checkpoint's window the start would score
/// nothing until four new samples came.
#[test]
fn a_window_in_progress_and_the_hours_summary_go_on_after_a_start() {
    use crate::config::Durability;
    use crate::outbox::{Outbox, MODELS_STATE};
    let dir = tempfile::tempdir().unwrap();
    copy_package(&dir.path().join("level"));
    let c = config(dir.path(), &["level"]);
    let outbox =
        Arc::new(Outbox::open(&dir.path().join("data"), 1 << 22, Durability::Full).unwrap());
    let ts = |i: i64| 1_700_000_000_000_000_000 + i * 1_000_000_000;
    let samples = |from: i64, to: i64| -> Vec<Sample> {
        (from..to)
            .map(|i| Sample {
                asset: "pump-1".into(),
                signal: "level".into(),
                ts_ns: ts(i),
                value: 150.0,
            })
            .collect()
    };
    let features_seen = std::cell::Cell::new(0u64);
    let run = |batch: Vec<Sample>| {
        let (alerts, metrics) = run_committing(&c, &outbox, vec![batch]);
        let level = &metrics.models()["level"];
        features_seen.set(level.features.first().map_or(0, |f| f.count));
        alerts
    };
    assert!(run(samples(0, 2)).is_empty());
    let saved =
        checkpoint::State::decode(&outbox.checkpoint(MODELS_STATE).unwrap().unwrap()).unwrap();
    assert_eq!(saved.model_windows.len(), 1, "{saved:?}");
    assert_eq!(saved.model_windows[0].window.values(), 2);
    let second = run(samples(2, 4));
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].event, crate::record::AlertEvent::Raised);
    let m = second[0].model.as_ref().expect("a model alert");
    assert_eq!(
        (m.window_start_ns, m.window_end_ns),
        (ts(0), ts(3)),
        "the window of all four samples"
    );
    // That window was emitted: the next start holds nothing of it.
    let saved =
        checkpoint::State::decode(&outbox.checkpoint(MODELS_STATE).unwrap().unwrap()).unwrap();
    assert_eq!(
        saved.model_windows[0].window.values(),
        4,
        "the last 4 samples, none fresh"
    );
    // The hour's summary: one window so far, kept; the next start's window adds to it.
    assert_eq!(features_seen.get(), 1);
    assert_eq!(saved.model_monitors.len(), 1, "{saved:?}");
    run(samples(4, 8));
    assert_eq!(
        features_seen.get(),
        2,
        "the hour's summary went on across the start"
    );
}
