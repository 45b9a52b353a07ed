use super::*;
use crate::record::*;
use std::collections::BTreeMap;

fn telemetry() -> Record {
    Record::Telemetry(Telemetry {
        schema: TELEMETRY_SCHEMA.into(),
        gateway: "gw".into(),
        site: "s".into(),
        asset: "pump-1".into(),
        signal: "temp".into(),
        unit: Some("degC".into()),
        start_ns: 1,
        end_ns: 2,
        count: 3,
        min: 1.0,
        max: 3.0,
        mean: 2.0,
        last: 3.0,
        meta: AssetMeta::default(),
        method: None,
    })
}

/// Records as the outbox holds them, with the edges of their encodings: floats that fit
/// f16, f32 or only f64, infinities, -0.0, the integer extremes, empty and full optional
/// fields and maps.
fn fixture_records() -> Vec<(&'static str, Record)> {
    let meta = AssetMeta {
        line: Some("line-3".into()),
        asset_type: Some("pump".into()),
        tags: [
            ("hall".to_string(), "B".to_string()),
            ("ü".into(), "\"q\"".into()),
        ]
        .into_iter()
        .collect(),
    };
    let Record::Telemetry(plain) = telemetry() else {
        unreachable!()
    };
    let full = Telemetry {
        unit: Some("mm/s".into()),
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        count: u64::MAX,
        min: -0.0,
        max: 65504.0,
        mean: 0.1,
        last: 3.402_823_5e38,
        meta: meta.clone(),
        method: Some("swinging_door".into()),
        ..plain.clone()
    };
    let sample = Telemetry {
        start_ns: 1_767_600_000_123_000_000,
        end_ns: 1_767_600_000_123_000_000,
        count: 1,
        min: 1e-8,
        max: 1e300,
        mean: -1.5,
        last: 16_777_217.0,
        method: Some("deadband".into()),
        ..plain.clone()
    };
    let raised = Alert {
        schema: ALERT_SCHEMA.into(),
        id: "gw/pump-1/temp-high/1767600000".into(),
        event: AlertEvent::Raised,
        gateway: "gw".into(),
        site: "s".into(),
        asset: "pump-1".into(),
        rule: "temp-high".into(),
        severity: Severity::Critical,
        signal: "temp".into(),
        value: 95.25,
        limit: 90.0,
        ts_ns: 1_767_600_001_000_000_000,
        since_ns: 1_767_600_000_500_000_000,
        meta: AssetMeta::default(),
        model: None,
        detector: None,
    };
    let model_alert = Alert {
        event: AlertEvent::Updated,
        severity: Severity::Warning,
        rule: "bearing".into(),
        signal: "anomaly".into(),
        value: 0.973_456_789,
        limit: 0.9,
        meta,
        model: Some(ModelAlertInfo {
            name: "bearing".into(),
            version: "2.1.0".into(),
            window_start_ns: 1_767_600_000_000_000_000,
            window_end_ns: 1_767_600_010_000_000_000,
            drivers: vec![
                Driver {
                    feature: "vib_rms".into(),
                    value: 4.2,
                    z: f64::INFINITY,
                },
                Driver {
                    feature: "temp_mean".into(),
                    value: -273.15,
                    z: f64::NEG_INFINITY,
                },
            ],
        }),
        ..raised.clone()
    };
    let cleared = Alert {
        event: AlertEvent::Cleared,
        severity: Severity::Info,
        ..raised.clone()
    };
    let summary = FeatureSummary {
        name: "vib_rms".into(),
        count: 360,
        mean: 1.25,
        std: 0.333,
        min: 0.0,
        max: 7.5,
        hist: vec![0, 1, 2, 30, 300, 20, 5, 2, 0, 0],
    };
    let model = ModelStatus {
        version: "2.1.0".into(),
        // Added after serde_cbor's bytes were recorded, left out when empty.
        sha256: String::new(),
        assets: 4,
        windows: 1000,
        window_drops: [("late".to_string(), 3u64), ("gap".into(), 1)]
            .into_iter()
            .collect(),
        inferences: 999,
        errors: 1,
        last_error: Some("input 0: NaN".into()),
        latency_p50_us: Some(812.5),
        latency_p99_us: Some(4096.0),
        drift_score: Some(0.42),
        hour_start_ns: Some(1_767_596_400_000_000_000),
        features: vec![summary.clone()],
        features_previous_hour: vec![summary.clone(), summary.clone()],
        outputs: vec![summary],
        reload_error: Some("manifest: version missing".into()),
        running: true,
        last_reload: Some(ReloadStatus {
            at_ns: 1_767_600_000_000_000_000,
            trigger: "SIGHUP".into(),
            outcome: "refused".into(),
            version: Some("2.2.0".into()),
            attempts: 3,
            refusals: 1,
        }),
    };
    let status = Status {
        schema: STATUS_SCHEMA.into(),
        gateway: "gw".into(),
        site: "s".into(),
        version: "0.1.0".into(),
        ts_ns: 1_796_083_200_000_000_001,
        uptime_secs: 3_600.000_001,
        sources: [(
            "mqtt".to_string(),
            SourceStatus {
                connected: true,
                received: 10_000,
                samples: 40_000,
                rejected: [("malformed".to_string(), 2u64), ("non_finite".into(), 1)]
                    .into_iter()
                    .collect(),
                reconnects: 1,
                // Fields added later stay empty: the fixture bytes predate them.
                connect_failures: Default::default(),
                last_connect_error: None,
            },
        )]
        .into_iter()
        .collect(),
        outbox: [
            (
                "alert".to_string(),
                ClassStatus {
                    depth: 0,
                    bytes: 0,
                    oldest_age_secs: None,
                    evicted: 0,
                },
            ),
            (
                "telemetry".to_string(),
                ClassStatus {
                    depth: 70_000,
                    bytes: 4_294_967_296,
                    oldest_age_secs: Some(86_400.5),
                    evicted: 12,
                },
            ),
        ]
        .into_iter()
        .collect(),
        outbox_budget_bytes: 1 << 30,
        outbox_write_lost: 0,
        pipeline_drops: [("late".to_string(), 7u64)].into_iter().collect(),
        delivered: 123_456,
        last_delivery_ns: Some(1_796_083_199_000_000_000),
        delivery_errors: 2,
        last_delivery_error: Some("Broker: timed out".into()),
        kafka_client_errors: Default::default(),
        last_kafka_client_error: None,
        outbox_quarantined: 1,
        outbox_dead_letters: 0,
        outbox_recovered: 1,
        outbox_set_aside: 0,
        outbox_recovery: Some("used the previous snapshot".into()),
        // Empty, so left out: the golden encodings predate the field.
        outbox_refused: Vec::new(),
        outbox_fill_bytes_per_sec: -12.5,
        outbox_full_in_secs: Some(f64::INFINITY),
        models: [("bearing".to_string(), model)].into_iter().collect(),
        detectors: BTreeMap::new(),
        clock_ok: false,
        time_rebases: 2,
        stalled: vec!["forwarder".into()],
        // Fields added after serde_cbor's bytes were recorded, left out when at their defaults.
        heartbeat_secs: 0,
        config_revision: String::new(),
        stopping: false,
    };
    let quiet = Status {
        sources: BTreeMap::new(),
        outbox: BTreeMap::new(),
        pipeline_drops: BTreeMap::new(),
        last_delivery_ns: None,
        last_delivery_error: None,
        kafka_client_errors: Default::default(),
        last_kafka_client_error: None,
        outbox_recovery: None,
        outbox_full_in_secs: None,
        models: BTreeMap::new(),
        clock_ok: true,
        stalled: vec![],
        ..status.clone()
    };
    vec![
        ("telemetry", Record::Telemetry(plain)),
        ("telemetry-full", Record::Telemetry(full)),
        ("telemetry-sample", Record::Telemetry(sample)),
        ("alert-raised", Record::Alert(raised)),
        ("alert-model", Record::Alert(model_alert)),
        ("alert-cleared", Record::Alert(cleared)),
        ("status", Record::Status(status)),
        ("status-quiet", Record::Status(quiet)),
    ]
}

