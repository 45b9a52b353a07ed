//! Hostile input from the field: one wrong timestamp must not hang the agent or silence a
//! signal, and a stuck stage must not keep SIGTERM from ending it. Real Mosquitto, real tansu,
//! the shipped turbofan package on its C-MAPSS recording.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{agent_command, agent_config, consume_topics, Agent, Mosquitto, Msg, Tansu};

const RECORDING: &str = "firmware-config/recordings/turbofan-fd001-test-units.csv";
const SIGNALS: [&str; 14] = [
    "T24", "T30", "T50", "P30", "Nf", "Nc", "Ps30", "phi", "NRf", "NRc", "BPR", "htBleed", "W31",
    "W32",
];
/// The row (of engine 81's 213) whose timestamp the reproductions break.
const BAD_ROW: usize = 100;

/// Engine 81's rows of the shipped recording, with row `BAD_ROW`'s `ts` replaced by `bad`.
fn engine_81(bad: Option<&str>) -> (String, usize) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(RECORDING))
        .expect("recording");
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().expect("header"));
    let mut rows = 0;
    for line in lines.filter(|l| l.split(',').nth(1) == Some("engine-81")) {
        match (bad, rows == BAD_ROW) {
            (Some(ts), true) => {
                let rest = line.split_once(',').expect("ts column").1;
                out.push_str(&format!("{ts},{rest}\n"));
            }
            _ => out.push_str(&format!("{line}\n")),
        }
        rows += 1;
    }
    (out, rows)
}

fn replay_config(bootstrap: &str, gateway: &str, csv: &Path) -> String {
    let signals: Vec<String> = SIGNALS
        .iter()
        .map(|s| format!("{{ name = \"{s}\" }}"))
        .collect();
    let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/turbofan-rul");
    agent_config(
        bootstrap,
        &format!(
            r#"
[[sources]]
type = "replay"
name = "cmapss"
path = "{csv}"

[[assets]]
id = "engine-81"
interval_secs = 10
signals = [{signals}]

[[rules]]
name = "t50-hot"
asset = "engine-81"
signal = "T50"
above = 1420.0
clear = 1415.0

[[models]]
package = "{package}"
assets = ["engine-81"]
"#,
            csv = csv.display(),
            signals = signals.join(", "),
            package = package.display(),
        ),
    )
    .replace("gw-test", gateway)
}

