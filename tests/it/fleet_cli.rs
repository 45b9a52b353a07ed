//! `forewarn-fleet status` and `tail` against what a real agent writes to the real broker: the
//! table shows the gateway online with the revision of the file it runs, then offline after it
//! is killed; `tail` prints its heartbeats as JSON lines that fit the status schema.

use std::process::Output;
use std::time::{Duration, Instant};

use sha2::Digest;

use crate::harness::{consume, schema_errors, wrapped_command, Mosquitto, Tansu};

fn fleet(args: &[&str]) -> Output {
    let out = wrapped_command(env!("CARGO_BIN_EXE_forewarn-fleet"))
        .args(args)
        .output()
        .expect("run forewarn-fleet");
    assert!(
        out.status.success(),
        "forewarn-fleet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn fleet_status_and_tail_show_a_gateway_then_its_absence() {
    let kafka = Tansu::start();
    let mqtt = Mosquitto::start();
    let bootstrap = kafka.bootstrap();
    let mut agent = crate::fleet_page::gateway("gw-test", "test-site", &kafka, &mqtt);
    // Two heartbeats in Kafka first.
    let beats = consume(
        &bootstrap,
        "forewarn.status",
        Duration::from_secs(60),
        |m| m.len() >= 2,
    );
    assert!(beats.len() >= 2, "no heartbeats: {}", agent.log());
    let text = std::fs::read_to_string(&agent.config).expect("config");
    let revision: String = sha2::Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();

    let out = fleet(&["status", "-b", &bootstrap, "--wait", "30"]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("gw-test "))
        .unwrap_or_else(|| panic!("no gw-test row:\n{table}"));
    assert!(row.contains(" online "), "{table}");
    assert!(row.contains(&revision), "{revision} not in\n{table}");
    assert!(table.ends_with("1 gateways: 1 online\n"), "{table}");

    let out = fleet(&["status", "-b", &bootstrap, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["gateways"][0]["id"], "gw-test");
    assert_eq!(v["gateways"][0]["heartbeat"]["heartbeat_secs"], 1);
    assert_eq!(
        v["gateways"][0]["heartbeat"]["config_revision"],
        revision.as_str()
    );

    let out = fleet(&[
        "tail",
        "-b",
        &bootstrap,
        "--topic",
        "forewarn.status",
        "--history",
        "3",
        "--count",
        "3",
    ]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert_eq!(l["topic"], "forewarn.status");
        assert_eq!(l["gateway"], "gw-test");
        assert_eq!(l["schema"], "forewarn.status.v1");
        assert_eq!(l["content_type"], "application/json");
        assert!(l["seq"].as_u64().is_some(), "{l}");
        let errors = schema_errors("forewarn.status.v1", &l["record"]);
        assert!(errors.is_empty(), "{errors:?}");
    }

    // Killed: no last heartbeat, so offline once 3 intervals (+ 2 s) have passed.
    agent.kill9();
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let out = fleet(&["status", "-b", &bootstrap]);
        let table = String::from_utf8_lossy(&out.stdout).to_string();
        if table.ends_with("1 gateways: 1 offline\n") {
            break;
        }
        assert!(Instant::now() < end, "not offline:\n{table}");
    }
}
