//! A detector in the running agent: eight correlated signals of one pump over MQTT → one
//! vector per second → the first 100 steps learned → a fault in one signal raises an alert on
//! Kafka that names that signal first, and the alert clears when the signal comes back; the
//! status reports the detector as learned.

use std::time::Duration;

use crate::harness::{agent_command, agent_config, consume, Agent, Mosquitto, Msg, Tansu};

const T0: i64 = 1_768_100_000;
const NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

fn config(mqtt_port: u16, bootstrap: &str) -> String {
    let signals: Vec<String> = NAMES
        .iter()
        .map(|n| format!("{{ name = \"{n}\" }}"))
        .collect();
    let names: Vec<String> = NAMES.iter().map(|n| format!("\"{n}\"")).collect();
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
signals = [{}]

[[detectors]]
name = "pump"
assets = ["pump-1"]
signals = [{}]
grid_secs = 1
learn = {{ steps = 100 }}
lags = 1
alert = {{ k = 2, n = 3 }}
"#,
            signals.join(", "),
            names.join(", ")
        ),
    )
}

/// Step `t`: two slow factors drive the eight signals; with `fault`, signal `c` is 3 higher
/// than its relation to the others says (about 1.3 of its standard deviations).
fn step(t: i64, fault: bool) -> String {
    let f1 = (t as f64 * 0.07).sin() * 2.0 + (t as f64 * 0.011).cos();
    let f2 = (t as f64 * 0.031).cos() * 1.5;
    let w1 = [1.0, 2.0, 0.5, -1.0, 1.5, 0.3, -0.7, 1.0];
    let w2 = [0.5, -1.0, 2.0, 1.0, 0.2, -1.5, 0.8, 1.0];
    let mut fields = vec![format!("\"ts\": {}", T0 + t)];
    for (j, name) in NAMES.iter().enumerate() {
        let k = j as i64;
        let noise = (((t * 7919 + k * 104_729) % 1000) as f64 / 1000.0 - 0.5) * 0.1;
        let mut v = 10.0 * (k + 1) as f64 + w1[j] * f1 + w2[j] * f2 + noise;
        if fault && *name == "c" {
            v += 3.0;
        }
        fields.push(format!("\"{name}\": {v}"));
    }
    format!("{{{}}}\n", fields.join(", "))
}

fn publish(mqtt: &Mosquitto, from: i64, to: i64, fault: bool) {
    let lines: String = (from..to).map(|t| step(t, fault)).collect();
    mqtt.publish_lines("plant/pump-1", &lines);
}

fn detector_alerts(msgs: &[Msg]) -> Vec<&Msg> {
    msgs.iter()
        .filter(|m| m.json["detector"].is_object())
        .collect()
}

/// The alerts topic, read until a detector alert with `event` is in it (or 60 s passed).
fn detector_alerts_until(kafka: &Tansu, event: &str) -> Vec<Msg> {
    consume(
        &kafka.bootstrap(),
        "forewarn.alerts",
        Duration::from_secs(60),
        |m| detector_alerts(m).iter().any(|a| a.json["event"] == event),
    )
}

