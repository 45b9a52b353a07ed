//! A damaged outbox at start: truncated, garbled or zeroed `data.mdb`. The agent must come up
//! (recovering the previous snapshot or setting the data aside), say so in its status, and
//! forward new data: no crash loop and no silent zombie. Restarts are supervised as systemd
//! would (`Restart=always`): if a start dies, the test starts it again, at most five times.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::{
    agent_command, agent_config, consume, outbox_depths, Agent, Mosquitto, Tansu,
};

const T0: i64 = 1_767_700_000;
const NS: i64 = 1_000_000_000;
const PAGE: u64 = 4096;

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
"#
        ),
    )
}

fn publish_seconds(mqtt: &Mosquitto, from: i64, seconds: i64) {
    for s in 0..seconds {
        let ts = (T0 + from + s) as f64;
        mqtt.publish(
            "plant/pump-1",
            format!(r#"{{"ts": {ts}, "temp": {s}}}"#).as_bytes(),
        );
    }
}

/// Start the agent like a supervisor would until one start stays up for `settle`.
fn supervised_start(agent: &mut Agent, settle: Duration) -> u32 {
    let mut starts = 0;
    loop {
        starts += 1;
        assert!(starts <= 5, "crash loop: {starts} starts\n{}", agent.log());
        agent.restart();
        let end = Instant::now() + settle;
        let mut died = false;
        while Instant::now() < end {
            if let Some(status) = agent.exited() {
                eprintln!("start {starts} ended: {status}");
                died = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !died {
            return starts;
        }
    }
}

fn verify(dir: &Path) -> (Option<i32>, String) {
    let out = agent_command()
        .args(["outbox", "verify", "--data-dir"])
        .arg(dir)
        .output()
        .expect("run outbox verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn set_aside_copies(data_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data_dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().contains("outbox.corrupt-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Start an agent with Kafka not started, publish 60 s of data, wait for `depth` telemetry
/// records in the outbox, and stop it (with a backlog, so not asserted as a clean stop).
fn backlog_while_kafka_is_down(depth: u64) -> (Mosquitto, Tansu, Agent) {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::not_started();
    let mut agent = Agent::start(&config(mqtt.port, &kafka.bootstrap()));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    publish_seconds(&mqtt, 0, 60);
    let end = Instant::now() + Duration::from_secs(30);
    while outbox_depths(&agent.data_dir()).get("telemetry").copied() < Some(depth) {
        assert!(Instant::now() < end, "backlog never built\n{}", agent.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    agent.stop();
    (mqtt, kafka, agent)
}

/// Fill the outbox while Kafka is down, stop, damage the file, start supervised, bring Kafka
/// up; check the status and that new data flows. Returns the agent for case-specific checks.
fn damaged_start(damage: impl Fn(&Path)) -> (Agent, Tansu, serde_json::Value) {
    let (mqtt, mut kafka, mut agent) = backlog_while_kafka_is_down(50);

    damage(&agent.data_dir().join("outbox").join("data.mdb"));

    let starts = supervised_start(&mut agent, Duration::from_secs(8));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    kafka.start_again();
    // New data after the damage reaches Kafka: the agent is alive, not a zombie.
    publish_seconds(&mqtt, 1000, 5);
    let new_start = (T0 + 1000) * NS;
    let telemetry = consume(
        &kafka.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(60),
        |m| {
            m.iter()
                .any(|t| t.json["start_ns"].as_i64() == Some(new_start))
        },
    );
    assert!(
        telemetry
            .iter()
            .any(|t| t.json["start_ns"].as_i64() == Some(new_start)),
        "new data never reached Kafka after the damaged start\n{}",
        agent.log()
    );
    // The status says what happened.
    let statuses = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(30),
        |m| m.iter().any(|s| s.json["outbox_recovery"].is_string()),
    );
    let status = statuses
        .iter()
        .rev()
        .find(|s| s.json["outbox_recovery"].is_string())
        .map(|s| s.json.clone())
        .unwrap_or_else(|| panic!("no status reported the recovery\n{}", agent.log()));
    eprintln!(
        "starts: {starts}; recovery: {}; set_aside={} recovered={}",
        status["outbox_recovery"], status["outbox_set_aside"], status["outbox_recovered"]
    );
    assert_eq!(
        status["outbox_set_aside"].as_u64().unwrap_or(0)
            + status["outbox_recovered"].as_u64().unwrap_or(0),
        1,
        "{status}"
    );
    // The outbox in use verifies clean.
    let (code, text) = verify(&agent.data_dir());
    assert_eq!(code, Some(0), "{text}");
    (agent, kafka, status)
}

#[test]
fn a_truncated_outbox_is_set_aside_and_the_agent_keeps_forwarding() {
    let (agent, _kafka, status) = damaged_start(|file| {
        let len = std::fs::metadata(file).expect("data.mdb").len();
        OpenOptions::new()
            .write(true)
            .open(file)
            .and_then(|f| f.set_len(len / 2))
            .expect("truncate");
    });
    assert_eq!(status["outbox_set_aside"], 1, "{status}");
    assert!(
        status["outbox_recovery"]
            .as_str()
            .is_some_and(|r| r.contains("truncated")),
        "{status}"
    );
    // The set-aside copy is kept, and `outbox verify` explains it offline without crashing.
    let copies = set_aside_copies(&agent.data_dir());
    assert_eq!(copies.len(), 1, "{copies:?}");
    let (code, text) = verify(&copies[0]);
    assert_eq!(code, Some(4), "{text}");
    assert!(text.contains("truncated"), "{text}");
    // Nothing of a truncated copy can be read safely: salvage refuses it, without a crash.
    let (code, text) = salvage(&agent, &copies[0]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("truncated"), "{text}");
}

/// `forewarn outbox salvage --config <the agent's> --from <copy>`: exit code and output.
fn salvage(agent: &Agent, copy: &Path) -> (Option<i32>, String) {
    let config = agent.data_dir().with_file_name("forewarn.toml");
    let out = agent_command()
        .args(["outbox", "salvage", "--config"])
        .arg(&config)
        .arg("--from")
        .arg(copy)
        .output()
        .expect("run outbox salvage");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Issue 16: three starts killed while opening set a readable outbox aside; `outbox salvage`
/// puts its records back and the agent forwards them, with their own sequence numbers.
#[test]
fn a_set_aside_outboxs_readable_records_are_salvaged_and_forwarded() {
    let (_mqtt, mut kafka, mut agent) = backlog_while_kafka_is_down(59);
    // As if three starts had been killed during the walk.
    let outbox = agent.data_dir().join("outbox");
    std::fs::write(outbox.join("opening"), "3\n").expect("marker");
    agent.restart();
    agent.wait_log_count("MQTT subscribed.", 2, Duration::from_secs(20));
    agent.stop();
    let copies = set_aside_copies(&agent.data_dir());
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(
        outbox_depths(&agent.data_dir()).get("telemetry").copied(),
        Some(0)
    );

    let (code, text) = salvage(&agent, &copies[0]);
    assert_eq!(code, Some(0), "{text}");
    // 59 closed buckets, and the open one the stop flushed.
    let restored: Option<u64> = text
        .lines()
        .find_map(|l| l.strip_prefix("telemetry restored="))
        .and_then(|r| r.split_whitespace().next()?.parse().ok());
    assert!(restored.is_some_and(|n| n >= 59), "{text}");
    let (code, text) = salvage(&agent, &copies[0]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("salvaged 0 records"), "{text}");

    kafka.start_again();
    agent.restart();
    let wanted: Vec<i64> = (0..59).map(|s| (T0 + s) * NS).collect();
    let telemetry = consume(
        &kafka.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(90),
        |m| {
            wanted
                .iter()
                .all(|w| m.iter().any(|t| t.json["start_ns"].as_i64() == Some(*w)))
        },
    );
    for w in &wanted {
        assert!(
            telemetry
                .iter()
                .any(|t| t.json["start_ns"].as_i64() == Some(*w)),
            "bucket {w} never reached Kafka\n{}",
            agent.log()
        );
    }
    assert!(agent.stop().success(), "{}", agent.log());
}

#[test]
fn garbled_pages_do_not_cause_a_crash_loop() {
    // Deterministic garbage (xorshift) over every page after the two meta pages.
    let (_agent, _kafka, _status) = damaged_start(|file| {
        let len = std::fs::metadata(file).expect("data.mdb").len();
        let mut x: u64 = 0x2026_1125;
        let garbage: Vec<u8> = (2 * PAGE..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut f = OpenOptions::new().write(true).open(file).expect("open");
        f.seek(SeekFrom::Start(2 * PAGE)).expect("seek");
        f.write_all(&garbage).expect("garble");
    });
}
