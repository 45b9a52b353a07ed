use super::*;
use crate::record::{ClassStatus, SourceStatus};

fn status() -> Status {
    let mut s: Status = serde_json::from_value(serde_json::json!({
        "schema": "forewarn.status.v1", "gateway": "gw-1", "site": "plant \"7\"", "version": "0.1.0",
        "ts_ns": 1_796_000_000_000_000_000i64, "uptime_secs": 12.5, "sources": {}, "outbox": {},
        "outbox_budget_bytes": 1024, "pipeline_drops": {"late": 3}, "delivered": 40,
        "delivery_errors": 0
    }))
    .expect("status");
    s.sources.insert(
        "plant".into(),
        SourceStatus {
            connected: true,
            received: 14,
            samples: 9,
            rejected: [("malformed".to_string(), 1u64)].into_iter().collect(),
            reconnects: 0,
            connect_failures: [("tls_expired".to_string(), 2u64)].into_iter().collect(),
            last_connect_error: Some("x".into()),
        },
    );
    s.outbox.insert(
        "telemetry".into(),
        ClassStatus {
            depth: 3,
            bytes: 1200,
            oldest_age_secs: Some(1.5),
            evicted: 0,
        },
    );
    s.stalled = vec!["forwarder".into()];
    s
}

#[test]
fn the_status_counters_appear_with_labels_escaped() {
    let text = render(&status(), &[(200, 4), (404, 1)]);
    for line in [
        "forewarn_info{gateway=\"gw-1\",site=\"plant \\\"7\\\"\",version=\"0.1.0\"} 1",
        "forewarn_uptime_seconds 12.5",
        "forewarn_source_connected{source=\"plant\"} 1",
        "forewarn_source_samples_total{source=\"plant\"} 9",
        "forewarn_source_rejected_total{source=\"plant\",reason=\"malformed\"} 1",
        "forewarn_source_connect_failures_total{source=\"plant\",reason=\"tls_expired\"} 2",
        "forewarn_outbox_records{class=\"telemetry\"} 3",
        "forewarn_outbox_oldest_age_seconds{class=\"telemetry\"} 1.5",
        "forewarn_pipeline_drops_total{reason=\"late\"} 3",
        "forewarn_delivered_total 40",
        "forewarn_stalled{stage=\"forwarder\"} 1",
        "forewarn_stalled{stage=\"processing\"} 0",
        "forewarn_http_responses_total{code=\"404\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[test]
fn every_family_is_declared_once_before_its_samples() {
    let text = render(&status(), &[(200, 1)]);
    let mut declared = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or_default();
            assert!(declared.insert(name.to_string()), "{name} declared twice");
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(declared.contains(name), "{name} sampled before its TYPE");
        }
    }
}

#[test]
fn numbers_are_written_as_prometheus_reads_them() {
    assert_eq!(number(3.0), "3");
    assert_eq!(number(0.25), "0.25");
    assert_eq!(number(f64::NAN), "NaN");
    assert_eq!(number(f64::INFINITY), "+Inf");
    assert_eq!(number(1.7e18), "1700000000000000000");
}
