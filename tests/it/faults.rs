//! Faults of the parts around the agent while data flows: the Kafka broker paused (SIGSTOP)
//! and killed (SIGKILL, restarted on its SQLite storage), and the MQTT broker restarted. The
//! checks are on what reaches Kafka: every bucket at least once, duplicates identical, order
//! per key by sequence number.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{agent_config, consume, outbox_depths, Agent, Mosquitto, Msg, Tansu};

const T0: i64 = 1_767_800_000;
const NS: i64 = 1_000_000_000;

fn config(mqtt_port: u16, bootstrap: &str) -> String {
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
interval_secs = 1
signals = [{{ name = "temp" }}]

[[assets]]
id = "pump-2"
interval_secs = 1
signals = [{{ name = "temp" }}]
"#
        ),
    )
}

/// Check delivered telemetry against the expected buckets (start second offsets per asset).
/// Returns (delivered, duplicates). Panics on loss, on a duplicate that differs, or on a
/// sequence number falling within a key.
fn check_delivery(
    msgs: &[Msg],
    expected: &HashMap<String, BTreeSet<i64>>,
    log: &str,
) -> (usize, usize) {
    let mut first: HashMap<u64, &Msg> = HashMap::new();
    let mut duplicates = 0;
    let mut per_key: HashMap<&str, Vec<(i32, i64, u64)>> = HashMap::new();
    for m in msgs {
        if let Some(f) = first.get(&m.seq()) {
            assert_eq!(f.json, m.json, "a duplicate of seq {} differs", m.seq());
            duplicates += 1;
            continue;
        }
        first.insert(m.seq(), m);
        per_key
            .entry(m.key.as_str())
            .or_default()
            .push((m.partition, m.offset, m.seq()));
    }
    for (asset, seconds) in expected {
        let got: BTreeSet<i64> = first
            .values()
            .filter(|m| m.json["asset"] == asset.as_str())
            .filter_map(|m| m.json["start_ns"].as_i64())
            .map(|ns| ns / NS - T0)
            .collect();
        let lost: Vec<&i64> = seconds.difference(&got).collect();
        assert!(
            lost.is_empty(),
            "{asset}: {} of {} buckets lost, e.g. {:?}\n{log}",
            lost.len(),
            seconds.len(),
            &lost[..lost.len().min(10)]
        );
    }
    let mut reordered = 0;
    for rows in per_key.values_mut() {
        rows.sort();
        reordered += rows.windows(2).filter(|w| w[1].2 < w[0].2).count();
    }
    assert_eq!(reordered, 0, "sequence numbers fell within a key");
    (first.len(), duplicates)
}

