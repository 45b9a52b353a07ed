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
timestamp = {{ field = "ts" }}

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
    serde_cbor::to_vec(&m).expect("cbor")
}

fn bucket<'a>(msgs: &'a [Msg], signal: &str, start_s: i64) -> Option<&'a Msg> {
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
    let mut m = BTreeMap::new();
    m.insert("ts", serde_cbor::Value::Integer((T0 * 1000 + 750) as i128));
    m.insert("temp", serde_cbor::Value::Float(26.0));
    mqtt.publish("plant/pump-1", &serde_cbor::to_vec(&m).expect("cbor"));
    // Next second: 95 raises the alert and closes the first bucket; 70 clears it.
    mqtt.publish(
        "plant/pump-1",
        format!(r#"{{"ts": {}, "temp": 95}}"#, T0 + 1).as_bytes(),
    );
    mqtt.publish(
        "plant/pump-1",
        format!(r#"{{"ts": {}, "temp": 70}}"#, T0 + 2).as_bytes(),
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
                .any(|m| m.json["sources"]["plant"]["samples"].as_u64() == Some(total))
        },
    );
    let last = status
        .last()
        .unwrap_or_else(|| panic!("no status\n{}", agent.log()));
    let plant = &status
        .iter()
        .find(|m| m.json["sources"]["plant"]["samples"].as_u64() == Some(total))
        .unwrap_or(last)
        .json["sources"]["plant"];
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
    assert!(
        plant["rejected"].get("overload").is_none(),
        "nothing dropped: {plant:#}"
    );
}

/// One source `plant` (JSON on `plant/{asset}`, event time in `ts`) with
/// `max_payload_bytes = 65536`: its read limit is 65,536 + 65,539 bytes of remaining length.
fn oversize_agent(mqtt: &Mosquitto, kafka: &Tansu) -> Agent {
    let rest = format!(
        r#"
[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
port = {port}
topics = ["plant/#"]
topic_pattern = "plant/{{asset}}"
timestamp = {{ field = "ts", unit = "ms" }}
max_payload_bytes = 65536

[[assets]]
id = "pump-1"
interval_secs = 1.0
signals = [{{ name = "temp" }}]
"#,
        port = mqtt.port,
    );
    let agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    agent
}

const READ_LIMIT: usize = 65_536 + 65_539;
const PLANT: &str = "plant/pump-1";

/// Event times near now, whole seconds, so that any plausibility window around the gateway
/// clock takes them.
fn recent_secs() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    now - 120
}

