use std::process::Command;
use std::time::Duration;

use crate::harness::{consume, forewarn_bin, Tansu};

#[test]
fn demo_runs_with_nothing_installed_and_prints_alerts_and_telemetry() {
    let out = Command::new(forewarn_bin())
        .arg("demo")
        .output()
        .expect("run demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RAISED  engine-1/T50-high"), "{text}");
    assert!(text.contains("RAISED  engine-2/Ps30-high"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("TELEMETRY")).count(),
        63
    );
    assert!(
        text.contains("TELEMETRY engine-1/T50   2026-01-05 06:00 +60m  n=59"),
        "{text}"
    );
    assert!(
        text.contains("summary: 63 telemetry buckets, 4 alert events"),
        "{text}"
    );
}

#[test]
fn demo_forwards_to_kafka_and_drains_the_outbox() {
    let broker = Tansu::start();
    let out = Command::new(forewarn_bin())
        .args(["demo", "--kafka", &broker.bootstrap()])
        .output()
        .expect("run demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("; 0 left in the outbox"), "{text}");

    let alerts = consume(
        &broker.bootstrap(),
        "forewarn.alerts",
        Duration::from_secs(30),
        |m| m.len() >= 4,
    );
    assert_eq!(alerts.len(), 4);
    for a in &alerts {
        assert_eq!(a.json["schema"], "forewarn.alert.v1");
        assert_eq!(a.json["event"], "raised");
        assert_eq!(
            a.key,
            format!("demo-gw/{}", a.json["asset"].as_str().unwrap_or("?"))
        );
        assert_eq!(a.json["meta"]["type"], "turbofan");
        assert_eq!(
            a.headers.get("forewarn-gateway").map(String::as_str),
            Some("demo-gw")
        );
    }
    let telemetry = consume(
        &broker.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(30),
        |m| m.len() >= 63,
    );
    assert_eq!(telemetry.len(), 63);
    let first = telemetry
        .iter()
        .find(|m| {
            m.json["asset"] == "engine-1" && m.json["signal"] == "T50" && m.json["count"] == 59
        })
        .expect("the first T50 bucket of engine-1");
    assert_eq!(first.json["min"], 1394.75);
    assert_eq!(first.json["max"], 1406.22);
}

#[test]
fn demo_can_forward_cbor_payloads() {
    let broker = Tansu::start();
    let out = Command::new(forewarn_bin())
        .args(["demo", "--kafka", &broker.bootstrap(), "--encoding", "cbor"])
        .output()
        .expect("run demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts = consume(
        &broker.bootstrap(),
        "forewarn.alerts",
        Duration::from_secs(30),
        |m| m.len() >= 4,
    );
    assert_eq!(alerts.len(), 4);
    for a in &alerts {
        assert_eq!(
            a.headers.get("content-type").map(String::as_str),
            Some("application/cbor")
        );
        // The harness decodes CBOR when the payload is not JSON: same fields as JSON.
        assert_eq!(a.json["schema"], "forewarn.alert.v1");
        assert_eq!(a.json["event"], "raised");
    }
}
