//! Crash test: the agent is killed with SIGKILL at random moments under steady MQTT load and
//! restarted on the same data dir; Kafka must end up with every record the outbox ever
//! committed, in order per key.
//!
//! How the check works: the outbox numbers records first, first + 1, ... (a fresh outbox's
//! first number comes from the clock) in the transaction that stores them and never reuses a
//! number, so after the last run drained, `first..next_seq` is exactly the set of committed
//! records. Each must be in Kafka at least once (`lost` = missing ones); a
//! number seen twice is a duplicate and must carry the same payload; per key, first occurrences
//! must appear in rising sequence order (`reordered` counts those that do not).
//!
//! Rounds: `FOREWARN_CRASH_ROUNDS` (default 8 for CI; the full run uses 50).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{
    agent_config, consume_topics, outbox_depths, outbox_first_seq, outbox_next_seq, Agent,
    Mosquitto, Msg, Tansu,
};

const ASSETS: usize = 5;

fn publisher(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut opts = rumqttc::MqttOptions::new("crash-publisher", "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(30));
        let (client, mut connection) = rumqttc::Client::new(opts, 100);
        std::thread::spawn(move || for _ in connection.iter() {});
        let t0: u64 = 1_767_600_000_000;
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for a in 0..ASSETS {
                // 10 ms of event time per message, 0.1 s buckets: ~10 records/s per signal.
                let ts = t0 + n * 10;
                let payload = format!(
                    r#"{{"ts":{ts},"temp":{},"vib":{}}}"#,
                    n % 100,
                    (n % 7) as f64 / 10.0
                );
                if client
                    .publish(
                        format!("plant/asset-{a}"),
                        rumqttc::QoS::AtLeastOnce,
                        false,
                        payload,
                    )
                    .is_err()
                {
                    return n;
                }
            }
            n += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = client.disconnect();
        n
    })
}

