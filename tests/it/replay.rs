//! The shipped model packages in the running agent: real recordings replayed with their event
//! timestamps (bearing vibration and turbofan cycles over MQTT, AI4I readings over a serial
//! pty), and the alerts that reach Kafka compared event by event with the ones training
//! computed (`models/<name>/replay/expected.json`). The in-process twin, without brokers, is
//! `tests/packages.rs`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{agent_config, consume, Agent, Mosquitto, Msg, PtyPair, Tansu};

#[path = "../support/replay.rs"]
mod support;
use support::{assert_same_events, expected_events, json, package_dir, read_csv, Event};

/// An excerpt: which asset replays it, its file, and the events expected for it.
struct Excerpt {
    asset: String,
    file: String,
    events: Vec<Event>,
}

fn bearing_excerpts() -> Vec<Excerpt> {
    let expected = json(&package_dir("bearing-fault").join("replay/expected.json"));
    expected["excerpts"]
        .as_array()
        .expect("excerpts")
        .iter()
        .map(|e| Excerpt {
            asset: format!("bearing-{}", e["class"].as_str().expect("class")),
            file: e["file"].as_str().expect("file").to_string(),
            events: expected_events(&e["events"]),
        })
        .collect()
}

fn turbofan_excerpts() -> Vec<Excerpt> {
    let expected = json(&package_dir("turbofan-rul").join("replay/expected.json"));
    expected["excerpts"]
        .as_array()
        .expect("excerpts")
        .iter()
        .map(|e| Excerpt {
            asset: format!("engine-{}", e["unit"].as_i64().expect("unit")),
            file: e["file"].as_str().expect("file").to_string(),
            events: expected_events(&e["events"]),
        })
        .collect()
}

/// Windows the expected file counts over all excerpts of a package.
fn windows(package: &str) -> u64 {
    let expected = json(&package_dir(package).join("replay/expected.json"));
    expected["excerpts"]
        .as_array()
        .expect("excerpts")
        .iter()
        .map(|e| e["windows"].as_u64().expect("windows"))
        .sum()
}

