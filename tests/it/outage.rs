use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::harness::{agent_config, consume, outbox_depths, Agent, Mosquitto, Tansu};

const T0: i64 = 1_767_600_000;
const NS: i64 = 1_000_000_000;

#[test]
fn records_wait_in_the_outbox_while_kafka_is_down_and_arrive_in_order_when_it_returns() {
    let mqtt = Mosquitto::start();
    let mut kafka = Tansu::not_started();
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

[[assets]]
id = "pump-1"
interval_secs = 1
signals = [{{ name = "temp" }}]

[[assets]]
id = "pump-2"
interval_secs = 1
signals = [{{ name = "temp" }}]

[[rules]]
name = "hot"
asset = "*"
signal = "temp"
above = 100.0
"#,
        port = mqtt.port
    );
    let agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));

    // 20 seconds of data for two pumps, two samples per second; one alert each.
    const SECONDS: i64 = 20;
    for i in 0..SECONDS * 2 {
        let ts = T0 as f64 + i as f64 * 0.5;
        for pump in ["pump-1", "pump-2"] {
            let v = if i == 10 { 150.0 } else { i as f64 };
            mqtt.publish(
                &format!("plant/{pump}"),
                format!(r#"{{"ts": {ts}, "temp": {v}}}"#).as_bytes(),
            );
        }
    }
    // The last bucket closes when idle (width + 2 s grace); then everything is in the outbox.
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let d = outbox_depths(&agent.data_dir());
        if d.get("telemetry") == Some(&(2 * SECONDS as u64)) && d.get("alert") == Some(&4) {
            break;
        }
        assert!(
            Instant::now() < end,
            "outbox never held the backlog: {d:?}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The broker comes up: the backlog drains, nothing lost, in order per key.
    kafka.start_again();
    let telemetry = consume(
        &kafka.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(90),
        |m| m.len() >= 2 * SECONDS as usize,
    );
    assert_eq!(
        telemetry.len(),
        2 * SECONDS as usize,
        "every bucket delivered once\n{}",
        agent.log()
    );
    let mut per_key: HashMap<String, Vec<(i32, i64, u64, i64)>> = HashMap::new();
    for m in &telemetry {
        per_key.entry(m.key.clone()).or_default().push((
            m.partition,
            m.offset,
            m.seq(),
            m.json["start_ns"].as_i64().unwrap_or(-1),
        ));
    }
    assert_eq!(per_key.len(), 2);
    for (key, mut rows) in per_key {
        rows.sort();
        assert!(
            rows.windows(2).all(|w| w[0].0 == w[1].0),
            "{key}: one partition per key"
        );
        let starts: Vec<i64> = rows.iter().map(|r| r.3).collect();
        let expected: Vec<i64> = (0..SECONDS).map(|s| (T0 + s) * NS).collect();
        assert_eq!(starts, expected, "{key}: every bucket, in offset order");
        assert!(
            rows.windows(2).all(|w| w[0].2 < w[1].2),
            "{key}: sequence numbers rise with offsets"
        );
    }
    let alerts = consume(
        &kafka.bootstrap(),
        "forewarn.alerts",
        Duration::from_secs(30),
        |m| m.len() >= 4,
    );
    let by_asset: BTreeMap<String, Vec<String>> =
        alerts.iter().fold(BTreeMap::new(), |mut acc, a| {
            acc.entry(a.json["asset"].as_str().unwrap_or("?").to_string())
                .or_default()
                .push(a.json["event"].as_str().unwrap_or("?").to_string());
            acc
        });
    for pump in ["pump-1", "pump-2"] {
        assert_eq!(
            by_asset.get(pump).map(Vec::as_slice),
            Some(&["raised".to_string(), "cleared".to_string()][..])
        );
    }

    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let d = outbox_depths(&agent.data_dir());
        if d.get("telemetry") == Some(&0) && d.get("alert") == Some(&0) {
            break;
        }
        assert!(Instant::now() < end, "outbox did not drain: {d:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