#[test]
fn a_detector_learns_then_raises_an_explained_alert_and_clears_it() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let agent = Agent::start(&config(mqtt.port, &kafka.bootstrap()));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));

    // 100 steps to learn, 100 more of normal operation: no alert.
    publish(&mqtt, 0, 200, false);
    agent.wait_log("Baseline learned.", Duration::from_secs(60));
    // The fault for 30 steps, then normal again for 30 (one more step closes the last).
    publish(&mqtt, 200, 230, true);
    publish(&mqtt, 230, 261, false);

    let msgs = detector_alerts_until(&kafka, "cleared");
    let alerts = detector_alerts(&msgs);
    let raised = alerts
        .iter()
        .find(|a| a.json["event"] == "raised")
        .unwrap_or_else(|| panic!("no raised alert\n{}", agent.log()));
    let raised = &raised.json;
    let cleared = &alerts
        .iter()
        .find(|a| a.json["event"] == "cleared")
        .expect("cleared")
        .json;
    assert_eq!(raised["id"], cleared["id"], "one id for the lifecycle");
    assert_eq!(raised["rule"], "pump-anomaly");
    assert_eq!(raised["signal"], "anomaly_index");
    assert!(raised["value"].as_f64().unwrap_or(0.0) >= 1.2);
    assert_eq!(raised["detector"]["name"], "pump");
    // Raised within the fault's first 3 steps (2 of 3 past `on`), judged on a fault step.
    let step_start = raised["detector"]["step_start_ns"].as_i64().unwrap_or(0);
    let t = step_start / 1_000_000_000 - T0;
    assert!((200..203).contains(&t), "raised on step {t}");
    let top = &raised["detector"]["contributions"][0];
    assert_eq!(top["signal"], "c", "{}", raised["detector"]);
    assert!(top["share"].as_f64().unwrap_or(0.0) > 0.5, "{top}");
    let t = cleared["detector"]["step_start_ns"].as_i64().unwrap_or(0) / 1_000_000_000 - T0;
    // Cleared once the index is below `off` again: the EWMA of T² and Q (λ = 0.1) takes some
    // steps to forget a fault this large (22 here).
    assert!((230..261).contains(&t), "cleared on step {t}");
    // Nothing raised before the fault.
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.json["event"] == "raised")
            .count(),
        1,
        "{alerts:?}"
    );

    let statuses = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(30),
        |m| m.iter().any(|s| scored(&s.json["detectors"]["pump"])),
    );
    // A status sent right after learning counts only the learning steps: wait for one sent
    // after the alert's steps were scored.
    fn scored(d: &serde_json::Value) -> bool {
        d["learned"] == 1 && d["steps"].as_u64().is_some_and(|s| s >= 200)
    }
    let st = statuses
        .iter()
        .rev()
        .map(|s| &s.json["detectors"]["pump"])
        .find(|d| d["learned"] == 1)
        .expect("detector status");
    assert_eq!(st["assets"], 1);
    assert_eq!(st["learn_steps"], 100);
    assert!(st["steps"].as_u64().unwrap_or(0) >= 200, "{st}");
}

fn baselines(msgs: &[Msg]) -> Vec<&Msg> {
    msgs.iter()
        .filter(|m| m.json["schema"] == "forewarn.baseline.v1")
        .collect()
}