/// [`fixture_records`] as serde_cbor 0.11.2 (this module's encoder before ciborium) wrote
/// them: what sits in outboxes written by earlier versions.
fn serde_cbor_fixture() -> Vec<(&'static str, Vec<u8>)> {
    include_str!("../../tests/fixtures/cbor/records-serde_cbor-0.11.2.hex")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, hex) = l.split_once(' ').expect("name hex");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (name, bytes)
        })
        .collect()
}

#[test]
fn records_written_by_serde_cbor_decode_to_the_same_records() {
    let want = fixture_records();
    let stored = serde_cbor_fixture();
    assert_eq!(stored.len(), want.len());
    for ((name, bytes), (want_name, record)) in stored.iter().zip(&want) {
        assert_eq!(name, want_name);
        let back: Record = from_cbor(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&back, record, "{name}");
    }
}

#[test]
fn records_encode_to_the_bytes_serde_cbor_wrote() {
    for ((name, bytes), (_, record)) in serde_cbor_fixture().iter().zip(fixture_records()) {
        assert_eq!(&to_cbor(&record).unwrap(), bytes, "{name}");
    }
}

#[test]
fn a_length_prefix_claiming_more_than_the_input_is_an_error_not_an_allocation() {
    // Arrays, maps, byte and text strings claiming 2^64 - 1 and 2^40 items or bytes, each
    // followed by one small item. Reserving what they claim would abort the test (capacity
    // overflow, or an allocation of a TiB and more).
    for major in [0x40u8, 0x60, 0x80, 0xa0] {
        for len in [u64::MAX, 1 << 40] {
            let mut bytes = vec![major | 27];
            bytes.extend(len.to_be_bytes());
            bytes.extend([0x61, b'a']);
            assert!(cbor_to_json(&bytes).is_err(), "{major:#x} {len}");
            assert!(from_cbor::<Record>(&bytes).is_err(), "{major:#x} {len}");
            assert!(from_cbor::<Vec<u64>>(&bytes).is_err(), "{major:#x} {len}");
        }
    }
    // Inside a record: the drivers of a model alert and a feature histogram.
    let mut bytes = to_cbor(&fixture_records()[4].1).unwrap();
    let at = bytes.windows(8).position(|w| w == b"drivers\x82").unwrap() + 7;
    bytes.splice(
        at..at + 1,
        [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    );
    assert!(from_cbor::<Record>(&bytes).is_err());
}

/// `depth` arrays, one in the other, around `1`.
fn nested(depth: usize, open: u8) -> Vec<u8> {
    let mut bytes = vec![open; depth];
    bytes.push(0x01);
    bytes
}

#[test]
fn nesting_is_limited_to_127_arrays_maps_and_tags() {
    let deepest = cbor_to_json(&nested(MAX_CBOR_DEPTH, 0x81)).unwrap();
    assert_eq!(
        deepest.to_string(),
        format!("{}1{}", "[".repeat(127), "]".repeat(127))
    );
    assert!(cbor_to_json(&nested(MAX_CBOR_DEPTH + 1, 0x81)).is_err());
    // Tags count: 126 arrays in one tag is the limit.
    let mut tagged = vec![0xc1];
    tagged.extend(nested(MAX_CBOR_DEPTH - 1, 0x81));
    assert!(cbor_to_json(&tagged).is_ok());
    tagged.insert(0, 0xc1);
    assert!(cbor_to_json(&tagged).is_err());
    // Maps of maps: {"a": {"a": ... 1}}.
    let mut maps = [0xa1, 0x61, b'a'].repeat(MAX_CBOR_DEPTH);
    maps.push(0x01);
    assert!(cbor_to_json(&maps).is_ok());
    maps.splice(0..0, [0xa1, 0x61, b'a']);
    assert!(cbor_to_json(&maps).is_err());
    // Far past the limit (a payload of 256 KiB of 0x81): an error, not a stack overflow.
    assert!(cbor_to_json(&nested(256 * 1024, 0x81)).is_err());
    assert!(from_cbor::<Record>(&nested(256 * 1024, 0x81)).is_err());
}

#[test]
fn cbor_to_json_reads_the_shapes_serde_cbor_read() {
    let json = |hex: &[u8]| cbor_to_json(hex).map(|v| v.to_string()).ok();
    // Tags are read through; undefined is null; f16 and f32 floats; NaN and infinity as text.
    assert_eq!(
        json(&[0xc1, 0x1a, 0x69, 0x5b, 0x2a, 0x00]).as_deref(),
        Some("1767582208")
    );
    assert_eq!(json(&[0x82, 0xf7, 0xf6]).as_deref(), Some("[null,null]"));
    assert_eq!(json(&[0xf9, 0x3e, 0x00]).as_deref(), Some("1.5"));
    assert_eq!(
        json(&[0xfa, 0x3f, 0xc0, 0x00, 0x00]).as_deref(),
        Some("1.5")
    );
    assert_eq!(
        json(&[0x83, 0xf9, 0x7e, 0x00, 0xf9, 0x7c, 0x00, 0xf9, 0xfc, 0x00]).as_deref(),
        Some(r#"["NaN","inf","-inf"]"#)
    );
    // Integers past i64 become floats, as before.
    let big = json(&[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
    assert_eq!(big, "1.8446744073709552e+19");
    let low = json(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
    assert_eq!(low, "-1.8446744073709552e+19");
    // Indefinite lengths; a text key through a tag; the last of repeated keys counts, even
    // over a value JSON cannot say.
    assert_eq!(
        json(&[0xbf, 0x61, b'a', 0x9f, 0x01, 0xff, 0xff]).as_deref(),
        Some(r#"{"a":[1]}"#)
    );
    assert_eq!(
        json(&[0xa1, 0xc0, 0x61, b'a', 0x02]).as_deref(),
        Some(r#"{"a":2}"#)
    );
    assert_eq!(
        json(&[0xa2, 0x61, b'a', 0x41, 0x00, 0x61, b'a', 0x03]).as_deref(),
        Some(r#"{"a":3}"#)
    );
    // Rejected: byte strings, big integers (tags 2 and 3), non-text keys (also beside
    // text keys), unknown simple values, a break outside an indefinite item, trailing bytes,
    // truncation, invalid UTF-8.
    for bad in [
        &[0x41, 0x00][..],
        &[0xc2, 0x41, 0x05],
        &[0xc3, 0x41, 0x05],
        &[0xa1, 0x01, 0x02],
        &[0xa2, 0x61, b'a', 0x01, 0x81, 0x01, 0x02],
        &[0xf0],
        &[0xff],
        &[0x01, 0x01],
        &[0x82, 0x01],
        &[0x62, 0xc3, 0x28],
        &[],
    ] {
        assert_eq!(json(bad), None, "{bad:02x?}");
    }
}

#[test]
fn stored_records_with_trailing_bytes_are_refused() {
    let mut bytes = to_cbor(&telemetry()).unwrap();
    bytes.push(0x00);
    assert!(matches!(
        from_cbor::<Record>(&bytes),
        Err(CodecError::TrailingBytes(1))
    ));
}

#[test]
fn records_round_trip_through_the_outbox_encoding() {
    let r = telemetry();
    let back: Record = from_cbor(&to_cbor(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn json_and_cbor_payloads_carry_the_same_fields() {
    let r = telemetry();
    let j: serde_json::Value =
        serde_json::from_slice(&encode_payload(&r, Encoding::Json).unwrap()).unwrap();
    let c = cbor_to_json(&encode_payload(&r, Encoding::Cbor).unwrap()).unwrap();
    assert_eq!(j, c);
    assert_eq!(j["schema"], "forewarn.telemetry.v1");
    assert_eq!(j["asset"], "pump-1");
}
