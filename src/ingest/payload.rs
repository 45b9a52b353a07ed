//! Payload decoding shared by the MQTT source, serial JSON lines and replay: bytes → samples.
//!
//! Accepted shapes (JSON, or the same structure in CBOR):
//! - an object of signal → value, with an optional timestamp field and `asset` override:
//!   `{"ts": 1767600000123, "temp": 41.2, "vib": 0.31}`;
//! - an array batch of such objects: `[{"ts": ..., "temp": 41.2}, {"ts": ..., "temp": 41.3}]`;
//! - when the topic names the signal (`plant/{asset}/{signal}`): a bare number `41.2`, an
//!   object `{"value": 41.2, "ts": ...}`, or an array of either.
//!
//! Values may be numbers, numeric strings (`"41.2"`) or booleans (1/0). Anything else is
//! rejected per value (`not_numeric`, `non_finite`, `unknown_signal`...), so one bad field does
//! not cost the good ones beside it. An item whose timestamp cannot be read is rejected whole.

use serde_json::{Map, Value};

use super::{time, AssetIndex, Decoded, Reject};
use crate::config::{TimestampConfig, TopicLevel};
use crate::record::Sample;

/// Parse a payload as JSON if it is UTF-8 JSON, else as CBOR.
pub fn parse_document(payload: &[u8]) -> Result<Value, Reject> {
    if let Ok(text) = std::str::from_utf8(payload) {
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            return Ok(v);
        }
    }
    crate::codec::cbor_to_json(payload).map_err(|_| Reject::Malformed)
}

/// Match an MQTT topic against a pattern; returns the asset and (if the pattern has one) signal.
pub fn match_topic<'t>(
    pattern: &[TopicLevel],
    topic: &'t str,
) -> Option<(&'t str, Option<&'t str>)> {
    let mut asset = None;
    let mut signal = None;
    let mut levels = topic.split('/');
    for want in pattern {
        let level = levels.next()?;
        match want {
            TopicLevel::Literal(l) if l != level => return None,
            TopicLevel::Asset => asset = Some(level),
            TopicLevel::Signal => signal = Some(level),
            _ => {}
        }
    }
    if levels.next().is_some() {
        return None;
    }
    Some((asset?, signal))
}

/// Turns decoded documents into samples for one source.
#[derive(Debug, Clone)]
pub struct SampleBuilder<'a> {
    pub index: &'a AssetIndex,
    pub timestamp: &'a TimestampConfig,
    pub arrival_ns: i64,
}

impl SampleBuilder<'_> {
    /// Interpret a whole document (object, array batch or scalar).
    pub fn document(&self, asset: &str, signal: Option<&str>, v: &Value, out: &mut Decoded) {
        match v {
            Value::Array(items) => {
                for item in items {
                    if item.is_array() {
                        out.rejects.push(Reject::Malformed);
                    } else {
                        self.item(asset, signal, item, out);
                    }
                }
            }
            other => self.item(asset, signal, other, out),
        }
    }

    fn item(&self, asset: &str, signal: Option<&str>, v: &Value, out: &mut Decoded) {
        match v {
            Value::Object(map) => self.object(asset, signal, map, out),
            scalar => match signal {
                Some(sig) => self.value(asset, sig, scalar, self.arrival_ns, out),
                None => out.rejects.push(Reject::Malformed),
            },
        }
    }

    /// The event time of an object: its timestamp field, or arrival time without one.
    pub fn event_time(&self, map: &Map<String, Value>) -> Result<i64, Reject> {
        match self.timestamp.field.as_deref().and_then(|f| map.get(f)) {
            Some(v) => time::from_value(v, self.timestamp.unit),
            None => Ok(self.arrival_ns),
        }
    }

    pub fn object(
        &self,
        asset: &str,
        signal: Option<&str>,
        map: &Map<String, Value>,
        out: &mut Decoded,
    ) {
        let ts = match self.event_time(map) {
            Ok(ts) => ts,
            Err(r) => return out.rejects.push(r),
        };
        let asset = match map.get("asset") {
            Some(Value::String(a)) => a.as_str(),
            Some(_) => return out.rejects.push(Reject::UnknownAsset),
            None => asset,
        };
        let ts_field = self.timestamp.field.as_deref();
        match signal {
            Some(sig) => match map.get("value") {
                Some(v) => self.value(asset, sig, v, ts, out),
                None => out.rejects.push(Reject::Malformed),
            },
            None => {
                for (key, v) in map {
                    if Some(key.as_str()) == ts_field || key == "asset" {
                        continue;
                    }
                    self.value(asset, key, v, ts, out);
                }
            }
        }
    }

    pub fn value(&self, asset: &str, signal: &str, v: &Value, ts_ns: i64, out: &mut Decoded) {
        let value = match numeric(v) {
            Ok(x) => x,
            Err(r) => return out.rejects.push(r),
        };
        self.push(asset, signal, value, ts_ns, out);
    }

    pub fn push(&self, asset: &str, signal: &str, value: f64, ts_ns: i64, out: &mut Decoded) {
        if !value.is_finite() {
            return out.rejects.push(Reject::NonFinite);
        }
        match self.index.resolve(asset, signal) {
            Ok((asset, signal)) => out.samples.push(Sample {
                asset,
                signal,
                ts_ns,
                value,
            }),
            Err(r) => out.rejects.push(r),
        }
    }
}