/// A JSON payload of exactly `len` bytes: a `temp` reading padded with a string.
fn padded(len: usize, ts_ms: i64) -> Vec<u8> {
    let head = format!(r#"{{"ts": {ts_ms}, "temp": 1, "pad": ""#);
    let mut p = head.into_bytes();
    p.resize(len - 2, b'x');
    p.extend_from_slice(b"\"}");
    p
}

fn good(ts_s: i64, temp: i64) -> Vec<u8> {
    format!(r#"{{"ts": {}, "temp": {temp}}}"#, ts_s * 1000).into_bytes()
}

/// Publish one message with `mosquitto_pub` at the given QoS to a plain listener on `port`.
fn publish_to(port: u16, qos: u8, topic: &str, payload: &[u8]) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let bin = crate::harness::find_binary("mosquitto_pub", "FOREWARN_MOSQUITTO_PUB", &[]);
    let mut child = Command::new(bin)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-q", &qos.to_string(), "-t", topic, "-s"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("start mosquitto_pub");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(payload)
        .expect("write to mosquitto_pub");
    assert!(child.wait().expect("mosquitto_pub").success());
}

/// A Mosquitto with a TLS listener on `localhost` (certificate from a CA made here) for the
/// agent and a plain one on 127.0.0.1 for publishing.
struct TlsMosquitto {
    tls_port: u16,
    plain_port: u16,
    ca: std::path::PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl TlsMosquitto {
    fn start() -> TlsMosquitto {
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let openssl = |args: &[&str]| {
            let ok = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run openssl");
            assert!(ok.success(), "openssl {args:?}");
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=forewarn test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(d.join("san.ext"), "subjectAltName=DNS:localhost\n").expect("san.ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ]);
        // Mosquitto started as root drops to its own user, which must read the key.
        use std::os::unix::fs::PermissionsExt;
        for f in ["", "server.key", "server.pem", "ca.pem"] {
            let mode = if f.is_empty() { 0o755 } else { 0o644 };
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
        }
        let tls_port = crate::harness::free_port();
        let plain_port = crate::harness::free_port();
        let conf = d.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings false\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 100000\n\
                 listener {tls_port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\n\
                 keyfile {d}/server.key\nlistener {plain_port} 127.0.0.1\n",
                d = d.display()
            ),
        )
        .expect("write mosquitto.conf");
        let bin = crate::harness::find_binary("mosquitto", "FOREWARN_MOSQUITTO", &[]);
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", plain_port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err()
        {
            assert!(std::time::Instant::now() < end, "mosquitto did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsMosquitto {
            tls_port,
            plain_port,
            ca: d.join("ca.pem"),
            child,
            _dir: dir,
        }
    }
}

impl Drop for TlsMosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `plant` source's status in the first status record for which `done(record, plant)`
/// holds (or the last one seen).
fn plant_status(
    kafka: &Tansu,
    agent: &Agent,
    done: impl Fn(&serde_json::Value, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let found = |m: &Msg| done(&m.json, &m.json["sources"]["plant"]);
    let status = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(90),
        |msgs| msgs.iter().any(found),
    );
    status
        .iter()
        .find(|m| found(m))
        .or(status.last())
        .unwrap_or_else(|| panic!("no status\n{}", agent.log()))
        .json["sources"]["plant"]
        .clone()
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as i64
}

/// Peak resident set of a process (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Issue 14, reproduction 3: a 200 kB QoS 1 message above `max_payload_bytes = 65536` used to
/// drop the connection on every redelivery (88 reconnects in 10 s) and block the messages
/// behind it.
#[test]
fn an_oversize_message_is_acknowledged_counted_and_the_messages_behind_it_arrive() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let mut agent = oversize_agent(&mqtt, &kafka);
    let t = recent_secs();

    mqtt.publish(PLANT, &padded(200_000, t * 1000));
    for i in 0..10 {
        mqtt.publish(PLANT, &good(t + i, 40 + i));
    }

    // Every good message's sample is in its own telemetry bucket in Kafka (the last one is
    // closed when idle).
    let telemetry = consume(
        &kafka.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(90),
        |m| (0..10).all(|i| bucket(m, "temp", t + i).is_some()),
    );
    for i in 0..10 {
        let b = bucket(&telemetry, "temp", t + i)
            .unwrap_or_else(|| panic!("no bucket {i}: {telemetry:#?}\n{}", agent.log()));
        assert_eq!(
            (b.json["count"].as_u64(), b.json["last"].as_f64()),
            (Some(1), Some((40 + i) as f64)),
            "bucket {i}"
        );
    }
    let plant = plant_status(&kafka, &agent, |_, p| {
        p["samples"] == 10 && p["rejected"]["oversize"] == 1
    });
    assert_eq!(
        plant["rejected"]["oversize"],
        1,
        "{plant:#}\n{}",
        agent.log()
    );
    assert_eq!(plant["samples"], 10, "{plant:#}");

    // A few seconds later: the big message did not come back.
    std::thread::sleep(Duration::from_secs(4));
    let after = now_ns();
    let later = plant_status(&kafka, &agent, |m, _| {
        m["ts_ns"].as_i64().is_some_and(|t| t >= after)
    });
    assert_eq!(later["received"], 11, "{later:#}");
    assert_eq!(later["rejected"]["oversize"], 1, "{later:#}");
    assert_eq!(later["samples"], 10, "{later:#}");
    assert_eq!(later["connected"], true, "{later:#}");
    assert!(
        later["reconnects"].as_u64().is_some_and(|r| r <= 2),
        "one reconnect for the oversize message (was 88 in 10 s): {later:#}"
    );
    assert_eq!(
        agent.log().matches("above the read limit").count(),
        1,
        "{}",
        agent.log()
    );
    assert!(agent.stop().success(), "{}", agent.log());
}

/// At the read limit the message is read whole and refused by size; one byte above, and far
/// above (16 MiB), it is skimmed by a drain without being held: the agent's peak RSS does not
/// move by the size of those messages. A QoS 0 oversize message, which the broker does not
/// resend, is counted too. Every good message in between arrives.
#[test]
fn messages_at_and_far_above_the_read_limit_are_dropped_within_the_memory_bound() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let mut agent = oversize_agent(&mqtt, &kafka);
    let pid = agent.pid().expect("agent running");
    let t = recent_secs();
    let topic_len = PLANT.len();
    let mut next = 0;
    let mut publish_good = |n: i64| {
        for _ in 0..n {
            mqtt.publish(PLANT, &good(t + next, next));
            next += 1;
        }
    };

    // Warm up: the pipeline, outbox and Kafka producer at work before the baseline.
    publish_good(3);
    plant_status(&kafka, &agent, |_, p| p["samples"] == 3);
    let baseline = peak_rss_kib(pid);

    // Remaining length = 2 + topic + 2 + payload.
    let at_limit = READ_LIMIT - 4 - topic_len;
    mqtt.publish(PLANT, &padded(at_limit, t * 1000));
    publish_good(1);
    mqtt.publish(PLANT, &padded(at_limit + 1, t * 1000));
    publish_good(1);
    for _ in 0..3 {
        mqtt.publish(PLANT, &padded(200_000, t * 1000));
        publish_good(1);
    }
    for _ in 0..3 {
        mqtt.publish(PLANT, &padded(16 << 20, t * 1000));
        publish_good(1);
    }
    publish_to(mqtt.port, 0, PLANT, &padded(1 << 20, t * 1000));
    publish_good(3);
    let goods = 3 + 1 + 1 + 3 + 3 + 3;
    let oversize = 1 + 1 + 3 + 3 + 1;

    let plant = plant_status(&kafka, &agent, |_, p| {
        p["samples"] == goods && p["rejected"]["oversize"] == oversize
    });
    let peak = peak_rss_kib(pid);
    eprintln!(
        "agent peak RSS: {baseline} KiB before the oversize messages, {peak} KiB after; status {plant}"
    );
    assert_eq!(plant["samples"], goods, "{plant:#}\n{}", agent.log());
    assert_eq!(
        plant["rejected"]["oversize"],
        oversize,
        "{plant:#}\n{}",
        agent.log()
    );
    assert_eq!(plant["received"], goods + oversize, "{plant:#}");
    // One drain per message above the limit at most (8), each followed by one reconnect.
    assert!(
        plant["reconnects"].as_u64().is_some_and(|r| r <= 8),
        "{plant:#}"
    );
    // Messages of 16 MiB went through; holding one would raise the peak by 16 MiB.
    assert!(
        peak < baseline + 8 * 1024,
        "peak RSS grew from {baseline} KiB to {peak} KiB"
    );
    assert!(agent.stop().success(), "{}", agent.log());
}

/// The drain connection speaks TLS like the regular one: an oversize message on a TLS
/// listener is taken, acknowledged and counted, and the messages behind it arrive.
#[test]
fn an_oversize_message_over_tls_is_dropped_and_counted_too() {
    let mqtt = TlsMosquitto::start();
    let kafka = Tansu::start();
    let rest = format!(
        r#"
[[sources]]
type = "mqtt"
name = "plant"
host = "localhost"
port = {port}
tls = true
ca_file = "{ca}"
topics = ["plant/#"]
topic_pattern = "plant/{{asset}}"
timestamp = {{ field = "ts", unit = "ms" }}
max_payload_bytes = 65536

[[assets]]
id = "pump-1"
interval_secs = 1.0
signals = [{{ name = "temp" }}]
"#,
        port = mqtt.tls_port,
        ca = mqtt.ca.display(),
    );
    let mut agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    let t = recent_secs();
    publish_to(mqtt.plain_port, 1, PLANT, &padded(200_000, t * 1000));
    for i in 0..3 {
        publish_to(mqtt.plain_port, 1, PLANT, &good(t + i, i));
    }
    let plant = plant_status(&kafka, &agent, |_, p| {
        p["samples"] == 3 && p["rejected"]["oversize"] == 1
    });
    assert_eq!(plant["samples"], 3, "{plant:#}\n{}", agent.log());
    assert_eq!(
        plant["rejected"]["oversize"],
        1,
        "{plant:#}\n{}",
        agent.log()
    );
    assert!(
        plant["reconnects"].as_u64().is_some_and(|r| r <= 2),
        "{plant:#}"
    );
    assert!(agent.stop().success(), "{}", agent.log());
}
