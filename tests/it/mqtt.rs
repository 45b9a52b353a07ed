use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::harness::{agent_config, consume, Agent, Mosquitto, Msg, Tansu};

/// 2026-01-05T08:00:00Z
const T0: i64 = 1_767_600_000;
const NS: i64 = 1_000_000_000;

fn mqtt_agent(mqtt: &Mosquitto, kafka: &Tansu) -> Agent {
    mqtt_agent_with_interval(mqtt, kafka, 1.0)
}

fn mqtt_agent_with_interval(mqtt: &Mosquitto, kafka: &Tansu, interval_secs: f64) -> Agent {
    let rest = format!(
        r#"
[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
port = {port}
topics = ["plant/#"]
topic_pattern = "plant/{{asset}}"
timestamp = {{ field = "ts", max_past_secs = 0 }}

[[sources]]
type = "mqtt"
name = "tags"
host = "127.0.0.1"
port = {port}
topics = ["tags/+/+"]
topic_pattern = "tags/{{asset}}/{{signal}}"

[[assets]]
id = "pump-1"
line = "line-3"
type = "centrifugal-pump"
tags = {{ area = "north" }}
interval_secs = {interval_secs}
signals = [{{ name = "temp", unit = "degC" }}, {{ name = "vib" }}]

[[rules]]
name = "temp-high"
asset = "pump-1"
signal = "temp"
above = 80.0
clear = 75.0
severity = "critical"
"#,
        port = mqtt.port,
    );
    let agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    // Both sources subscribed before anything is published.
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while agent.log().matches("MQTT subscribed.").count() < 2 {
        assert!(
            std::time::Instant::now() < end,
            "not subscribed:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    agent
}

fn cbor(pairs: &[(&str, f64)]) -> Vec<u8> {
    let m: BTreeMap<&str, f64> = pairs.iter().copied().collect();
    forewarn::codec::to_cbor(&m).expect("cbor")
}

pub(crate) fn bucket<'a>(msgs: &'a [Msg], signal: &str, start_s: i64) -> Option<&'a Msg> {
    msgs.iter()
        .find(|m| m.json["signal"] == signal && m.json["start_ns"].as_i64() == Some(start_s * NS))
}

#[test]
fn mqtt_payloads_become_telemetry_and_alerts_in_kafka() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let mut agent = mqtt_agent(&mqtt, &kafka);

    // Bucket [T0, T0+1): temp 20, 22, 24, 26 in four payload shapes; vib 0.5.
    mqtt.publish(
        "plant/pump-1",
        format!(r#"{{"ts": {}, "temp": 20.0, "vib": 0.5}}"#, T0 * 1000).as_bytes(),
    );
    mqtt.publish(
        "plant/pump-1",
        format!(
            r#"[{{"ts": {}.25, "temp": 22}}, {{"ts": "2026-01-05T08:00:00.5Z", "temp": "24"}}]"#,
            T0
        )
        .as_bytes(),
    );
    let m = serde_json::json!({"ts": T0 * 1000 + 750, "temp": 26.0});
    mqtt.publish("plant/pump-1", &forewarn::codec::to_cbor(&m).expect("cbor"));
    // Next second: 95 raises the alert and closes the first bucket; 70 clears it.
    mqtt.publish(
        "plant/pump-1",
        format!(r#"{{"ts": {}, "temp": 95}}"#, T0 + 1).as_bytes(),
    );
    mqtt.publish(
        "plant/pump-1",
        format!(r#"{{"ts": {}, "temp": 70}}"#, T0 + 2).as_bytes(),
    );
    // The `tags` source is a second connection, so nothing orders its messages after those
    // of `plant`: wait until the plant samples are in (the T0 temp bucket closed, so vib 0.5
    // at T0 was taken) before vib's arrival-time sample, or vib 0.5 would come late.
    consume(
        &kafka.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(60),
        |m| bucket(m, "temp", T0).is_some(),
    );
    // A bare number on a signal topic (arrival time).
    mqtt.publish("tags/pump-1/vib", b"0.7");
    // Bad input, one of each kind.
    mqtt.publish("plant/pump-1", b"not json at all");
    mqtt.publish(
        "plant/pump-1",
        format!(r#"{{"ts": {}, "temp": "hot"}}"#, T0 + 2).as_bytes(),
    );
    mqtt.publish("plant/pump-9", br#"{"temp": 1}"#);
    mqtt.publish("plant/pump-1", &cbor(&[("temp", f64::NAN)]));
    mqtt.publish("plant/pump-1/extra", b"{}");
    mqtt.publish("plant/pump-1", br#"{"ts": "yesterday", "temp": 1}"#);
    mqtt.publish("tags/pump-1/pressure", b"3");
    // Late: older than the open bucket.
    mqtt.publish(
        "plant/pump-1",
        format!(r#"{{"ts": {}, "temp": 30}}"#, T0).as_bytes(),
    );

    let wait = Duration::from_secs(60);
    let telemetry = consume(&kafka.bootstrap(), "forewarn.telemetry", wait, |m| {
        bucket(m, "temp", T0).is_some()
            && bucket(m, "temp", T0 + 1).is_some()
            && bucket(m, "vib", T0).is_some()
    });
    let t0 = bucket(&telemetry, "temp", T0)
        .unwrap_or_else(|| panic!("no temp bucket at T0: {telemetry:#?}\n{}", agent.log()));
    assert_eq!(t0.json["count"], 4);
    assert_eq!(
        (t0.json["min"].as_f64(), t0.json["max"].as_f64()),
        (Some(20.0), Some(26.0))
    );
    assert_eq!(
        (t0.json["mean"].as_f64(), t0.json["last"].as_f64()),
        (Some(23.0), Some(26.0))
    );
    assert_eq!(t0.json["end_ns"].as_i64(), Some((T0 + 1) * NS));
    assert_eq!(t0.json["unit"], "degC");
    assert_eq!(t0.json["meta"]["line"], "line-3");
    assert_eq!(t0.json["meta"]["tags"]["area"], "north");
    assert_eq!(t0.json["schema"], "forewarn.telemetry.v1");
    assert_eq!(t0.key, "gw-test/pump-1");
    assert_eq!(
        t0.headers.get("forewarn-gateway").map(String::as_str),
        Some("gw-test")
    );
    assert_eq!(
        t0.headers.get("forewarn-schema").map(String::as_str),
        Some("forewarn.telemetry.v1")
    );
    assert_eq!(
        bucket(&telemetry, "temp", T0 + 1).map(|m| m.json["count"].clone()),
        Some(1.into())
    );
    assert_eq!(
        bucket(&telemetry, "vib", T0).map(|m| m.json["last"].clone()),
        Some(0.5.into())
    );

    let alerts = consume(&kafka.bootstrap(), "forewarn.alerts", wait, |m| {
        m.len() >= 2
    });
    let events: Vec<(&str, f64)> = alerts
        .iter()
        .map(|a| {
            (
                a.json["event"].as_str().unwrap_or("?"),
                a.json["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    assert_eq!(events, vec![("raised", 95.0), ("cleared", 70.0)]);
    assert_eq!(
        alerts[0].json["id"], alerts[1].json["id"],
        "one alert id across its lifecycle"
    );
    assert_eq!(alerts[0].json["severity"], "critical");
    assert_eq!(alerts[0].json["ts_ns"].as_i64(), Some((T0 + 1) * NS));
    assert_eq!(alerts[0].key, "gw-test/pump-1");

    // Status eventually shows every rejection, counted by reason, and the late sample.
    let status = consume(&kafka.bootstrap(), "forewarn.status", wait, |msgs| {
        msgs.iter().any(|m| {
            let r = &m.json["sources"]["plant"]["rejected"];
            r["malformed"] == 1
                && r["not_numeric"] == 1
                && r["unknown_asset"] == 1
                && r["non_finite"] == 1
                && r["unknown_topic"] == 1
                && r["bad_timestamp"] == 1
                && m.json["sources"]["tags"]["rejected"]["unknown_signal"] == 1
                && m.json["pipeline_drops"]["late"] == 1
        })
    });
    let last = status
        .last()
        .unwrap_or_else(|| panic!("no status\n{}", agent.log()));
    assert!(
        last.json["sources"]["plant"]["rejected"]["malformed"] == 1
            && last.json["pipeline_drops"]["late"] == 1,
        "status never showed the rejections: {:#}",
        last.json
    );
    assert_eq!(last.json["sources"]["plant"]["connected"], true);
    assert_eq!(last.key, "gw-test");

    // Every record has a distinct (gateway, seq).
    let all: Vec<&Msg> = telemetry.iter().chain(&alerts).chain(&status).collect();
    let seqs: HashSet<u64> = all.iter().map(|m| m.seq()).collect();
    assert_eq!(seqs.len(), all.len(), "sequence numbers are unique");

    assert!(
        agent.stop().success(),
        "clean shutdown on SIGTERM:\n{}",
        agent.log()
    );
}

#[test]
fn a_burst_faster_than_the_pipeline_waits_on_the_broker_instead_of_being_dropped() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    // 1 ms telemetry buckets: every sample closes a bucket, so each one becomes an outbox
    // record and the pipeline is far slower than the broker can deliver.
    let agent = mqtt_agent_with_interval(&mqtt, &kafka, 0.001);
    // 4000 messages of 50 samples each, published back to back.
    const MESSAGES: usize = 4000;
    let mut lines = String::new();
    for m in 0..MESSAGES {
        let items: Vec<String> = (0..25)
            .map(|i| {
                format!(
                    r#"{{"ts":{},"temp":{i},"vib":0.{i}}}"#,
                    T0 * 1000 + (m * 25 + i) as i64
                )
            })
            .collect();
        lines.push_str(&format!("[{}]\n", items.join(",")));
    }
    mqtt.publish_lines("plant/pump-1", &lines);
    let total = (MESSAGES * 50) as u64;
    let status = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(120),
        |msgs| {
            msgs.iter()
                .any(|m| m.json["sources"]["plant"]["samples"].as_u64() >= Some(total))
        },
    );
    let last = status
        .last()
        .unwrap_or_else(|| panic!("no status\n{}", agent.log()));
    let plant = &status
        .iter()
        .find(|m| m.json["sources"]["plant"]["samples"].as_u64() >= Some(total))
        .unwrap_or(last)
        .json["sources"]["plant"];
    // Every message taken once. If the session had to reconnect (seen under qemu-user on a
    // loaded machine: the emulated agent missed its keep-alive), the broker redelivers what
    // was not yet acknowledged: at least once, never fewer.
    if plant["reconnects"].as_u64() == Some(0) {
        assert_eq!(
            plant["received"].as_u64(),
            Some(MESSAGES as u64),
            "{plant:#}"
        );
        assert_eq!(
            plant["samples"].as_u64(),
            Some(total),
            "every sample taken: {plant:#}"
        );
    } else {
        assert!(
            plant["received"].as_u64() >= Some(MESSAGES as u64),
            "{plant:#}"
        );
        assert!(
            plant["samples"].as_u64() >= Some(total),
            "every sample taken at least once: {plant:#}"
        );
    }
    assert!(
        plant["rejected"].get("overload").is_none(),
        "nothing dropped: {plant:#}"
    );
}
