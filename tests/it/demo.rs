//! `forewarn demo`: the embedded provisioning file, recordings and the three shipped model
//! packages, with nothing installed (and optionally a real Kafka broker).

use std::time::Duration;

use crate::harness::{agent_command, consume, Tansu};

/// Run the demo with `args`; its stdout.
fn demo(args: &[&str]) -> String {
    let out = agent_command()
        .arg("demo")
        .args(args)
        .output()
        .expect("run demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (telemetry buckets, alert events) from the summary line.
fn summary(text: &str) -> (usize, usize) {
    let line = text
        .lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary\n{text}"));
    let n: Vec<usize> = line
        .split([' ', ','])
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

#[test]
fn demo_runs_with_nothing_installed_and_shows_real_model_predictions() {
    let text = demo(&[]);
    let alert_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("ALERT")).collect();
    let has = |needle: &str| alert_lines.iter().any(|l| l.contains(needle));
    // The worn engine gets a low-RUL warning, the young one nothing.
    assert!(has("RAISED  engine-81/low-rul rul="), "{text}");
    assert!(!has("engine-89/"), "{text}");
    // The faulty bearing is classified, the healthy one stays silent.
    assert!(has("RAISED  bearing-worn/bearing-fault"), "{text}");
    assert!(has("RAISED  bearing-worn/bearing-inner-race"), "{text}");
    assert!(!has("bearing-worn/bearing-ball") && !has("bearing-worn/bearing-outer"));
    assert!(!has("bearing-healthy/"), "{text}");
    // Failures of the milling machine, each cleared by the next healthy reading.
    assert!(has("RAISED  mill-1/machine-failure"), "{text}");
    assert!(has("cleared mill-1/machine-failure"), "{text}");
    // A threshold rule runs beside the models.
    assert!(has("RAISED  engine-81/T50-high T50="), "{text}");
    // Model alerts say which model and why.
    assert!(
        text.contains("model turbofan-rul 1.1.0, window to"),
        "{text}"
    );
    // The reactor has no model: its detector learns the first 500 steps (nothing raised
    // during them or in the 160 normal steps after), then fault IDV(4), which starts on the
    // step to 2026-01-06 17:03, is raised within 3 steps and explained by the reactor
    // cooling water flow (xmv10) first.
    assert!(
        text.contains("BASELINE  2026-01-06 09:00:00.000 reactor-health/reactor-1 generation 1 (Learned): 500 steps"),
        "{text}"
    );
    let reactor: Vec<&&str> = alert_lines
        .iter()
        .filter(|l| l.contains("reactor-1/"))
        .collect();
    let raised = reactor
        .first()
        .unwrap_or_else(|| panic!("no reactor alert\n{text}"));
    assert!(
        raised.contains("RAISED  reactor-1/reactor-health-anomaly"),
        "{raised}"
    );
    let at = raised.split_whitespace().nth(2).unwrap_or("");
    assert!(
        ["17:03:00.000", "17:06:00.000", "17:09:00.000"].contains(&at),
        "raised on the step to {at}"
    );
    assert_eq!(
        reactor.iter().filter(|l| l.contains("RAISED")).count(),
        1,
        "{reactor:?}"
    );
    assert!(
        text.contains("detector reactor-health, step to 2026-01-06 ")
            && text
                .lines()
                .find(|l| l.trim_start().starts_with("detector reactor-health"))
                .is_some_and(|l| l.contains("contributions: xmv10 ")),
        "{text}"
    );

    let (telemetry, alerts) = summary(&text);
    assert_eq!(alerts, alert_lines.len());
    assert_eq!(
        telemetry,
        text.lines().filter(|l| l.starts_with("TELEMETRY")).count()
    );
    // T50 and Ps30 per engine in one-minute buckets (4 for engine-81's 213 cycles, 3 for
    // engine-89's 177), one bucket per bearing.
    assert_eq!(telemetry, 2 * 4 + 2 * 3 + 2, "{text}");
    assert!(
        text.contains("TELEMETRY engine-81/T50   2026-01-05 08:00:00.000 +60s  n=59"),
        "{text}"
    );
    // Every window of every recording was judged: 183 + 147 engine windows, 5 per bearing,
    // one per milling reading.
    let last_status = text.rfind("STATUS").expect("a status");
    let status = &text[last_status..];
    for expect in [
        "model turbofan-rul 1.1.0: windows=330 inferences=330 errors=0",
        "model bearing-fault 1.0.0: windows=10 inferences=10 errors=0",
        "model process-failure 1.0.0: windows=40 inferences=40 errors=0",
    ] {
        assert!(status.contains(expect), "{expect}\n{status}");
    }
}

#[test]
fn demo_forwards_to_kafka_and_drains_the_outbox() {
    let broker = Tansu::start();
    let text = demo(&["--kafka", &broker.bootstrap()]);
    assert!(text.contains("; 0 left in the outbox"), "{text}");
    let (telemetry, alerts) = summary(&text);

    let msgs = consume(
        &broker.bootstrap(),
        "forewarn.alerts",
        Duration::from_secs(30),
        |m| m.len() >= alerts,
    );
    assert_eq!(msgs.len(), alerts);
    for a in &msgs {
        assert_eq!(a.json["schema"], "forewarn.alert.v1");
        let asset = a.json["asset"].as_str().unwrap_or("?");
        assert_eq!(a.key, format!("demo-gw/{asset}"));
        assert!(
            ["turbofan", "bearing-6205", "mill", "chemical-reactor"]
                .contains(&a.json["meta"]["type"].as_str().unwrap_or("")),
            "{}",
            a.json
        );
        assert_eq!(
            a.headers.get("forewarn-gateway").map(String::as_str),
            Some("demo-gw")
        );
    }
    let low_rul = msgs
        .iter()
        .find(|m| m.json["rule"] == "low-rul" && m.json["event"] == "raised")
        .expect("a low-rul alert on Kafka");
    assert_eq!(low_rul.json["model"]["name"], "turbofan-rul");
    assert_eq!(low_rul.json["asset"], "engine-81");

    let tel = consume(
        &broker.bootstrap(),
        "forewarn.telemetry",
        Duration::from_secs(30),
        |m| m.len() >= telemetry,
    );
    assert_eq!(tel.len(), telemetry);
    let first = tel
        .iter()
        .find(|m| {
            m.json["asset"] == "engine-81" && m.json["signal"] == "T50" && m.json["count"] == 59
        })
        .expect("the first T50 bucket of engine-81");
    assert_eq!(first.json["min"], 1394.69);
    assert_eq!(first.json["max"], 1414.28);
}

#[test]
fn demo_can_forward_cbor_payloads() {
    let broker = Tansu::start();
    let text = demo(&["--kafka", &broker.bootstrap(), "--encoding", "cbor"]);
    let (_, alerts) = summary(&text);
    let msgs = consume(
        &broker.bootstrap(),
        "forewarn.alerts",
        Duration::from_secs(30),
        |m| m.len() >= alerts,
    );
    assert_eq!(msgs.len(), alerts);
    for a in &msgs {
        assert_eq!(
            a.headers.get("content-type").map(String::as_str),
            Some("application/cbor")
        );
        // The harness decodes CBOR when the payload is not JSON: same fields as JSON.
        assert_eq!(a.json["schema"], "forewarn.alert.v1");
        assert!(
            a.json["model"].is_object()
                || a.json["detector"].is_object()
                || a.json["rule"] == "T50-high"
        );
    }
}