/// `[[assets]]` and `[[models]]` for one package and its assets (asset signals named as the
/// model's, so the mapping is the identity).
fn model_config(package: &str, signals: &[String], assets: &[&str]) -> String {
    let mut out = String::new();
    for a in assets {
        out.push_str(&format!(
            "\n[[assets]]\nid = \"{a}\"\ninterval_secs = 0\nsignals = [{}]\n",
            signals
                .iter()
                .map(|s| format!("{{ name = \"{s}\" }}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str(&format!(
        "\n[[models]]\npackage = \"{}\"\nassets = [{}]\nsignals = {{ {} }}\n",
        package_dir(package).display(),
        assets
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", "),
        signals
            .iter()
            .map(|s| format!("{s} = \"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}

/// Publish a replay CSV to `plant/<asset>` as JSON batches of `batch` rows, `ts` as written.
fn publish_csv(mqtt: &Mosquitto, asset: &str, file: &Path, batch: usize) {
    let (columns, rows) = read_csv(file);
    let lines: String = rows
        .chunks(batch)
        .map(|chunk| {
            let objects: Vec<String> = chunk
                .iter()
                .map(|(ts, values)| {
                    let fields: Vec<String> = columns
                        .iter()
                        .zip(values)
                        .map(|(c, v)| format!("\"{c}\":{v}"))
                        .collect();
                    format!("{{\"ts\":{ts},{}}}", fields.join(","))
                })
                .collect();
            format!("[{}]\n", objects.join(","))
        })
        .collect();
    mqtt.publish_lines(&format!("plant/{asset}"), &lines);
}

/// The model alerts on Kafka, per asset, as events.
fn events_by_asset(msgs: &[Msg]) -> HashMap<String, Vec<Event>> {
    let mut out: HashMap<String, Vec<Event>> = HashMap::new();
    for m in msgs.iter().filter(|m| m.json["model"].is_object()) {
        let j = &m.json;
        let field = |v: &Value| v.as_str().unwrap_or_default().to_string();
        out.entry(field(&j["asset"])).or_default().push((
            field(&j["rule"]),
            field(&j["event"]),
            j["model"]["window_end_ns"].as_i64().unwrap_or_default(),
            j["value"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    out
}

/// Wait until every excerpt's asset has at least its expected number of events on Kafka (or
/// the timeout), then compare them all. Returns the events that reached Kafka, per asset.
fn check(bootstrap: &str, excerpts: &[Excerpt]) -> HashMap<String, Vec<Event>> {
    let want: usize = excerpts.iter().map(|e| e.events.len()).sum();
    let msgs = consume(bootstrap, "forewarn.alerts", Duration::from_secs(90), |m| {
        events_by_asset(m).values().map(Vec::len).sum::<usize>() >= want
    });
    let got = events_by_asset(&msgs);
    for e in excerpts {
        let g = got.get(&e.asset).cloned().unwrap_or_default();
        assert_same_events(&format!("{} ({})", e.asset, e.file), &g, &e.events);
    }
    got
}

/// The status reports exactly `windows` inferences for `model`, and no errors.
fn check_inferences(bootstrap: &str, model: &str, windows: u64) {
    let statuses = consume(bootstrap, "forewarn.status", Duration::from_secs(60), |m| {
        m.iter()
            .any(|s| s.json["models"][model]["inferences"].as_u64() >= Some(windows))
    });
    let last = statuses
        .iter()
        .rev()
        .map(|s| &s.json["models"][model])
        .find(|m| m["inferences"].is_u64())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        last["inferences"].as_u64(),
        Some(windows),
        "{model}: {last}"
    );
    assert_eq!(last["errors"].as_u64(), Some(0), "{model}: {last}");
    // The ONNX file that ran, by the checksum its package declares.
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("models/{model}/manifest.toml")),
    )
    .expect("manifest");
    let sha256 = manifest
        .lines()
        .find_map(|l| l.strip_prefix("sha256 = "))
        .map(|v| v.trim().trim_matches('"'))
        .expect("sha256 in the manifest");
    assert_eq!(last["sha256"], sha256, "{model}: {last}");
}

#[test]
fn bearing_and_turbofan_recordings_over_mqtt_raise_the_expected_alerts_on_kafka() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let bearings = bearing_excerpts();
    let engines = turbofan_excerpts();
    let (vib, _) = read_csv(&package_dir("bearing-fault").join(&bearings[0].file));
    let (sensors, _) = read_csv(&package_dir("turbofan-rul").join(&engines[0].file));
    let bearing_assets: Vec<&str> = bearings.iter().map(|e| e.asset.as_str()).collect();
    let engine_assets: Vec<&str> = engines.iter().map(|e| e.asset.as_str()).collect();
    let rest = format!(
        r#"
[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
port = {port}
topics = ["plant/+"]
topic_pattern = "plant/{{asset}}"
timestamp = {{ field = "ts", max_past_secs = 0 }}
{bearing}{turbofan}"#,
        port = mqtt.port,
        bearing = model_config("bearing-fault", &vib, &bearing_assets),
        turbofan = model_config("turbofan-rul", &sensors, &engine_assets),
    );
    let agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));

    // 1.5 s of 12 kHz vibration per class, 500 samples (42 ms) per message, µs timestamps.
    for e in &bearings {
        publish_csv(
            &mqtt,
            &e.asset,
            &package_dir("bearing-fault").join(&e.file),
            500,
        );
    }
    // One cycle per message, one event second per cycle.
    for e in &engines {
        publish_csv(
            &mqtt,
            &e.asset,
            &package_dir("turbofan-rul").join(&e.file),
            1,
        );
    }
    let mut all = bearings;
    all.extend(engines);
    let on_kafka = check(&kafka.bootstrap(), &all);
    check_inferences(
        &kafka.bootstrap(),
        "bearing-fault",
        windows("bearing-fault"),
    );
    check_inferences(&kafka.bootstrap(), "turbofan-rul", windows("turbofan-rul"));

    // What the excerpts are for, checked on what reached Kafka, independently of the expected
    // file: faulty bearings raise their class, a healthy one stays silent; a worn engine raises
    // low-rul, a young one not.
    let raised = |asset: &str| -> Vec<String> {
        on_kafka
            .get(asset)
            .into_iter()
            .flatten()
            .filter(|ev| ev.1 == "raised")
            .map(|ev| ev.0.clone())
            .collect()
    };
    assert!(raised("bearing-normal").is_empty());
    assert!(raised("bearing-outer_race").contains(&"bearing-outer-race".to_string()));
    assert!(raised("engine-81").contains(&"low-rul".to_string()));
    assert!(raised("engine-89").is_empty());
}

#[test]
fn ai4i_readings_over_a_serial_pty_raise_the_expected_failure_alerts_on_kafka() {
    let kafka = Tansu::start();
    let dir = tempfile::tempdir().expect("tmp");
    let pty = PtyPair::start(dir.path());
    let file = package_dir("process-failure").join("replay/ai4i_rows.csv");
    let expected = json(&package_dir("process-failure").join("replay/expected.json"));
    let (columns, rows) = read_csv(&file);
    let fields: Vec<String> = std::iter::once("ts".to_string())
        .chain(columns.iter().cloned())
        .map(|c| format!("\"{c}\""))
        .collect();
    let rest = format!(
        r#"
[[sources]]
type = "serial"
name = "mill"
device = "{device}"
baud = 115200
asset = "mill-1"
format = "csv"
fields = [{fields}]
timestamp = {{ max_past_secs = 0 }}
{models}"#,
        device = pty.device.display(),
        fields = fields.join(", "),
        models = model_config("process-failure", &columns, &["mill-1"]),
    );
    let agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("Serial device open.", Duration::from_secs(20));
    // The CSV as written, one reading per line (epoch seconds).
    let text = std::fs::read_to_string(&file).expect("replay file");
    let body: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(body.lines().count(), rows.len());
    pty.write(body.as_bytes());

    let excerpt = Excerpt {
        asset: "mill-1".into(),
        file: "replay/ai4i_rows.csv".into(),
        events: expected_events(&expected["events"]),
    };
    assert!(
        excerpt
            .events
            .iter()
            .any(|e| e.0 == "machine-failure" && e.1 == "raised"),
        "the excerpt has failures to find"
    );
    let on_kafka = check(&kafka.bootstrap(), &[excerpt]);
    assert!(
        on_kafka["mill-1"]
            .iter()
            .any(|e| e.0 == "machine-failure" && e.1 == "raised"),
        "no machine-failure reached Kafka"
    );
    let rows = expected["rows"].as_u64().expect("rows");
    check_inferences(&kafka.bootstrap(), "process-failure", rows);
    drop(agent);
}