/// A number from a JSON value: numbers, numeric strings, booleans.
pub fn numeric(v: &Value) -> Result<f64, Reject> {
    match v {
        Value::Number(n) => n.as_f64().ok_or(Reject::NotNumeric),
        Value::String(s) => parse_number(s),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        _ => Err(Reject::NotNumeric),
    }
}

/// A number from text; `nan`/`inf` parse but are rejected as non-finite.
pub fn parse_number(s: &str) -> Result<f64, Reject> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => Err(Reject::NonFinite),
        Err(_) => Err(Reject::NotNumeric),
    }
}

/// The MQTT decoder: topic + payload → samples.
#[derive(Debug)]
pub struct MqttDecoder {
    pub index: std::sync::Arc<AssetIndex>,
    pub pattern: Vec<TopicLevel>,
    pub timestamp: TimestampConfig,
    pub max_payload_bytes: usize,
}

impl MqttDecoder {
    pub fn decode(&self, topic: &str, payload: &[u8], arrival_ns: i64) -> Decoded {
        if payload.len() > self.max_payload_bytes {
            return Decoded::reject(Reject::Oversize);
        }
        let Some((asset, signal)) = match_topic(&self.pattern, topic) else {
            return Decoded::reject(Reject::UnknownTopic);
        };
        let doc = match parse_document(payload) {
            Ok(d) => d,
            Err(r) => return Decoded::reject(r),
        };
        let builder = SampleBuilder {
            index: &self.index,
            timestamp: &self.timestamp,
            arrival_ns,
        };
        let mut out = Decoded::default();
        builder.document(asset, signal, &doc, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AssetConfig, SignalConfig, TimeUnit};
    use std::sync::Arc;

    fn decoder(pattern: &str) -> MqttDecoder {
        let assets = vec![AssetConfig {
            id: Arc::from("pump-1"),
            meta: Default::default(),
            signals: ["temp", "vib"]
                .iter()
                .map(|s| SignalConfig {
                    name: Arc::from(*s),
                    unit: None,
                    interval: None,
                    compression: None,
                })
                .collect(),
        }];
        let pattern = pattern
            .split('/')
            .map(|l| match l {
                "{asset}" => TopicLevel::Asset,
                "{signal}" => TopicLevel::Signal,
                "+" => TopicLevel::Any,
                o => TopicLevel::Literal(o.into()),
            })
            .collect();
        MqttDecoder {
            index: Arc::new(AssetIndex::new(&assets)),
            pattern,
            timestamp: TimestampConfig {
                field: Some("ts".into()),
                unit: TimeUnit::Auto,
                policy: crate::ingest::time_guard::TimePolicy::defaults(true),
            },
            max_payload_bytes: 1024,
        }
    }

    fn values(d: &Decoded) -> Vec<(String, i64, f64)> {
        d.samples
            .iter()
            .map(|s| (s.signal.to_string(), s.ts_ns, s.value))
            .collect()
    }

    #[test]
    fn object_payload_yields_one_sample_per_signal() {
        let d = decoder("plant/{asset}").decode(
            "plant/pump-1",
            br#"{"ts":1767600000,"temp":41.5,"vib":"0.25"}"#,
            7,
        );
        assert_eq!(
            values(&d),
            vec![
                ("temp".into(), 1_767_600_000_000_000_000, 41.5),
                ("vib".into(), 1_767_600_000_000_000_000, 0.25)
            ]
        );
        assert!(d.rejects.is_empty());
    }

    #[test]
    fn bare_number_takes_signal_from_topic_and_arrival_time() {
        let d = decoder("plant/{asset}/{signal}").decode("plant/pump-1/temp", b"41.5", 7);
        assert_eq!(values(&d), vec![("temp".into(), 7, 41.5)]);
    }

    #[test]
    fn array_batch_keeps_good_items_and_counts_bad_ones() {
        let d = decoder("plant/{asset}").decode(
            "plant/pump-1",
            br#"[{"ts":1,"temp":1.0},{"ts":"nope","temp":2.0},{"ts":3,"temp":"hot"},{"ts":4,"pressure":1}]"#,
            0,
        );
        assert_eq!(values(&d), vec![("temp".into(), 1_000_000_000, 1.0)]);
        assert_eq!(
            d.rejects,
            vec![
                Reject::BadTimestamp,
                Reject::NotNumeric,
                Reject::UnknownSignal
            ]
        );
    }

    #[test]
    fn cbor_payload_decodes_like_json() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("temp".to_string(), 40.0f64);
        let bytes = crate::codec::to_cbor(&m).unwrap();
        let d = decoder("plant/{asset}").decode("plant/pump-1", &bytes, 9);
        assert_eq!(values(&d), vec![("temp".into(), 9, 40.0)]);
    }

