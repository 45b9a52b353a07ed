use std::time::{Duration, Instant};

use crate::harness::{agent_config, consume, Agent, PtyPair, Tansu};

const T0: i64 = 1_767_600_000;
const NS: i64 = 1_000_000_000;

#[test]
fn serial_lines_reach_kafka_and_a_vanished_device_is_reopened() {
    let kafka = Tansu::start();
    let dir = tempfile::tempdir().expect("tmp");
    let mut pty = PtyPair::start(dir.path());
    let rest = format!(
        r#"
[[sources]]
type = "serial"
name = "rs485"
device = "{device}"
baud = 115200
asset = "pump-1"
format = "csv"
fields = ["ts", "temp", "vib"]
timestamp = {{ max_past_secs = 0 }}
max_frame_bytes = 64

[[assets]]
id = "pump-1"
interval_secs = 1
signals = [{{ name = "temp" }}, {{ name = "vib" }}]
"#,
        device = pty.device.display()
    );
    let agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("Serial device open.", Duration::from_secs(20));

    let mut lines = format!("{T0},20,0.1\n{T0}.5,30,0.2\n").into_bytes();
    lines.extend_from_slice(b"\xff\xfe\x00garbage\n");
    lines.extend_from_slice(&[b'9'; 200]);
    lines.extend_from_slice(format!("\n{},40,0.3\n", T0 + 1).as_bytes());
    pty.write(&lines);

    // Unplug: the agent notices and retries; plug back in at the same path.
    std::thread::sleep(Duration::from_millis(500));
    pty.close();
    std::thread::sleep(Duration::from_millis(500));
    pty.reopen();
    let end = Instant::now() + Duration::from_secs(30);
    while agent.log().matches("Serial device open.").count() < 2 {
        assert!(
            Instant::now() < end,
            "device not reopened:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    pty.write(format!("{},50,0.4\n", T0 + 2).as_bytes());

    let find = |m: &[crate::harness::Msg], s: i64| {
        m.iter()
            .find(|x| x.json["signal"] == "temp" && x.json["start_ns"].as_i64() == Some(s * NS))
            .cloned()
    };
    let telemetry = consume(
        &kafka.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(60),
        |m| find(m, T0).is_some() && find(m, T0 + 1).is_some(),
    );
    let b0 = find(&telemetry, T0).unwrap_or_else(|| panic!("no bucket T0\n{}", agent.log()));
    assert_eq!(b0.json["count"], 2);
    assert_eq!(b0.json["mean"].as_f64(), Some(25.0));
    let b1 = find(&telemetry, T0 + 1).unwrap_or_else(|| {
        panic!(
            "no bucket T0+1 (sent before the unplug, closed after it)\n{}",
            agent.log()
        )
    });
    assert_eq!(b1.json["last"].as_f64(), Some(40.0));
    assert_eq!(b1.key, "gw-test/pump-1");

    let status = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(30),
        |m| {
            m.iter().any(|s| {
                let src = &s.json["sources"]["rs485"];
                src["reconnects"].as_u64() >= Some(1)
                    && src["rejected"]["bad_utf8"] == 1
                    && src["rejected"]["oversize"] == 1
            })
        },
    );
    let s = &status.last().expect("status").json["sources"]["rs485"];
    assert!(s["reconnects"].as_u64() >= Some(1), "reopen counted: {s:#}");
    assert_eq!(s["rejected"]["bad_utf8"], 1, "{s:#}");
    assert_eq!(s["rejected"]["oversize"], 1, "{s:#}");
    assert_eq!(s["samples"].as_u64(), Some(8), "{s:#}");
}
