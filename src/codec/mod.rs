//! Encodings of records, for Kafka payloads and for the outbox.
//!
//! All CBOR goes through this module, with ciborium (it replaced serde_cbor 0.11, unmaintained
//! upstream). The two write the same bytes for our records, and records that serde_cbor wrote
//! into outboxes decode to the same records (tests: the fixture in
//! `tests/fixtures/cbor/records-serde_cbor-0.11.2.hex`).
//!
//! Decoding outside bytes ([`from_cbor`], [`cbor_to_json`]) is bounded: at most
//! [`MAX_CBOR_DEPTH`] nested arrays, maps and tags (serde_cbor's limit); nothing is allocated
//! from a length prefix (a header claiming 2^64 items or bytes fails at the end of the input,
//! having allocated only what the input held); bytes after the document are an error.

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, Visitor};
use serde::{Deserialize, Serialize};

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

/// How deeply CBOR arrays, maps and tags may nest in decoded bytes (serde_cbor's limit, which
/// the MQTT decoder kept: one level less than serde_json's 128 for JSON payloads).
pub const MAX_CBOR_DEPTH: usize = 127;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cbor: {0}")]
    CborEncode(#[from] ciborium::ser::Error<std::io::Error>),
    #[error("cbor: {0}")]
    CborDecode(#[from] ciborium::de::Error<std::io::Error>),
    #[error("cbor: {0} bytes after the document")]
    TrailingBytes(usize),
    #[error("cbor: value has no JSON form (byte string, big integer or non-text map key)")]
    NoJsonForm,
}

/// Encode the record's body (without the `kind` tag: the topic says what it is).
pub fn encode_payload(record: &Record, encoding: Encoding) -> Result<Vec<u8>, CodecError> {
    match (record, encoding) {
        (Record::Telemetry(t), Encoding::Json) => Ok(serde_json::to_vec(t)?),
        (Record::Alert(a), Encoding::Json) => Ok(serde_json::to_vec(a)?),
        (Record::Status(s), Encoding::Json) => Ok(serde_json::to_vec(s)?),
        (Record::Baseline(b), Encoding::Json) => Ok(serde_json::to_vec(b)?),
        (Record::Telemetry(t), Encoding::Cbor) => to_cbor(t),
        (Record::Alert(a), Encoding::Cbor) => to_cbor(a),
        (Record::Status(s), Encoding::Cbor) => to_cbor(s),
        (Record::Baseline(b), Encoding::Cbor) => to_cbor(b),
    }
}

pub fn to_cbor<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out)?;
    Ok(out)
}

/// Decode one CBOR document that fills `bytes` exactly.
pub fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let mut rest = bytes;
    let value = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_CBOR_DEPTH)?;
    match rest.len() {
        0 => Ok(value),
        n => Err(CodecError::TrailingBytes(n)),
    }
}

/// Decode a CBOR document into a JSON value tree (used by the MQTT payload decoder, so that JSON
/// and CBOR payloads share one interpretation). CBOR can carry NaN and infinities, which JSON
/// cannot: they become the strings `"NaN"`, `"inf"`, `"-inf"`, which the decoder rejects as
/// non-finite (rather than as "not a number"). Tags are read through (the tagged item counts).
/// Byte strings, big integers (tags 2 and 3) and non-text map keys are errors. Integers outside
/// `i64` become floats. Of a map's repeated keys the last counts.
pub fn cbor_to_json(bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
    match from_cbor::<Tree>(bytes)? {
        Tree::Json(v) => Ok(v),
        Tree::NoJsonForm => Err(CodecError::NoJsonForm),
    }
}

/// A CBOR item as JSON, or the mark of an item JSON cannot say. The mark is kept rather than
/// failing at once so that a map entry a later repeat of its key replaces does not count (as
/// with serde_cbor, which read the whole document before converting it).
enum Tree {
    Json(serde_json::Value),
    NoJsonForm,
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a CBOR item")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Json(v.into()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::Json(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tree, E> {
        Ok(Tree::Json(match i64::try_from(v) {
            Ok(v) => v.into(),
            Err(_) => (v as f64).into(),
        }))
    }

    /// A negative integer below `i64::MIN` (CBOR's reach down to -2^64), or a big integer.
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Tree, E> {
        Ok(if (-(1i128 << 64)..i128::from(i64::MIN)).contains(&v) {
            Tree::Json((v as f64).into())
        } else {
            Tree::NoJsonForm
        })
    }

    /// Only big integers (tag 2) arrive here.
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Tree, E> {
        Ok(Tree::NoJsonForm)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tree, E> {
        Ok(Tree::Json(if v.is_finite() {
            v.into()
        } else {
            v.to_string().into()
        }))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Json(v.into()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Tree, E> {
        Ok(Tree::Json(v.into()))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Tree, E> {
        Ok(Tree::NoJsonForm)
    }

    fn visit_none<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Json(serde_json::Value::Null))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Tree, E> {
        Ok(Tree::Json(serde_json::Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        Tree::deserialize(d)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        // Not `with_capacity(seq.size_hint())`: the length is the sender's claim.
        let mut items = Vec::new();
        let mut json = true;
        while let Some(item) = seq.next_element::<Tree>()? {
            match item {
                Tree::Json(v) if json => items.push(v),
                Tree::Json(_) => {}
                Tree::NoJsonForm => json = false,
            }
        }
        Ok(if json {
            Tree::Json(items.into())
        } else {
            Tree::NoJsonForm
        })
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries = std::collections::BTreeMap::new();
        let mut text_keys = true;
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<Tree>()?;
            match key {
                Key::Text(k) => {
                    entries.insert(k, value);
                }
                Key::Other => text_keys = false,
            }
        }
        let mut object = serde_json::Map::new();
        for (k, v) in entries {
            match v {
                Tree::Json(v) if text_keys => {
                    object.insert(k, v);
                }
                _ => return Ok(Tree::NoJsonForm),
            }
        }
        Ok(if text_keys {
            Tree::Json(object.into())
        } else {
            Tree::NoJsonForm
        })
    }

    /// A tag (ciborium hands it over as an enum): the tagged item is the value.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Tree, A::Error> {
        use de::VariantAccess;
        let (IgnoredAny, item) = data.variant::<IgnoredAny>()?;
        item.newtype_variant::<Tree>()
    }
}

/// A map key: text (through tags), or any other item, read whole and set aside.
enum Key {
    Text(String),
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a CBOR map key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key::Text(v.into()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
        Ok(Key::Text(v))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Key, A::Error> {
        use de::VariantAccess;
        let (IgnoredAny, item) = data.variant::<IgnoredAny>()?;
        item.newtype_variant::<Key>()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Key, E> {
        Ok(Key::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Key, E> {
        Ok(Key::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Key, E> {
        Ok(Key::Other)
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Key, E> {
        Ok(Key::Other)
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Key, E> {
        Ok(Key::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Key, E> {
        Ok(Key::Other)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Key, E> {
        Ok(Key::Other)
    }

    fn visit_none<E: de::Error>(self) -> Result<Key, E> {
        Ok(Key::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
        Ok(Key::Other)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        Key::deserialize(d)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
        while seq.next_element::<Tree>()?.is_some() {}
        Ok(Key::Other)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        while map.next_entry::<Key, Tree>()?.is_some() {}
        Ok(Key::Other)
    }
}

#[cfg(test)]
mod tests;