#[test]
fn sigkill_at_random_moments_loses_nothing_committed() {
    let rounds: usize = std::env::var("FOREWARN_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let mut assets = String::new();
    for a in 0..ASSETS {
        assets.push_str(&format!(
            "\n[[assets]]\nid = \"asset-{a}\"\ninterval_secs = 0.1\nsignals = [{{ name = \"temp\" }}, {{ name = \"vib\" }}]\n"
        ));
    }
    let rest = format!(
        r#"
[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
port = {port}
topics = ["plant/+"]
topic_pattern = "plant/{{asset}}"
timestamp = {{ field = "ts", unit = "ms", max_past_secs = 0 }}
{assets}
[[rules]]
name = "hot"
asset = "*"
signal = "temp"
above = 90.0
clear = 10.0
"#,
        port = mqtt.port
    );
    let mut agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    let stop = Arc::new(AtomicBool::new(false));
    let load = publisher(mqtt.port, stop.clone());

    agent.kill_at_random_moments(rounds, "FOREWARN_CRASH_SEED", 7);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let published = load.join().expect("publisher");

    // Let the last run drain, then stop it cleanly.
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let d = outbox_depths(&agent.data_dir());
        if ["alert", "telemetry"].iter().all(|c| d.get(*c) == Some(&0)) {
            break;
        }
        assert!(
            Instant::now() < end,
            "outbox did not drain: {d:?}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(agent.stop().success(), "clean stop after the rounds");
    // Numbers run densely from the outbox's first (from the clock) with full durability.
    let first_seq = outbox_first_seq(&agent.data_dir());
    let committed = outbox_next_seq(&agent.data_dir()) - first_seq;
    let d = outbox_depths(&agent.data_dir());
    assert_eq!(
        d.get("status"),
        Some(&0),
        "the final status went out before the clean stop: {d:?}"
    );

    // Reading back from the test broker is slow (small batches); allow time per record.
    let read_started = Instant::now();
    let all = consume_topics(
        &kafka.bootstrap(),
        &["forewarn.alerts", "forewarn.telemetry", "forewarn.status"],
        Duration::from_secs(60) + Duration::from_millis(20) * committed as u32,
        |m| m.iter().map(Msg::seq).collect::<HashSet<_>>().len() as u64 >= committed,
    );

    println!(
        "crash test: read {} messages back in {:.1} s",
        all.len(),
        read_started.elapsed().as_secs_f64()
    );
    let mut first: HashMap<u64, &Msg> = HashMap::new();
    let mut duplicates = 0u64;
    let mut mismatched = 0u64;
    for m in &all {
        match first.get(&m.seq()) {
            Some(f) => {
                duplicates += 1;
                if f.json != m.json || f.key != m.key || f.topic != m.topic {
                    mismatched += 1;
                }
            }
            None => {
                first.insert(m.seq(), m);
            }
        }
    }
    let lost = (first_seq..first_seq + committed)
        .filter(|s| !first.contains_key(s))
        .count();
    // Order per key: first occurrences in partition-offset order must have rising seqs.
    let mut by_key: HashMap<(String, String), Vec<&Msg>> = HashMap::new();
    for m in &all {
        by_key
            .entry((m.topic.clone(), m.key.clone()))
            .or_default()
            .push(m);
    }
    let mut reordered = 0u64;
    for msgs in by_key.values_mut() {
        msgs.sort_by_key(|m| (m.partition, m.offset));
        let mut seen = HashSet::new();
        let mut max = 0;
        for m in msgs.iter() {
            if !seen.insert(m.seq()) {
                continue;
            }
            if m.seq() < max {
                reordered += 1;
            }
            max = max.max(m.seq());
        }
    }
    let alerts = first
        .values()
        .filter(|m| m.topic == "forewarn.alerts")
        .count();
    println!(
        "crash test: rounds={rounds} published_messages={} committed_records={committed} alerts={alerts} \
         delivered_messages={} lost={lost} duplicates={duplicates} reordered={reordered} duplicate_mismatches={mismatched}",
        published * ASSETS as u64,
        all.len()
    );
    assert!(committed > 100, "the load produced records ({committed})");
    assert_eq!(lost, 0, "every committed record reached Kafka");
    assert_eq!(reordered, 0, "order per key held");
    assert_eq!(mismatched, 0, "every duplicate is the same record");
}

/// Issue 16: a wiped data directory (re-flash, new SD card, `dpkg -P`) must not restart the
/// numbering at 1, or consumers that drop `(gateway, seq)` pairs they have seen would drop the
/// new records. The status records of the first life and of the second are compared.
#[test]
fn after_the_data_dir_is_wiped_sequence_numbers_continue_above_every_earlier_one() {
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
signals = [{{ name = "temp" }}]
"#,
        mqtt.port
    );
    let mut agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    let before = consume_topics(
        &kafka.bootstrap(),
        &["forewarn.status"],
        Duration::from_secs(60),
        |m| m.len() >= 3,
    );
    assert!(agent.stop().success(), "{}", agent.log());
    let data = agent.data_dir();
    // Everything the first life numbered is below this (its final status included).
    let old_next = outbox_next_seq(&data);
    let old_max = before.iter().map(Msg::seq).max().expect("status records");
    assert!(old_next > old_max);
    std::fs::remove_dir_all(&data).expect("wipe the data dir");

    agent.restart();
    let after = consume_topics(
        &kafka.bootstrap(),
        &["forewarn.status"],
        Duration::from_secs(60),
        |m| m.iter().filter(|m| m.seq() >= old_next).count() >= 3,
    );
    assert!(agent.stop().success(), "{}", agent.log());
    let first = outbox_first_seq(&data);
    let new: Vec<u64> = after.iter().map(Msg::seq).filter(|s| *s >= first).collect();
    assert!(new.len() >= 3, "{after:?}");
    assert!(
        first >= old_next,
        "the wiped outbox numbered below {old_next}; the new one starts at {first}"
    );
    // Every record is of one life or the other: none falls between.
    assert!(
        after.iter().all(|m| m.seq() < old_next || m.seq() >= first),
        "{after:?}"
    );
    assert!(agent
        .log()
        .contains("A new outbox; numbering from the clock."));
}
