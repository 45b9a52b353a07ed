//! Encodings of records, for Kafka payloads and for the outbox.
//!
//! All CBOR goes through this module (serde_cbor is unmaintained upstream; keeping it behind one
//! module lets us swap it for ciborium or minicbor without touching callers).

use serde::{de::DeserializeOwned, Serialize};

use crate::record::Record;

/// Payload encoding on the Kafka topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Json,
    Cbor,
}

impl Encoding {
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/json",
            Encoding::Cbor => "application/cbor",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cbor: {0}")]
    Cbor(#[from] serde_cbor::Error),
}

/// Encode the record's body (without the `kind` tag: the topic says what it is).
pub fn encode_payload(record: &Record, encoding: Encoding) -> Result<Vec<u8>, CodecError> {
    match (record, encoding) {
        (Record::Telemetry(t), Encoding::Json) => Ok(serde_json::to_vec(t)?),
        (Record::Alert(a), Encoding::Json) => Ok(serde_json::to_vec(a)?),
        (Record::Status(s), Encoding::Json) => Ok(serde_json::to_vec(s)?),
        (Record::Telemetry(t), Encoding::Cbor) => Ok(serde_cbor::to_vec(t)?),
        (Record::Alert(a), Encoding::Cbor) => Ok(serde_cbor::to_vec(a)?),
        (Record::Status(s), Encoding::Cbor) => Ok(serde_cbor::to_vec(s)?),
    }
}

pub fn to_cbor<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(serde_cbor::to_vec(value)?)
}

pub fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    Ok(serde_cbor::from_slice(bytes)?)
}

/// Decode a CBOR document into a JSON value tree (used by the MQTT payload decoder, so that JSON
/// and CBOR payloads share one interpretation). CBOR can carry NaN and infinities, which JSON
/// cannot: they become the strings `"NaN"`, `"inf"`, `"-inf"`, which the decoder rejects as
/// non-finite (rather than as "not a number"). Byte strings and non-text map keys are errors.
pub fn cbor_to_json(bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
    let v: serde_cbor::Value = serde_cbor::from_slice(bytes)?;
    cbor_value_to_json(v)
        .ok_or_else(|| CodecError::Cbor(serde::de::Error::custom("CBOR value has no JSON form")))
}

fn cbor_value_to_json(v: serde_cbor::Value) -> Option<serde_json::Value> {
    use serde_cbor::Value as C;
    use serde_json::Value as J;
    Some(match v {
        C::Null => J::Null,
        C::Bool(b) => J::Bool(b),
        C::Integer(i) => match i64::try_from(i) {
            Ok(x) => J::from(x),
            Err(_) => J::from(i as f64),
        },
        C::Float(f) if f.is_finite() => J::from(f),
        C::Float(f) => J::String(f.to_string()),
        C::Text(t) => J::String(t),
        C::Array(items) => J::Array(
            items
                .into_iter()
                .map(cbor_value_to_json)
                .collect::<Option<_>>()?,
        ),
        C::Map(m) => J::Object(
            m.into_iter()
                .map(|(k, v)| match k {
                    C::Text(k) => Some((k, cbor_value_to_json(v)?)),
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
        C::Tag(_, inner) => cbor_value_to_json(*inner)?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
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
            uptime_secs: 3600.000_001,
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
            outbox_quarantined: 1,
            outbox_recovered: 1,
            outbox_set_aside: 0,
            outbox_recovery: Some("used the previous snapshot".into()),
            outbox_fill_bytes_per_sec: -12.5,
            outbox_full_in_secs: Some(f64::INFINITY),
            models: [("bearing".to_string(), model)].into_iter().collect(),
            clock_ok: false,
            time_rebases: 2,
            stalled: vec!["forwarder".into()],
        };
        let quiet = Status {
            sources: BTreeMap::new(),
            outbox: BTreeMap::new(),
            pipeline_drops: BTreeMap::new(),
            last_delivery_ns: None,
            last_delivery_error: None,
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
        include_str!("../tests/fixtures/cbor/records-serde_cbor-0.11.2.hex")
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
}
