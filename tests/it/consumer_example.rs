//! The Python consumer example (examples/python/consume.py, confluent-kafka) against the real
//! broker: a JSON gateway and a CBOR gateway write to the same topics, and the example reads
//! both, decoded by content type, nanosecond times exact, no (gateway, seq) twice.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use crate::harness::{agent_config, consume_topics, find_binary, Agent, Mosquitto, Msg, Tansu};

fn gateway(id: &str, kafka: &Tansu, mqtt: &Mosquitto, cbor: bool) -> Agent {
    let rest = format!(
        r#"
[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
port = {port}
topics = ["{id}/#"]
topic_pattern = "{id}/{{asset}}/{{signal}}"
timestamp = {{ field = "ts", unit = "ms" }}

[[assets]]
id = "pump-1"
interval_secs = 1.0
signals = [{{ name = "temp" }}]
"#,
        port = mqtt.port
    );
    let mut text = agent_config(&kafka.bootstrap(), &rest).replace("gw-test", id);
    if cbor {
        text = text.replace(
            "create_topics = true",
            "create_topics = true\nencoding = \"cbor\"",
        );
    }
    let agent = Agent::start(&text);
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    agent
}

#[test]
fn the_python_consumer_example_reads_json_and_cbor_gateways_exactly() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let json_gw = gateway("gw-json", &kafka, &mqtt, false);
    let cbor_gw = gateway("gw-cbor", &kafka, &mqtt, true);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    for id in ["gw-json", "gw-cbor"] {
        for i in 0..3 {
            // Odd milliseconds: their nanoseconds are above 2^53 and not multiples of 2^11,
            // so a reader that goes through doubles gets them wrong.
            let ts = now_ms - 60_000 + 1_000 * i + 7;
            mqtt.publish(
                &format!("{id}/pump-1/temp"),
                format!(r#"{{"ts": {ts}, "value": {}.25}}"#, 20 + i).as_bytes(),
            );
        }
    }
    let topics = ["forewarn.telemetry", "forewarn.status"];
    // Each gateway's telemetry (two buckets or more) and a heartbeat.
    let both = |msgs: &[Msg]| {
        ["gw-json", "gw-cbor"].iter().all(|g| {
            let of = |topic: &str| {
                msgs.iter()
                    .filter(|m| {
                        m.topic == topic
                            && m.headers.get("forewarn-gateway").map(String::as_str) == Some(*g)
                    })
                    .count()
            };
            of("forewarn.telemetry") >= 2 && of("forewarn.status") >= 1
        })
    };
    let rust = consume_topics(&kafka.bootstrap(), &topics, Duration::from_secs(60), both);
    assert!(both(&rust), "{}\n{}", json_gw.log(), cbor_gw.log());

    let python = std::env::var("FOREWARN_CONSUMER_PYTHON")
        .unwrap_or_else(|_| "/var/cache/forewarn-ci/consumer-venv/bin/python".to_string());
    let python = find_binary("python", "FOREWARN_CONSUMER_PYTHON", &[&python]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/python/consume.py");
    let out = Command::new(python)
        .arg(script)
        .args(["--bootstrap", &kafka.bootstrap(), "--from-beginning"])
        .args(["--topics", &topics.join(","), "--max-seconds", "15"])
        .output()
        .expect("run consume.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();

    // Every record once.
    let mut seen = HashSet::new();
    for l in &lines {
        let key = (l["gateway"].to_string(), l["seq"].as_u64());
        assert!(seen.insert(key), "twice: {l}");
    }
    // Both encodings, each gateway's telemetry as the Rust consumer decoded it.
    let by_key: HashMap<(String, u64), &Msg> = rust
        .iter()
        .filter_map(|m| Some(((m.headers.get("forewarn-gateway")?.clone(), m.seq()), m)))
        .collect();
    for (id, content_type) in [
        ("gw-json", "application/json"),
        ("gw-cbor", "application/cbor"),
    ] {
        let telemetry: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|l| l["gateway"] == id && l["schema"] == "forewarn.telemetry.v1")
            .collect();
        assert!(telemetry.len() >= 2, "{id}: {lines:#?}\n{stderr}");
        let mut compared = 0;
        for l in telemetry {
            assert_eq!(l["content_type"], content_type, "{l}");
            let seq = l["seq"].as_u64().expect("seq");
            let Some(m) = by_key.get(&(id.to_string(), seq)) else {
                continue; // read by Python after the Rust consumer stopped
            };
            let (py, rs) = (&l["record"], &m.json);
            for field in [
                "start_ns", "end_ns", "gateway", "asset", "signal", "count", "mean",
            ] {
                assert_eq!(py[field], rs[field], "{id} seq {seq} {field}: {py} vs {rs}");
            }
            compared += 1;
        }
        assert!(compared > 0, "{id}: no telemetry read by both consumers");
        // A heartbeat's time has nanoseconds from the clock: above 2^53, exact.
        let statuses: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|l| l["gateway"] == id && l["schema"] == "forewarn.status.v1")
            .collect();
        assert!(!statuses.is_empty(), "{id}: no status");
        let mut compared = 0;
        for l in statuses {
            let ts = l["record"]["ts_ns"].as_i64().expect("integer ts_ns");
            assert!(ts > 1 << 53, "{ts}");
            let seq = l["seq"].as_u64().expect("seq");
            if let Some(m) = by_key.get(&(id.to_string(), seq)) {
                assert_eq!(l["record"]["ts_ns"], m.json["ts_ns"], "{id} seq {seq}");
                compared += 1;
            }
        }
        assert!(compared > 0, "{id}: no status read by both consumers");
    }
}