/// `forewarn baseline ARGS...`; its stdout, after asserting it succeeded.
fn baseline_cli(args: &[&str]) -> String {
    let out = agent_command()
        .arg("baseline")
        .args(args)
        .output()
        .expect("run forewarn baseline");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(
        out.status.success(),
        "forewarn baseline {args:?}: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

#[test]
fn a_baseline_survives_a_restart_moves_to_another_gateway_and_is_relearned_on_command() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let cfg = config(mqtt.port, &kafka.bootstrap());
    let mut agent = Agent::start(&cfg);
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    publish(&mqtt, 0, 101, false);
    agent.wait_log("Baseline learned.", Duration::from_secs(60));

    // The baseline on the status topic: its own schema, key and header.
    let msgs = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(30),
        |m| !baselines(m).is_empty(),
    );
    let sent = baselines(&msgs);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let b = &sent[0];
    assert_eq!(b.key, "gw-test/pump-1");
    assert_eq!(
        b.headers.get("forewarn-schema").map(String::as_str),
        Some("forewarn.baseline.v1")
    );
    assert_eq!(b.json["detector"], "pump");
    assert_eq!(b.json["generation"], 1);
    assert_eq!(b.json["trigger"], "learned");
    assert_eq!(b.json["steps"], 100);
    assert_eq!(b.json["stats"][2]["signal"], "c");
    assert_eq!(b.json["method"], "pca");
    assert!(b.json["pca"]["limits"]["t2"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(b.json["knn"].is_null());

    // A restart scores with the stored baseline at once: the fault raises without a second
    // learning phase.
    let status = agent.stop();
    assert!(status.success(), "{status:?}");
    agent.restart();
    agent.wait_log("Stored baseline in use.", Duration::from_secs(30));
    agent.wait_log_count("MQTT subscribed.", 2, Duration::from_secs(20));
    publish(&mqtt, 101, 110, true);
    let msgs = detector_alerts_until(&kafka, "raised");
    assert!(
        detector_alerts(&msgs)
            .iter()
            .any(|a| a.json["event"] == "raised"),
        "no alert after the restart\n{}",
        agent.log()
    );
    assert_eq!(agent.log().matches("Baseline learned.").count(), 1);

    // Export here, import on a second gateway that has never run: it starts scoring.
    let config_a = agent.config.display().to_string();
    let file = agent.dir.path().join("pump-1.json");
    baseline_cli(&[
        "export",
        "-c",
        &config_a,
        "pump",
        "pump-1",
        "-o",
        &file.display().to_string(),
    ]);
    let dir_b = tempfile::tempdir().expect("temp dir");
    let config_b = dir_b.path().join("forewarn.toml");
    std::fs::write(
        &config_b,
        cfg.replace(
            "{data_dir}",
            &dir_b.path().join("data").display().to_string(),
        )
        .replace(r#"id = "gw-test""#, r#"id = "gw-b""#),
    )
    .expect("write config");
    let config_b = config_b.display().to_string();
    let said = baseline_cli(&["import", "-c", &config_b, &file.display().to_string()]);
    assert!(said.contains("imported as generation 1"), "{said}");
    let shown = baseline_cli(&["show", "-c", &config_b]);
    assert!(
        shown.contains("pump/pump-1: generation 1, Imported (learned on gw-test/pump-1)"),
        "{shown}"
    );
    assert!(!shown.contains("NOT USED"), "{shown}");
    let b_agent = Agent::start_in(dir_b, &std::fs::read_to_string(&config_b).expect("config"));
    b_agent.wait_log("Stored baseline in use.", Duration::from_secs(30));
    drop(b_agent);

    // Relearn on the running agent: the old baseline keeps scoring, 100 normal steps later
    // generation 2 is learned and sent.
    let said = baseline_cli(&["relearn", "-c", &config_a, "pump"]);
    assert!(said.contains("relearn requested"), "{said}");
    // Samples wake the model thread, which looks for requests every 2 s.
    for chunk in 0..5 {
        publish(&mqtt, 110 + chunk, 111 + chunk, false);
        std::thread::sleep(Duration::from_millis(600));
    }
    agent.wait_log("Relearning", Duration::from_secs(30));
    publish(&mqtt, 115, 230, false);
    let msgs = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(60),
        |m| baselines(m).iter().any(|b| b.json["generation"] == 2),
    );
    let again = baselines(&msgs)
        .into_iter()
        .find(|b| b.json["generation"] == 2)
        .unwrap_or_else(|| panic!("no relearned baseline\n{}", agent.log()));
    assert_eq!(again.json["trigger"], "relearned");
    let shown = baseline_cli(&["show", "-c", &config_a, "pump"]);
    assert!(shown.contains("generation 2, Relearned"), "{shown}");
}

/// An alert up when the agent is SIGKILLed: the start restores the alert state from the model
/// thread's checkpoint (committed with the raised record), so the alert clears later under its
/// id, and the fault still present after the start raises nothing twice.
#[test]
fn an_alert_up_before_a_sigkill_clears_after_the_restart_under_its_id() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let mut agent = Agent::start(&config(mqtt.port, &kafka.bootstrap()));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    publish(&mqtt, 0, 150, false);
    agent.wait_log("Baseline learned.", Duration::from_secs(60));
    publish(&mqtt, 150, 170, true);
    let msgs = detector_alerts_until(&kafka, "raised");
    let raised = detector_alerts(&msgs)
        .into_iter()
        .find(|a| a.json["event"] == "raised")
        .unwrap_or_else(|| panic!("no raised alert\n{}", agent.log()))
        .json
        .clone();

    agent.kill9();
    agent.restart();
    agent.wait_log(
        "Detector alert states restored from the checkpoint.",
        Duration::from_secs(30),
    );
    agent.wait_log_count("MQTT subscribed.", 2, Duration::from_secs(20));
    // The fault goes on for a while, then the pump is normal again.
    publish(&mqtt, 170, 180, true);
    publish(&mqtt, 180, 231, false);
    let msgs = detector_alerts_until(&kafka, "cleared");
    let alerts = detector_alerts(&msgs);
    let cleared = alerts
        .iter()
        .find(|a| a.json["event"] == "cleared")
        .unwrap_or_else(|| panic!("never cleared: {alerts:?}\n{}", agent.log()));
    assert_eq!(cleared.json["id"], raised["id"], "{alerts:?}");
    assert!(
        cleared.json["detector"]["cleared_by"].is_null(),
        "{}",
        cleared.json
    );
    let t = cleared.json["detector"]["step_start_ns"]
        .as_i64()
        .unwrap_or(0)
        / 1_000_000_000
        - T0;
    assert!(t >= 180, "cleared on step {t}, a fault step");
    // Raised once: the only raised records carry the first id (the same record may come
    // twice: at least once).
    assert!(
        alerts
            .iter()
            .filter(|a| a.json["event"] == "raised")
            .all(|a| a.json["id"] == raised["id"]),
        "raised again: {alerts:?}"
    );
}
