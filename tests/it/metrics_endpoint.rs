//! The local `/metrics` and `/health` endpoint (`[metrics] listen`): the counters the status
//! topic carries, in Prometheus' text format; health; and every malformed, oversize, slow or
//! unknown request answered with its code and counted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{agent_config, consume, free_port, Agent, Mosquitto, Tansu};

/// Send `request` as is and read the whole answer: (status code, head, body).
fn http(port: u16, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(request).expect("send");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("read");
    let text = String::from_utf8(answer).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (code, head.to_string(), body.to_string())
}

fn get(port: u16, path: &str) -> (u16, String, String) {
    http(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n").as_bytes(),
    )
}

/// The value of the sample `series` (name and labels as written) in a Prometheus text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_show_the_status_counters_and_bad_requests_get_their_code() {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let port = free_port();
    let rest = format!(
        r#"
[metrics]
listen = "127.0.0.1:{port}"

[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
port = {mqtt}
topics = ["plant/#"]
topic_pattern = "plant/{{asset}}/{{signal}}"

[[assets]]
id = "pump-1"
interval_secs = 1.0
signals = [{{ name = "temp" }}]
"#,
        mqtt = mqtt.port
    );
    let agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("Metrics endpoint listening", Duration::from_secs(20));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(20));
    mqtt.publish_lines("plant/pump-1/temp", "20.5\n21\nnot-a-number\n");

    // The status topic says 2 samples and 1 refusal; /metrics says the same.
    let status = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(60),
        |msgs| {
            msgs.iter()
                .any(|m| m.json["sources"]["plant"]["samples"] == 2)
        },
    );
    let plant = status
        .iter()
        .rev()
        .map(|m| &m.json["sources"]["plant"])
        .find(|p| p["samples"] == 2)
        .unwrap_or_else(|| panic!("no status with 2 samples\n{}", agent.log()))
        .clone();
    let (code, head, text) = get(port, "/metrics");
    assert_eq!(code, 200, "{head}\n{text}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    for (series, want) in [
        (
            "forewarn_source_samples_total{source=\"plant\"}",
            plant["samples"].as_f64(),
        ),
        (
            "forewarn_source_received_total{source=\"plant\"}",
            plant["received"].as_f64(),
        ),
        ("forewarn_source_connected{source=\"plant\"}", Some(1.0)),
        ("forewarn_outbox_budget_bytes", Some(16_777_216.0)),
        ("forewarn_stalled{stage=\"forwarder\"}", Some(0.0)),
    ] {
        assert_eq!(sample(&text, series), want, "{series}\n{text}");
    }
    let rejected = plant["rejected"].as_object().cloned().unwrap_or_default();
    assert_eq!(
        rejected.values().filter_map(|v| v.as_u64()).sum::<u64>(),
        1,
        "{plant:#}"
    );
    for (reason, n) in rejected {
        let series =
            format!("forewarn_source_rejected_total{{source=\"plant\",reason=\"{reason}\"}}");
        assert_eq!(sample(&text, &series), n.as_f64(), "{series}\n{text}");
    }
    assert!(
        sample(&text, "forewarn_delivered_total").is_some_and(|d| d > 0.0),
        "{text}"
    );
    // Every line is a comment or `name{labels} value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(series.starts_with("forewarn_"), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }

    let (code, _, body) = get(port, "/health");
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("JSON health");
    assert_eq!(health["status"], "ok", "{body}");
    assert_eq!(health["sources_connected"], 1, "{body}");

    let (code, head, body) = http(port, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(code, 200, "{head}");
    assert!(body.is_empty(), "HEAD has no body: {body}");

    // What is refused, and how.
    assert_eq!(get(port, "/nope").0, 404);
    let (code, head, _) = http(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(code, 405);
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    assert_eq!(
        http(
            port,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"
        )
        .0,
        400
    );
    assert_eq!(http(port, b"GET /metrics\r\n\r\n").0, 400);
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
    huge.resize(64 * 1024, b'a');
    assert_eq!(http(port, &huge).0, 431);
    // A head that never ends: answered 408 after the read timeout, and it did not hold up
    // the requests behind it.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\n").expect("send");
    assert_eq!(get(port, "/health").0, 200);
    let mut answer = String::new();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    slow.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    let (_, _, text) = get(port, "/metrics");
    for (code, n) in [
        ("400", 2.0),
        ("404", 1.0),
        ("405", 1.0),
        ("408", 1.0),
        ("431", 1.0),
    ] {
        let series = format!("forewarn_http_responses_total{{code=\"{code}\"}}");
        assert_eq!(sample(&text, &series), Some(n), "{series}\n{text}");
    }
    // Listening on loopback only: nothing answers on another address of this machine.
    assert!(
        agent.log().contains(&format!("addr=127.0.0.1:{port}")),
        "{}",
        agent.log()
    );
}