#[test]
fn kafka_paused_then_killed_under_load_loses_nothing_and_the_backlog_drains_in_order() {
    let mqtt = Arc::new(Mosquitto::start());
    let mut kafka = Tansu::persistent();
    let agent = Agent::start(&config(mqtt.port, &kafka.bootstrap()));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    agent.wait_log("Kafka forwarder started.", Duration::from_secs(30));

    // Load: every 200 ms, 5 seconds of event time for each pump (one sample per second).
    let done = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicI64::new(0));
    let load = {
        let (mqtt, done, published) = (mqtt.clone(), done.clone(), published.clone());
        std::thread::spawn(move || {
            let mut s = 0i64;
            while !done.load(Ordering::Relaxed) {
                for pump in ["pump-1", "pump-2"] {
                    let lines: String = (s..s + 5)
                        .map(|i| format!("{{\"ts\": {}, \"temp\": {}}}\n", T0 + i, i % 50))
                        .collect();
                    mqtt.publish_lines(&format!("plant/{pump}"), &lines);
                }
                s += 5;
                published.store(s, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    // Largest telemetry backlog seen over `secs`.
    let watch = |secs: u64| {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut max = 0u64;
        while Instant::now() < end {
            let d = outbox_depths(&agent.data_dir());
            max = max.max(d.get("telemetry").copied().unwrap_or(0));
            std::thread::sleep(Duration::from_millis(500));
        }
        max
    };
    watch(5);
    kafka.pause();
    let backlog_paused = watch(8);
    kafka.resume();
    watch(6);
    kafka.kill();
    let backlog_killed = watch(8);
    kafka.start_again();
    watch(6);
    let max_backlog = backlog_paused.max(backlog_killed);
    done.store(true, Ordering::Relaxed);
    load.join().expect("load thread");
    let seconds = published.load(Ordering::Relaxed);

    // The last bucket of each pump stays open (no later sample closes it).
    let expected: HashMap<String, BTreeSet<i64>> = ["pump-1", "pump-2"]
        .iter()
        .map(|p| (p.to_string(), (0..seconds - 1).collect()))
        .collect();
    let want = 2 * (seconds - 1) as usize;
    let t = Instant::now();
    let msgs = consume(
        &kafka.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(180),
        |m| m.iter().map(Msg::seq).collect::<BTreeSet<_>>().len() >= want,
    );
    let (delivered, duplicates) = check_delivery(&msgs, &expected, &agent.log());
    eprintln!(
        "published {seconds} s per pump; delivered {delivered} buckets, {duplicates} duplicates; \
         largest backlog {max_backlog} (paused {backlog_paused}, killed {backlog_killed}); read back in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert!(
        backlog_paused > 0 && backlog_killed > 0,
        "an outage built no backlog"
    );

    // Heartbeats sent during the outage predicted when the budget would fill.
    let statuses = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(60),
        |m| {
            m.iter()
                .any(|s| s.json["outbox_full_in_secs"].as_f64().is_some())
        },
    );
    let predicting = statuses
        .iter()
        .filter(|s| s.json["outbox_full_in_secs"].as_f64().is_some())
        .count();
    assert!(predicting > 0, "no status predicted the budget filling up");
    let s = statuses
        .iter()
        .find(|s| s.json["outbox_full_in_secs"].as_f64().is_some())
        .map(|s| &s.json);
    eprintln!(
        "status during the outage: fill {} B/s, full in {} s",
        s.map_or(serde_json::Value::Null, |s| s["outbox_fill_bytes_per_sec"]
            .clone()),
        s.map_or(serde_json::Value::Null, |s| s["outbox_full_in_secs"]
            .clone()),
    );

    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let d = outbox_depths(&agent.data_dir());
        if d.get("telemetry") == Some(&1) || d.get("telemetry") == Some(&0) {
            break;
        }
        assert!(Instant::now() < end, "outbox did not drain: {d:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn mqtt_broker_restarted_under_load_loses_nothing_it_acknowledged() {
    let mut mqtt = Mosquitto::start_persistent();
    let kafka = Tansu::start();
    let agent = Agent::start(&config(mqtt.port, &kafka.bootstrap()));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));

    // One QoS 1 message per event second; a message counts as sent once the broker
    // acknowledged it (mosquitto_pub exits 0); otherwise it is retried.
    const SECONDS: i64 = 120;
    let mut sent = 0i64;
    let mut retries = 0;
    // Halfway, the broker stops for 3 s while the publisher keeps trying.
    let mut down_until: Option<Instant> = None;
    let mut restarted = false;
    let mut i = 0i64;
    while i < SECONDS {
        if i == SECONDS / 2 && !restarted {
            mqtt.stop();
            down_until = Some(Instant::now() + Duration::from_secs(3));
            restarted = true;
        }
        if down_until.is_some_and(|t| Instant::now() >= t) {
            mqtt.start_again();
            down_until = None;
        }
        let payload = format!(r#"{{"ts": {}, "temp": {}}}"#, T0 + i, i % 50);
        if mqtt.try_publish("plant/pump-1", payload.as_bytes()) {
            sent += 1;
            i += 1;
        } else {
            retries += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    agent.wait_log("MQTT subscribed.", Duration::from_secs(5));
    let expected: HashMap<String, BTreeSet<i64>> =
        HashMap::from([("pump-1".to_string(), (0..SECONDS - 1).collect())]);
    let msgs = consume(
        &kafka.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(90),
        |m| m.len() >= (SECONDS - 1) as usize,
    );
    let (delivered, duplicates) = check_delivery(&msgs, &expected, &agent.log());
    let reconnects = agent.log().matches("MQTT subscribed.").count();
    assert!(retries > 0, "the publisher never met the broker down");
    eprintln!(
        "sent {sent} (retries while the broker was down: {retries}); delivered {delivered} \
         buckets, {duplicates} duplicates; subscribed {reconnects} times"
    );
    assert!(
        reconnects >= 2,
        "the agent never resubscribed\n{}",
        agent.log()
    );
}
