//! MQTT messages: topic + payload → samples, through the decoder each MQTT source builds from
//! its provisioning section (`forewarn::ingest::payload::MqttDecoder`).
//!
//! Input layout: byte 0 picks the topic (seven fixed topics that match, half-match or miss
//! the patterns, or 7: the topic is the input's first line); byte 1 picks the source (low two
//! bits) and the mode (bit 2: the rest is JSON text that is also sent as CBOR, and both must
//! decode alike); the rest is the payload.

#![no_main]

use std::sync::{Arc, OnceLock};

use forewarn::config::{SourceConfig, TopicLevel};
use forewarn::ingest::payload::{match_topic, parse_document, MqttDecoder};
use forewarn::ingest::{AssetIndex, Decoded, Reject};
use forewarn_fuzz::{check_decoded, fuzz_config, ARRIVAL_NS};
use libfuzzer_sys::fuzz_target;

struct Setup {
    index: Arc<AssetIndex>,
    decoders: Vec<MqttDecoder>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let config = fuzz_config();
        let index = Arc::new(AssetIndex::new(&config.assets));
        // Built as `MqttSource::new` builds its decoder, from the validated section.
        let decoders: Vec<MqttDecoder> = config
            .sources
            .iter()
            .filter_map(|s| match s {
                SourceConfig::Mqtt(m) => Some(MqttDecoder {
                    index: index.clone(),
                    pattern: m.pattern.clone(),
                    timestamp: m.timestamp.clone(),
                    max_payload_bytes: m.max_payload_bytes,
                }),
                _ => None,
            })
            .collect();
        assert_eq!(decoders.len(), 4, "the fuzz config has four MQTT sources");
        Setup { index, decoders }
    })
}

const TOPICS: [&str; 7] = [
    "plant/pump-1",
    "plant/fan-2",
    "tags/pump-1/temp",
    "tags/fan-2/rpm",
    "site/north/fan-2/temp",
    "raw/pump-1",
    "plant/pump-9/extra",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let setup = setup();
    let decoder = &setup.decoders[usize::from(data[1] & 3)];
    let cbor_mode = data[1] & 4 != 0;
    let mut payload = &data[2..];
    let owned_topic;
    let topic: &str = match TOPICS.get(usize::from(data[0] & 7)) {
        Some(t) => t,
        None => {
            let end = payload
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(payload.len());
            owned_topic = String::from_utf8_lossy(&payload[..end]).into_owned();
            payload = payload.get(end + 1..).unwrap_or(&[]);
            &owned_topic
        }
    };

    let decoded = decode(setup, decoder, topic, payload);

    if cbor_mode {
        same_as_cbor(setup, decoder, topic, payload, &decoded);
    }
});

/// Decode and check what every MQTT decode promises.
fn decode(setup: &Setup, decoder: &MqttDecoder, topic: &str, payload: &[u8]) -> Decoded {
    let d = decoder.decode(topic, payload, ARRIVAL_NS);
    check_decoded(&d, &setup.index, payload.len(), "mqtt");
    for r in &d.rejects {
        assert!(
            !matches!(r, Reject::BadUtf8),
            "mqtt: non-UTF-8 payloads are tried as CBOR, so `bad_utf8` cannot come out"
        );
    }
    let whole = |r: Reject| d.samples.is_empty() && d.rejects == [r];
    if payload.len() > decoder.max_payload_bytes {
        assert!(whole(Reject::Oversize), "mqtt: oversize payload gave {d:?}");
    } else if match_topic(&decoder.pattern, topic).is_none() {
        assert!(
            whole(Reject::UnknownTopic),
            "mqtt: unknown topic gave {d:?}"
        );
    } else if let Some((asset, _)) = match_topic(&decoder.pattern, topic) {
        // A sample's asset is the topic's unless the payload overrides it with an `asset` key.
        if !overrides_asset(payload) {
            for s in &d.samples {
                assert_eq!(&*s.asset, asset, "mqtt: sample asset is not the topic's");
            }
        }
    }
    if !decoder.pattern.contains(&TopicLevel::Signal) {
        // Without `{signal}` in the pattern a scalar has no signal to belong to.
        if let Some(n) = payload_number(payload) {
            assert!(
                d.samples.is_empty(),
                "mqtt: bare {n} accepted without a signal"
            );
        }
    }
    d
}

/// The README's promise: a CBOR payload is "the same structure" as JSON. If the payload is
/// JSON, its CBOR encoding must decode to the same samples and rejects.
fn same_as_cbor(
    setup: &Setup,
    decoder: &MqttDecoder,
    topic: &str,
    payload: &[u8],
    from_json: &Decoded,
) {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return;
    };
    let Ok(cbor) = forewarn::codec::to_cbor(&doc) else {
        return;
    };
    // The decoder tries JSON first, so CBOR bytes that happen to be JSON text are read as JSON
    // (the CBOR integers -17..-24 are the single bytes "0".."7"): no CBOR path to compare.
    // Nor where only one of the two encodings is over the size limit.
    if serde_json::from_slice::<serde_json::Value>(&cbor).is_ok()
        || payload.len() > decoder.max_payload_bytes
        || cbor.len() > decoder.max_payload_bytes
    {
        return;
    }
    let from_cbor = decode(setup, decoder, topic, &cbor);
    // Same multiset: the two paths may iterate an object's keys in different orders.
    assert_eq!(
        sorted(from_json),
        sorted(&from_cbor),
        "mqtt: JSON {:?} and its CBOR encoding decode differently",
        String::from_utf8_lossy(payload)
    );
}

fn sorted(d: &Decoded) -> (Vec<String>, Vec<String>) {
    let mut samples: Vec<String> = d
        .samples
        .iter()
        .map(|s| format!("{}/{}@{}={:e}", s.asset, s.signal, s.ts_ns, s.value))
        .collect();
    let mut rejects: Vec<String> = d.rejects.iter().map(|r| r.name().to_string()).collect();
    samples.sort();
    rejects.sort();
    (samples, rejects)
}

/// The payload as a bare JSON number, if it is one.
fn payload_number(payload: &[u8]) -> Option<f64> {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

/// Whether the document (an object, or an array batch of them) has an `asset` key anywhere at
/// item level.
fn overrides_asset(payload: &[u8]) -> bool {
    let has = |v: &serde_json::Value| v.get("asset").is_some();
    match parse_document(payload) {
        Ok(serde_json::Value::Array(items)) => items.iter().any(has),
        Ok(v) => has(&v),
        Err(_) => false,
    }
}
