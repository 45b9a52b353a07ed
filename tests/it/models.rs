//! Models in the running agent: samples over MQTT → windows → features → a real ONNX model
//! (scikit-learn, exported by skl2onnx; `tests/fixtures/models/make_level_model.py`) → an
//! alert raised and then cleared on Kafka; the status reports the model; a broken package is
//! refused at reload while the running version keeps working, and a good one replaces it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::{agent_config, consume, Agent, Mosquitto, Msg, Tansu};

const T0: i64 = 1_768_000_000;
const NS: i64 = 1_000_000_000;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/level")
}

fn copy_package(to: &Path) {
    std::fs::create_dir_all(to).expect("package dir");
    for f in ["manifest.toml", "model.onnx"] {
        std::fs::copy(fixture().join(f), to.join(f)).expect("copy package");
    }
}

fn config(mqtt_port: u16, bootstrap: &str, package: &Path) -> String {
    agent_config(
        bootstrap,
        &format!(
            r#"
[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
port = {mqtt_port}
topics = ["plant/+"]
topic_pattern = "plant/{{asset}}"
timestamp = {{ field = "ts", max_past_secs = 0 }}

[[assets]]
id = "pump-1"
interval_secs = 0
signals = [{{ name = "level" }}]

[[models]]
package = "{}"
assets = ["pump-1"]
signals = {{ x = "level" }}
"#,
            package.display()
        ),
    )
}

/// Publish `values`, one sample per event second from `from`.
fn publish(mqtt: &Mosquitto, from: i64, values: &[f64]) {
    let lines: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{{\"ts\": {}, \"level\": {v}}}\n", T0 + from + i as i64))
        .collect();
    mqtt.publish_lines("plant/pump-1", &lines);
}

fn model_alerts(msgs: &[Msg]) -> Vec<&Msg> {
    msgs.iter()
        .filter(|m| m.json["model"].is_object())
        .collect()
}

fn latest_model_status(
    bootstrap: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let statuses = consume(bootstrap, "forewarn.status", Duration::from_secs(30), |m| {
        m.iter().any(|s| done(&s.json["models"]["level"]))
    });
    statuses
        .iter()
        .rev()
        .map(|s| s.json["models"]["level"].clone())
        .find(|m| done(m))
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn a_model_raises_and_clears_an_alert_from_mqtt_samples() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let agent = Agent::start(&config(mqtt.port, &kafka.bootstrap(), &fixture()));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    agent.wait_log("Model loaded.", Duration::from_secs(20));

    // Windows of 4 samples: level 10 (quiet), 150 twice (raised, no worse), 10 (cleared).
    publish(&mqtt, 0, &[10.0, 10.0, 10.0, 10.0]);
    publish(&mqtt, 4, &[150.0, 149.0, 151.0, 150.0]);
    publish(&mqtt, 8, &[150.0, 150.0, 150.0, 150.0]);
    publish(&mqtt, 12, &[10.0, 10.0, 10.0, 10.0]);

    let msgs = consume(
        &kafka.bootstrap(),
        "forewarn.alerts",
        Duration::from_secs(60),
        |m| model_alerts(m).len() >= 2,
    );
    let alerts = model_alerts(&msgs);
    assert_eq!(alerts.len(), 2, "raised and cleared\n{}", agent.log());
    let (raised, cleared) = (&alerts[0].json, &alerts[1].json);
    assert_eq!(raised["event"], "raised");
    assert_eq!(cleared["event"], "cleared");
    assert_eq!(
        raised["id"], cleared["id"],
        "one alert id for its lifecycle"
    );
    assert_eq!(raised["rule"], "level-high");
    assert_eq!(raised["severity"], "critical");
    assert_eq!(raised["model"]["name"], "level");
    assert_eq!(raised["model"]["version"], "1.0.0");
    let score = raised["value"].as_f64().unwrap_or(0.0);
    assert!((score - 150.0).abs() < 0.01, "score {score}");
    assert_eq!(raised["limit"], 100.0);
    assert_eq!(cleared["limit"], 50.0);
    assert_eq!(raised["model"]["window_start_ns"], (T0 + 4) * NS);
    assert_eq!(raised["model"]["window_end_ns"], (T0 + 7) * NS);
    let drivers = raised["model"]["drivers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(drivers.len(), 2, "{raised}");
    assert!(drivers[0]["z"].as_f64().unwrap_or(0.0) > 0.5, "{raised}");
    assert_eq!(alerts[0].key, "gw-test/pump-1");

    let status = latest_model_status(&kafka.bootstrap(), |m| m["inferences"].as_u64() >= Some(4));
    assert_eq!(status["version"], "1.0.0", "{status}");
    assert_eq!(status["windows"], 4, "{status}");
    assert!(status["latency_p50_us"].as_f64().is_some(), "{status}");
    assert_eq!(status["features"][0]["name"], "x.mean", "{status}");
    assert_eq!(status["features"][0]["count"], 4, "{status}");
    assert!(status["drift_score"].as_f64().is_some(), "{status}");
}

#[test]
fn a_broken_package_is_refused_at_reload_and_a_good_one_replaces_the_running_version() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let pkg = dir.path().join("level");
    copy_package(&pkg);
    let mut agent = Agent::start(&config(mqtt.port, &kafka.bootstrap(), &pkg));
    agent.wait_log("Model loaded.", Duration::from_secs(20));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));

    // A new version whose golden vector does not match the model: refused.
    let manifest = std::fs::read_to_string(fixture().join("manifest.toml")).expect("manifest");
    let broken = manifest
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        .replace("output = [150.000000]", "output = [99.0]");
    std::fs::write(pkg.join("manifest.toml"), broken).expect("write manifest");
    agent.reload();
    agent.wait_log("Model package refused.", Duration::from_secs(20));
    // The running version still works.
    publish(&mqtt, 0, &[150.0, 150.0, 150.0, 150.0]);
    let msgs = consume(
        &kafka.bootstrap(),
        "forewarn.alerts",
        Duration::from_secs(30),
        |m| !model_alerts(m).is_empty(),
    );
    assert_eq!(
        model_alerts(&msgs)
            .first()
            .map(|a| a.json["model"]["version"].clone()),
        Some("1.0.0".into())
    );
    let status = latest_model_status(&kafka.bootstrap(), |m| m["reload_error"].is_string());
    assert!(
        status["reload_error"]
            .as_str()
            .is_some_and(|e| e.contains("golden vector 1")),
        "{status}"
    );
    assert_eq!(status["version"], "1.0.0");

    // A good new version: noticed by the directory watch (no signal), replaces the old one,
    // and keeps the raised alert (the next quiet window clears it under the new version).
    let fixed = manifest.replace("version = \"1.0.0\"", "version = \"1.1.0\"");
    std::fs::write(pkg.join("manifest.toml"), fixed).expect("write manifest");
    let end = Instant::now() + Duration::from_secs(30);
    while !agent.log().contains("version=1.1.0") {
        assert!(
            Instant::now() < end,
            "new version never loaded\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    publish(&mqtt, 4, &[10.0, 10.0, 10.0, 10.0]);
    let msgs = consume(
        &kafka.bootstrap(),
        "forewarn.alerts",
        Duration::from_secs(30),
        |m| model_alerts(m).len() >= 2,
    );
    let alerts = model_alerts(&msgs);
    assert_eq!(alerts.len(), 2, "{}", agent.log());
    assert_eq!(alerts[1].json["event"], "cleared");
    assert_eq!(alerts[1].json["model"]["version"], "1.1.0");
    assert_eq!(alerts[0].json["id"], alerts[1].json["id"]);
    let status = latest_model_status(&kafka.bootstrap(), |m| m["version"] == "1.1.0");
    assert!(status["reload_error"].is_null(), "{status}");
}

#[test]
fn sighup_without_models_does_not_stop_the_agent() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let rest = format!(
        r#"
[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
port = {}
topics = ["plant/+"]
topic_pattern = "plant/{{asset}}"

[[assets]]
id = "pump-1"
signals = [{{ name = "level" }}]
"#,
        mqtt.port
    );
    let mut agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    agent.reload();
    agent.wait_log("nothing to reload", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        agent.exited().is_none(),
        "SIGHUP stopped the agent\n{}",
        agent.log()
    );
    assert!(agent.stop().success());
}