    #[test]
    fn non_finite_cbor_values_are_rejected() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("temp".to_string(), f64::NAN);
        let bytes = crate::codec::to_cbor(&m).unwrap();
        let d = decoder("plant/{asset}").decode("plant/pump-1", &bytes, 9);
        assert!(d.samples.is_empty());
        assert_eq!(d.rejects, vec![Reject::NonFinite]);
    }

    #[test]
    fn cbor_claiming_more_than_it_holds_or_nested_too_deep_is_malformed() {
        let dec = decoder("plant/{asset}");
        // An array of 2^64 - 1 items, and a map whose "temp" is 2^40 bytes: the claims are not
        // allocated, the payload ends first.
        let huge_array = [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa0];
        let mut huge_bytes = vec![0xa1, 0x64, b't', b'e', b'm', b'p', 0x5b];
        huge_bytes.extend((1u64 << 40).to_be_bytes());
        huge_bytes.push(0x00);
        let mut deep = vec![0x81; 128];
        deep.push(0xa0);
        for bad in [&huge_array[..], &huge_bytes, &deep] {
            assert_eq!(
                dec.decode("plant/pump-1", bad, 0).rejects,
                vec![Reject::Malformed]
            );
        }
    }

    #[test]
    fn garbage_unknown_topics_assets_and_oversize_are_rejected() {
        let dec = decoder("plant/{asset}/{signal}");
        assert_eq!(
            dec.decode("plant/pump-1/temp", b"\xff\xfe{{", 0).rejects,
            vec![Reject::Malformed]
        );
        assert_eq!(
            dec.decode("other/pump-1/temp", b"1", 0).rejects,
            vec![Reject::UnknownTopic]
        );
        assert_eq!(
            dec.decode("plant/pump-1/temp/x", b"1", 0).rejects,
            vec![Reject::UnknownTopic]
        );
        assert_eq!(
            dec.decode("plant/pump-9/temp", b"1", 0).rejects,
            vec![Reject::UnknownAsset]
        );
        assert_eq!(
            dec.decode("plant/pump-1/temp", &[b'1'; 2000], 0).rejects,
            vec![Reject::Oversize]
        );
        assert_eq!(
            dec.decode("plant/pump-1/temp", b"null", 0).rejects,
            vec![Reject::NotNumeric]
        );
    }
}