/// `forewarn run --exit-when-sources-end` on `config`: must end by itself within `limit`.
fn run_to_end(dir: &Path, config: &str, limit: Duration) -> (std::process::ExitStatus, String) {
    let path = dir.join("forewarn.toml");
    std::fs::write(
        &path,
        config.replace("{data_dir}", &dir.join("data").display().to_string()),
    )
    .expect("config");
    let log = dir.join("agent.log");
    let mut child = agent_command()
        .args(["run", "--exit-when-sources-end", "--config"])
        .arg(&path)
        .env("FOREWARN_LOG", "info,forewarn=debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start forewarn");
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the agent did not end within {limit:?}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

/// What one gateway's run put on Kafka.
struct Delivered {
    /// Per signal: samples counted by telemetry buckets.
    counts: BTreeMap<String, u64>,
    /// Threshold alert events (event, ts_ns), in order.
    rule_events: Vec<(String, i64)>,
    /// Model alert records.
    model_alerts: usize,
    /// The last status record.
    status: serde_json::Value,
}

fn delivered(msgs: &[Msg], gateway: &str) -> Delivered {
    let mine: Vec<&Msg> = msgs
        .iter()
        .filter(|m| m.json["gateway"] == gateway)
        .collect();
    let mut counts = BTreeMap::new();
    for m in mine.iter().filter(|m| m.topic == "forewarn.telemetry") {
        let signal = m.json["signal"].as_str().unwrap_or_default().to_string();
        *counts.entry(signal).or_default() += m.json["count"].as_u64().unwrap_or(0);
    }
    let mut alerts: Vec<&&Msg> = mine
        .iter()
        .filter(|m| m.topic == "forewarn.alerts")
        .collect();
    alerts.sort_by_key(|m| m.seq());
    let rule_events = alerts
        .iter()
        .filter(|m| m.json["rule"] == "t50-hot")
        .map(|m| {
            (
                m.json["event"].as_str().unwrap_or_default().to_string(),
                m.json["ts_ns"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let model_alerts = alerts
        .iter()
        .filter(|m| m.json.get("model").is_some())
        .count();
    let status = mine
        .iter()
        .filter(|m| m.topic == "forewarn.status")
        .max_by_key(|m| m.seq())
        .map(|m| m.json.clone())
        .unwrap_or_default();
    Delivered {
        counts,
        rule_events,
        model_alerts,
        status,
    }
}

fn replay_and_collect(tansu: &Tansu, gateway: &str, bad: Option<&str>) -> (Delivered, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (csv, rows) = engine_81(bad);
    let csv_path = dir.path().join("engine-81.csv");
    std::fs::write(&csv_path, csv).expect("csv");
    let config = replay_config(&tansu.bootstrap(), gateway, &csv_path);
    // Before the time policy, the far-future row made this run loop for minutes (killed after
    // 7 min 48 s of CPU); the run itself takes a few seconds.
    let (status, log) = run_to_end(dir.path(), &config, Duration::from_secs(120));
    assert!(status.success(), "{status}:\n{log}");
    let expected = rows - usize::from(bad.is_some());
    let topics = ["forewarn.telemetry", "forewarn.alerts", "forewarn.status"];
    consume_topics(&tansu.bootstrap(), &topics, Duration::from_secs(60), |m| {
        let d = delivered(m, gateway);
        d.counts.get("T50") == Some(&(expected as u64)) && !d.status.is_null()
    });
    // The run ended after the outbox drained, so everything is in Kafka: read all of it.
    let msgs = consume_topics(&tansu.bootstrap(), &topics, Duration::from_secs(8), |_| {
        false
    });
    (delivered(&msgs, gateway), rows)
}

/// Reproductions 1 and 2 of the issue: one replayed row stamped in the year 2262 (the i64
/// limit) or 2530 (one digit too many). Each is rejected and counted as `ts_jump`; the run
/// ends; every other row reaches Kafka in telemetry; the threshold rule acts on the rows after
/// it exactly as without it; the model still scores and alerts.
#[test]
fn one_wrong_timestamp_in_a_replay_neither_hangs_the_agent_nor_silences_a_signal() {
    let tansu = Tansu::start();
    let (clean, rows) = replay_and_collect(&tansu, "gw-clean", None);
    assert_eq!(rows, 213);
    for s in SIGNALS {
        assert_eq!(
            clean.counts.get(s),
            Some(&(rows as u64)),
            "{s}: {:?}",
            clean.counts
        );
    }
    assert!(
        !clean.rule_events.is_empty(),
        "T50 crosses 1420 on engine 81: {:?}",
        clean.status
    );
    assert!(clean.model_alerts > 0, "turbofan-rul alerts on engine 81");
    assert_eq!(
        clean.status["sources"]["cmapss"]["rejected"],
        serde_json::json!({})
    );

    // 9223372036 s is the year 2262, the last second i64 nanoseconds hold: read, then refused
    // by the time policy. One digit too many on the row's epoch seconds is the year 2530, past
    // i64 nanoseconds: refused as unreadable.
    // (A row whose time cannot be read is rejected whole, once; one whose time is refused
    // counts each of its 14 samples.)
    for (gateway, ts, reason, count) in [
        ("gw-2262", "9223372036", "ts_jump", 14),
        ("gw-2530", "17676001010", "bad_timestamp", 1),
    ] {
        let (bad, _) = replay_and_collect(&tansu, gateway, Some(ts));
        for s in SIGNALS {
            assert_eq!(
                bad.counts.get(s),
                Some(&(rows as u64 - 1)),
                "{gateway} {s}: every row but the bad one is in telemetry"
            );
        }
        assert_eq!(
            bad.status["sources"]["cmapss"]["rejected"],
            serde_json::json!({ reason: count }),
            "{gateway}: the row counted: {}",
            bad.status
        );
        assert_eq!(
            bad.status["pipeline_drops"],
            serde_json::json!({}),
            "{gateway}"
        );
        assert_eq!(
            bad.rule_events, clean.rule_events,
            "{gateway}: the rule after the bad row acts as without it"
        );
        assert!(bad.model_alerts > 0, "{gateway}: the model still alerts");
    }
}

/// The same on a live source: MQTT samples stamped from the gateway clock, one of them in the
/// year 2100. It is rejected as `ts_future`; the samples after it are bucketed and raise the
/// threshold alert.
#[test]
fn a_sample_from_the_future_on_mqtt_is_refused_and_the_signal_goes_on() {
    let mqtt = Mosquitto::start();
    let tansu = Tansu::start();
    let config = agent_config(
        &tansu.bootstrap(),
        &format!(
            r#"
[[sources]]
type = "mqtt"
name = "plc"
host = "127.0.0.1"
port = {port}
topics = ["plant/#"]
topic_pattern = "plant/{{asset}}/{{signal}}"
timestamp = {{ field = "ts", max_past_secs = 0 }}

[[assets]]
id = "pump-1"
interval_secs = 1
signals = [{{ name = "temp" }}]

[[rules]]
name = "hot"
asset = "pump-1"
signal = "temp"
above = 80.0
"#,
            port = mqtt.port
        ),
    );
    let mut agent = Agent::start(&config);
    agent.wait_log("MQTT subscribed.", Duration::from_secs(30));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    // 20 samples over the last 20 s, the 6th stamped in the year 2100, the last 10 hot.
    let mut lines = String::new();
    for i in 0..20i64 {
        let ts = if i == 5 {
            "4102444800000".to_string()
        } else {
            (now - (20 - i) * 1000).to_string()
        };
        let v = if i >= 10 { 90.0 } else { 20.0 };
        lines.push_str(&format!("{{\"ts\":{ts},\"value\":{v}}}\n"));
    }
    mqtt.publish_lines("plant/pump-1/temp", &lines);
    let msgs = consume_topics(
        &tansu.bootstrap(),
        &["forewarn.telemetry", "forewarn.alerts", "forewarn.status"],
        Duration::from_secs(60),
        |m| {
            let d = delivered(m, "gw-test");
            d.counts.get("temp") == Some(&19)
                && d.status["sources"]["plc"]["rejected"]["ts_future"] == 1
                && m.iter().any(|x| x.json["rule"] == "hot")
        },
    );
    let d = delivered(&msgs, "gw-test");
    assert_eq!(
        d.counts.get("temp"),
        Some(&19),
        "{:?}\n{}",
        d.counts,
        agent.log()
    );
    assert_eq!(
        d.status["sources"]["plc"]["rejected"]["ts_future"], 1,
        "{}",
        d.status
    );
    assert!(d.status["clock_ok"].as_bool().unwrap_or(false));
    assert!(
        msgs.iter()
            .any(|m| m.json["rule"] == "hot" && m.json["event"] == "raised"),
        "the alert after the bad sample is raised"
    );
    assert!(agent.stop().success());
}

/// A stage that never returns: the outbox writer blocked on LMDB's write lock, held by another
/// process (as a hung fsync or a dead eMMC would block it). The status line names the stalled
/// stage and the watchdog pings stop; SIGTERM still ends the agent within the shutdown
/// deadline, and what was committed stays committed.
#[test]
fn a_stuck_writer_is_named_stops_the_watchdog_and_sigterm_still_ends_the_agent_in_time() {
    use std::os::unix::net::UnixDatagram;

    let mqtt = Mosquitto::start();
    let tansu = Tansu::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = agent_config(
        &tansu.bootstrap(),
        &format!(
            r#"
[[sources]]
type = "mqtt"
name = "plc"
host = "127.0.0.1"
port = {port}
topics = ["plant/#"]
topic_pattern = "plant/{{asset}}/{{signal}}"

[[assets]]
id = "pump-1"
interval_secs = 1
signals = [{{ name = "temp" }}]
"#,
            port = mqtt.port
        ),
    );
    let data = dir.path().join("data");
    let path = dir.path().join("forewarn.toml");
    std::fs::write(
        &path,
        config.replace("{data_dir}", &data.display().to_string()),
    )
    .expect("config");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let log = dir.path().join("agent.log");
    let mut child = agent_command()
        .args(["run", "--config"])
        .arg(&path)
        .env("NOTIFY_SOCKET", &sock_path)
        // A check every second.
        .env("WATCHDOG_USEC", "2000000")
        .env("FOREWARN_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start forewarn");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let recv_until = |want: &dyn Fn(&str) -> bool, limit: Duration| -> Vec<String> {
        let end = Instant::now() + limit;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = sock.recv(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).to_string();
                let done = want(&m);
                seen.push(m);
                if done {
                    return seen;
                }
            }
        }
        panic!(
            "no such notification within {limit:?}: {seen:?}\n{}",
            read_log()
        );
    };
    recv_until(&|m| m == "WATCHDOG=1", Duration::from_secs(30));
    mqtt.publish("plant/pump-1/temp", b"20.5");

    // Another process takes LMDB's write lock: every commit of the agent now waits.
    let env = unsafe {
        heed::EnvOpenOptions::new()
            .map_size(64 << 20)
            .max_dbs(8)
            .open(data.join("outbox"))
    }
    .expect("open the agent's outbox");
    let lock = env.write_txn().expect("write lock");
    let depth_stuck = crate::harness::outbox_depths(&data);
    for i in 0..5 {
        mqtt.publish("plant/pump-1/temp", format!("{i}").as_bytes());
    }
    let seen = recv_until(
        &|m| m.starts_with("STATUS=") && m.contains("stalled: outbox_writer"),
        Duration::from_secs(30),
    );
    assert!(seen.iter().any(|m| m.starts_with("STATUS=")), "{seen:?}");
    // No ping while stalled (a few checks' worth).
    let quiet_until = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 4096];
    while Instant::now() < quiet_until {
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).to_string();
            assert_ne!(m, "WATCHDOG=1", "a ping while the writer is stuck");
        }
    }

    let asked = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            asked.elapsed() < forewarn::app::SHUTDOWN_DEADLINE + Duration::from_secs(10),
            "SIGTERM did not end the agent within the deadline:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = asked.elapsed();
    assert!(
        status.code().is_some(),
        "ended by itself, not by a signal: {status}"
    );
    assert!(
        read_log().contains("Shutdown deadline passed"),
        "{}",
        read_log()
    );
    assert!(
        took >= forewarn::app::SHUTDOWN_DEADLINE - Duration::from_secs(1),
        "{took:?}"
    );
    drop(lock);
    drop(env);
    // Nothing committed was lost, and the outbox is sound.
    assert_eq!(crate::harness::outbox_depths(&data), depth_stuck);
    let verify = agent_command()
        .args(["outbox", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .expect("outbox verify");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// Peak resident memory of a process (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Memory is bounded in samples and records, not in batches: with the outbox writer stalled
/// (LMDB's write lock held by another process) and maximum-size payloads (1 MiB arrays of
/// about 520 000 samples each, every sample a record through a deadband of 0), the pipeline
/// fills to its bounds, the MQTT source stops reading, the broker queues the rest, and the
/// agent's peak RSS stays under a fixed bound (ARCHITECTURE.md: bounded memory). Before the
/// bounds, 256 queued record batches of this size would need gigabytes.
#[test]
fn memory_stays_bounded_with_the_writer_stalled_under_maximum_size_payloads() {
    let mqtt = Mosquitto::start();
    let tansu = Tansu::not_started();
    let config = agent_config(
        &tansu.bootstrap(),
        &format!(
            r#"
[[sources]]
type = "mqtt"
name = "plc"
host = "127.0.0.1"
port = {port}
topics = ["plant/#"]
topic_pattern = "plant/{{asset}}/{{signal}}"

[[assets]]
id = "pump-1"
signals = [{{ name = "temp", deadband = 0.0 }}]
"#,
            port = mqtt.port
        ),
    );
    let agent = Agent::start(&config);
    agent.wait_log("MQTT subscribed.", Duration::from_secs(30));
    let pid = agent.pid().expect("pid");
    let data = agent.data_dir();
    let env = unsafe {
        heed::EnvOpenOptions::new()
            .map_size(64 << 20)
            .max_dbs(8)
            .open(data.join("outbox"))
    }
    .expect("open the agent's outbox");
    let _lock = env.write_txn().expect("write lock");
    let before = peak_rss_kib(pid);
    // 30 messages of just under 1 MiB: "0,1,0,1,..." is 2 bytes a sample.
    let one: String = format!("[{}0]", "0,1,".repeat(262_000));
    assert!(one.len() < 1024 * 1024);
    let lines = format!("{one}\n").repeat(30);
    mqtt.publish_lines("plant/pump-1/temp", &lines);
    // Let the pipeline fill up to its bounds and stop.
    let mut peak = 0;
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        peak = peak.max(peak_rss_kib(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("peak RSS: {before} KiB before the messages, {peak} KiB with the writer stalled");
    assert!(
        peak < 400 * 1024,
        "peak RSS {peak} KiB with the writer stalled:\n{}",
        agent.log()
    );
}
