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
