//! What the replay tests share (`tests/packages.rs` in process, `tests/it/replay.rs` through the
//! running agent): reading a package's `replay/` files and comparing alert events with the ones
//! training computed (`replay/expected.json`).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Agreement required between the agent and the Python side (scores, features, outputs).
pub const TOLERANCE: f64 = 1e-4;

pub fn package_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

pub fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A replay CSV: header `ts,<signal>,...`. Returns the signal names and the rows as
/// (ts as written, values).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<(i64, Vec<f64>)>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(header[0], "ts", "{}", path.display());
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.split(',');
            let ts: i64 = f.next().and_then(|t| t.parse().ok()).expect("ts");
            let v: Vec<f64> = f.map(|x| x.parse().expect("value")).collect();
            assert_eq!(v.len(), header.len() - 1, "{}: {l}", path.display());
            (ts, v)
        })
        .collect();
    (header[1..].to_vec(), rows)
}

/// One alert event: rule, `raised` / `updated` / `cleared`, window end (ns), score.
pub type Event = (String, String, i64, f64);

/// The events of an `events` array in `expected.json`.
pub fn expected_events(v: &Value) -> Vec<Event> {
    v.as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["rule"].as_str().expect("rule").to_string(),
                e["event"].as_str().expect("event").to_string(),
                e["end_ns"].as_i64().expect("end_ns"),
                e["score"].as_f64().expect("score"),
            )
        })
        .collect()
}

/// The same events, window by window. Events of one window may come in any order (the rules
/// are independent), so both sides are sorted by (window end, rule) first.
pub fn assert_same_events(what: &str, got: &[Event], want: &[Event]) {
    let sorted = |e: &[Event]| {
        let mut e = e.to_vec();
        e.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
        e
    };
    let (got, want) = (sorted(got), sorted(want));
    let brief = |e: &[Event]| -> Vec<String> {
        e.iter()
            .map(|(r, ev, end, s)| format!("{r} {ev} @{end} {s:.4}"))
            .collect()
    };
    let same = got.len() == want.len()
        && got
            .iter()
            .zip(&want)
            .all(|(g, w)| g.0 == w.0 && g.1 == w.1 && g.2 == w.2 && (g.3 - w.3).abs() <= TOLERANCE);
    assert!(
        same,
        "{what}: agent {:?}\nexpected {:?}",
        brief(&got),
        brief(&want)
    );
}
