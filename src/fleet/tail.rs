//! `forewarn-fleet tail`: forewarn's records as JSON lines, whatever their encoding.

use rdkafka::message::{BorrowedMessage, Message};
use serde_json::{json, Value};

/// One record as a line: where it was read, the headers forewarn sets, and the record decoded
/// from JSON or CBOR (by `content-type`). `Err` says why the payload did not decode.
pub fn line(m: &BorrowedMessage<'_>) -> Result<Value, String> {
    let header = |name: &str| super::consume::header(m, name).map(str::to_string);
    let content_type = header("content-type");
    let payload = m.payload().unwrap_or_default();
    let record = decode(payload, content_type.as_deref())
        .map_err(|e| format!("{}[{}]@{}: {e}", m.topic(), m.partition(), m.offset()))?;
    Ok(json!({
        "topic": m.topic(),
        "partition": m.partition(),
        "offset": m.offset(),
        "key": m.key().map(String::from_utf8_lossy),
        "gateway": header("forewarn-gateway"),
        "seq": header("forewarn-seq").and_then(|s| s.parse::<u64>().ok()),
        "schema": header("forewarn-schema"),
        "content_type": content_type,
        "record": record,
    }))
}

/// A payload as JSON: CBOR when the content type says so, else JSON.
pub fn decode(payload: &[u8], content_type: Option<&str>) -> Result<Value, String> {
    if content_type == Some("application/cbor") {
        crate::codec::cbor_to_json(payload).map_err(|e| format!("CBOR: {e}"))
    } else {
        serde_json::from_slice(payload).map_err(|e| format!("JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_cbor_payloads_decode_to_the_same_record_and_junk_says_why() {
        let record = json!({"schema": "forewarn.status.v1", "ts_ns": 1_796_000_000_000_000_001i64});
        let cbor = crate::codec::to_cbor(&record).expect("CBOR");
        let json_bytes = serde_json::to_vec(&record).expect("JSON");
        assert_eq!(decode(&cbor, Some("application/cbor")), Ok(record.clone()));
        assert_eq!(
            decode(&json_bytes, Some("application/json")),
            Ok(record.clone())
        );
        assert_eq!(decode(&json_bytes, None), Ok(record));
        let e = decode(b"\xff\x00", Some("application/cbor")).expect_err("junk");
        assert!(e.starts_with("CBOR: "), "{e}");
        let e = decode(b"{", None).expect_err("junk");
        assert!(e.starts_with("JSON: "), "{e}");
    }
}
