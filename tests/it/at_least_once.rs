//! At least once from the broker's acknowledgement to Kafka (issue 16): a QoS 1 message is
//! acknowledged only once its samples are committed to the outbox, as records or in the
//! processing checkpoint, so a SIGKILL loses nothing the broker was told we have.
//!
//! - The issue's reproduction: samples in an open one-minute bucket, SIGKILL, restart, a
//!   later sample closes the bucket: every sample is in it.
//! - Jepsen style: a publisher sends samples with unique values and counts the broker's
//!   acknowledgements; the agent is SIGKILLed at random moments and restarted on the same data
//!   dir. Every sample falls in its own bucket (1 ms buckets, 10 ms apart), so each telemetry
//!   record accounts for one sample (twice if it came again into an open bucket): at the end
//!   every acknowledged sample must be in Kafka (lost = 0), duplicates are counted. An alert raised before a kill clears after it,
//!   under its id. Rounds: `FOREWARN_ALO_ROUNDS` (default 8 for CI; the full run uses 50).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{agent_config, consume, outbox_depths, Agent, Mosquitto, Msg, Tansu};

/// An MQTT source on `plant/<asset>` with JSON samples timed by their `ts` field (ms).
pub(crate) fn mqtt_source(port: u16) -> String {
    format!(
        r#"
[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
port = {port}
topics = ["plant/+"]
topic_pattern = "plant/{{asset}}"
timestamp = {{ field = "ts", unit = "ms", max_past_secs = 0 }}
"#
    )
}

fn wait_drained(agent: &Agent) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let d = outbox_depths(&agent.data_dir());
        if ["alert", "telemetry"].iter().all(|c| d.get(*c) == Some(&0)) {
            return;
        }
        assert!(
            Instant::now() < end,
            "outbox did not drain: {d:?}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The issue's reproduction, which lost all 20 samples before acknowledgements waited for the
/// commit.
#[test]
fn samples_acknowledged_into_an_open_bucket_survive_a_sigkill() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let rest = format!(
        "{}\n[[assets]]\nid = \"pump\"\ninterval_secs = 60\nsignals = [{{ name = \"flow\" }}]\n",
        mqtt_source(mqtt.port)
    );
    let mut agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    // 20 samples in the minute starting at t0, 1 s apart.
    let t0: u64 = 1_767_600_000_000 / 60_000 * 60_000 + 60_000;
    let lines: String = (0..20)
        .map(|i| format!("{{\"ts\":{},\"flow\":{}}}\n", t0 + i * 1000, i + 1))
        .collect();
    mqtt.publish_lines("plant/pump", &lines);
    std::thread::sleep(Duration::from_secs(4));
    agent.kill9();
    agent.restart();
    agent.wait_log_count("MQTT subscribed.", 2, Duration::from_secs(20));
    agent.wait_log(
        "Processing state restored from its checkpoint. open_buckets=1",
        Duration::from_secs(5),
    );
    // A sample in the next minute closes the bucket.
    mqtt.publish(
        "plant/pump",
        format!("{{\"ts\":{},\"flow\":0}}", t0 + 60_000).as_bytes(),
    );
    let buckets = bucket_counts(&kafka, t0 * 1_000_000);
    assert_eq!(
        buckets,
        [(Some(20), Some(10.5))],
        "the bucket holds all 20 samples once\n{}",
        agent.log()
    );
    assert!(agent.stop().success());
}

/// (count, mean) of every telemetry record on Kafka of the bucket starting at `start_ns`,
/// once one came (within 60 s).
pub(crate) fn bucket_counts(kafka: &Tansu, start_ns: u64) -> Vec<(Option<u64>, Option<f64>)> {
    let of_bucket = |m: &Msg| m.json["start_ns"].as_u64() == Some(start_ns);
    let got = consume(
        &kafka.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(60),
        |m| m.iter().any(of_bucket),
    );
    got.iter()
        .filter(|m| of_bucket(m))
        .map(|m| (m.json["count"].as_u64(), m.json["mean"].as_f64()))
        .collect()
}

/// Sends samples of `assets` assets, each with a unique value, as fast as the broker takes
/// them (QoS 1, at most `window` unacknowledged), and counts the broker's acknowledgements.
struct Publisher {
    sent: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

const T0_MS: u64 = 1_767_600_000_000;
const STEP_MS: u64 = 10;

impl Publisher {
    fn start(port: u16, assets: u64) -> Publisher {
        let (sent, acked, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (s, a, st) = (sent.clone(), acked.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut opts = rumqttc::MqttOptions::new("alo-publisher", "127.0.0.1", port);
            opts.set_keep_alive(Duration::from_secs(30));
            let (client, mut connection) = rumqttc::Client::new(opts, 10);
            let acks = a.clone();
            std::thread::spawn(move || {
                for e in connection.iter() {
                    match e {
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                            acks.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => return,
                        _ => {}
                    }
                }
            });
            let mut n = 0u64;
            while !st.load(Ordering::Relaxed) {
                for asset in 0..assets {
                    let payload = format!(
                        r#"{{"ts":{},"v":{}}}"#,
                        T0_MS + n * STEP_MS,
                        n * assets + asset
                    );
                    client
                        .publish(
                            format!("plant/a{asset}"),
                            rumqttc::QoS::AtLeastOnce,
                            false,
                            payload,
                        )
                        .expect("publish");
                    s.fetch_add(1, Ordering::SeqCst);
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(3));
            }
            // Every message acknowledged by the broker before disconnecting.
            let end = Instant::now() + Duration::from_secs(30);
            while a.load(Ordering::SeqCst) < s.load(Ordering::SeqCst) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = client.disconnect();
        });
        Publisher {
            sent,
            acked,
            stop,
            thread,
        }
    }

    /// Stops; returns (sent, acknowledged by the broker).
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("publisher");
        (
            self.sent.load(Ordering::SeqCst),
            self.acked.load(Ordering::SeqCst),
        )
    }
}

#[test]
fn every_sample_the_broker_acknowledged_reaches_kafka_across_random_sigkills() {
    const ASSETS: u64 = 3;
    let rounds: usize = std::env::var("FOREWARN_ALO_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let mut assets = String::new();
    for a in 0..ASSETS {
        assets.push_str(&format!(
            "\n[[assets]]\nid = \"a{a}\"\ninterval_secs = 0.001\nsignals = [{{ name = \"v\" }}]\n"
        ));
    }
    let rest = format!(
        r#"{source}{assets}
[[assets]]
id = "tank"
signals = [{{ name = "level", interval_secs = 60 }}]

[[rules]]
name = "high"
asset = "tank"
signal = "level"
above = 90.0
clear = 50.0
"#,
        source = mqtt_source(mqtt.port)
    );
    let mut agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    let publisher = Publisher::start(mqtt.port, ASSETS);

    // The alert goes up in the first life.
    let t_alert = T0_MS + 5_000;
    mqtt.publish(
        "plant/tank",
        format!("{{\"ts\":{t_alert},\"level\":95}}").as_bytes(),
    );
    agent.kill_at_random_moments(rounds, "FOREWARN_ALO_SEED", 11);
    // ... and clears in the last one.
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    mqtt.publish(
        "plant/tank",
        format!("{{\"ts\":{},\"level\":10}}", t_alert + 1000).as_bytes(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let (sent, acked) = publisher.finish();
    assert_eq!(acked, sent, "the broker acknowledged every sample");
    // The agent keeps running while Kafka is read: what the broker still queues for it (a slow
    // machine) is taken meanwhile, and the last sample of each asset, in an open bucket,
    // comes with the idle close (2 s).

    let per_asset = sent / ASSETS;
    let telemetry = consume(
        &kafka.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(60) + Duration::from_millis(20) * sent as u32,
        |m| {
            m.iter()
                .filter(|m| m.json["signal"] == "v")
                .map(|m| (m.json["asset"].to_string(), m.json["start_ns"].as_u64()))
                .collect::<std::collections::HashSet<_>>()
                .len() as u64
                >= sent
        },
    );
    // (asset, n) → times seen, each record checked to hold that one sample.
    let mut seen: HashMap<(String, u64), u64> = HashMap::new();
    let mut wrong = Vec::new();
    for m in telemetry.iter().filter(|m| m.json["signal"] == "v") {
        let asset = m.json["asset"].as_str().unwrap_or_default().to_string();
        let a: u64 = asset.trim_start_matches('a').parse().unwrap_or(u64::MAX);
        let start_ms = m.json["start_ns"].as_u64().unwrap_or(0) / 1_000_000;
        let n = (start_ms - T0_MS) / STEP_MS;
        let expected = (n * ASSETS + a) as f64;
        // A sample committed whose acknowledgement did not reach the broker before a kill
        // comes again: a second record of a closed bucket, or counted twice in an open one.
        let count = m.json["count"].as_u64().unwrap_or(0);
        let one_value = ["min", "max", "last"]
            .iter()
            .all(|k| m.json[*k].as_f64() == Some(expected));
        if count == 0 || !one_value {
            wrong.push(m.json.clone());
        }
        *seen.entry((asset, n)).or_default() += count;
    }
    let mut lost = 0u64;
    let mut missing = Vec::new();
    for a in 0..ASSETS {
        for n in 0..per_asset {
            if !seen.contains_key(&(format!("a{a}"), n)) {
                lost += 1;
                if missing.len() < 20 {
                    missing.push((a, n));
                }
            }
        }
    }
    wait_drained(&agent);
    assert!(agent.stop().success(), "clean stop after the rounds");
    if lost > 0 {
        println!(
            "at-least-once: missing (asset, n): {missing:?}\n{}",
            agent.log()
        );
    }
    let duplicates: u64 = seen.values().map(|c| c - 1).sum();
    let alerts = consume(
        &kafka.bootstrap(),
        "forewarn.alerts",
        Duration::from_secs(30),
        |m| m.iter().any(|m| m.json["event"] == "cleared"),
    );
    let events: Vec<(String, String)> = alerts
        .iter()
        .map(|m: &Msg| {
            (
                m.json["event"].as_str().unwrap_or_default().to_string(),
                m.json["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    println!(
        "at-least-once: rounds={rounds} acknowledged_samples={acked} lost={lost} duplicates={duplicates} \
         telemetry_records={} alert_events={events:?}",
        telemetry.len()
    );
    assert!(
        wrong.is_empty(),
        "records that are not one sample: {wrong:?}"
    );
    assert!(acked > 1000, "the load ran ({acked})");
    assert_eq!(lost, 0, "every acknowledged sample reached Kafka");
    let raised: Vec<_> = events.iter().filter(|e| e.0 == "raised").collect();
    let cleared: Vec<_> = events.iter().filter(|e| e.0 == "cleared").collect();
    assert!(!raised.is_empty(), "{events:?}");
    assert_eq!(cleared.len(), 1, "{events:?}");
    assert!(
        raised.iter().all(|r| r.1 == cleared[0].1),
        "the alert raised before the kills cleared after them under its id: {events:?}"
    );
}
