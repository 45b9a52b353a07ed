//! What a gateway checks before it acts on a command, in this order: the envelope's size and
//! form, a trusted key, the signature, the command's form and schema, whether it is for this
//! gateway, its validity window, its id (seen before?) and its `seq` (above the last one
//! accepted?). Each refusal has a reason, named for the status's counts. Plain state: what
//! must survive a restart (`last_seq`, the trusted keys after a rotation) is read back by the
//! caller, which stores it.

use std::collections::{BTreeMap, HashSet, VecDeque};

use ed25519_dalek::VerifyingKey;

use super::keys::{self, TrustedKey};
use super::{signed_bytes, Action, Command, Envelope, COMMAND_SCHEMA, MAX_ENVELOPE_BYTES};

/// Clock skew tolerated between the signer and the gateway.
pub const MAX_SKEW_NS: i64 = 300_000_000_000;
/// Command ids remembered (a re-delivery within these is `duplicate`; older ones are refused
/// by `seq` anyway).
pub const REMEMBERED_IDS: usize = 1024;

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    TooLarge,
    Malformed,
    UnknownKey,
    BadSignature,
    UnknownSchema,
    Expired,
    NotYetValid,
    Duplicate,
    Replayed,
    BadRotation,
}

impl Refusal {
    /// The name the status counts it under.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::TooLarge => "too_large",
            Refusal::Malformed => "malformed",
            Refusal::UnknownKey => "unknown_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::UnknownSchema => "unknown_schema",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::Duplicate => "duplicate",
            Refusal::Replayed => "replayed",
            Refusal::BadRotation => "bad_rotation",
        }
    }
}

/// The gate's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signed, valid, new: act on it (key rotations are already applied).
    Accept(Command),
    /// Signed and valid, but for other gateways.
    NotForUs,
    Refuse(Refusal, String),
}

pub struct Gate {
    gateway: String,
    tags: BTreeMap<String, String>,
    keys: BTreeMap<String, VerifyingKey>,
    last_seq: u64,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl Gate {
    /// A gate trusting `trusted` (at least one key, each checked), having accepted commands up
    /// to `last_seq`.
    pub fn new(
        gateway: &str,
        tags: BTreeMap<String, String>,
        trusted: &[TrustedKey],
        last_seq: u64,
    ) -> Result<Gate, String> {
        let mut keys = BTreeMap::new();
        for k in trusted {
            let key = k
                .verifying_key()
                .map_err(|e| format!("key {}: {e}", k.id))?;
            keys.insert(k.id.clone(), key);
        }
        if keys.is_empty() {
            return Err("no trusted key".into());
        }
        Ok(Gate {
            gateway: gateway.to_string(),
            tags,
            keys,
            last_seq,
            seen: HashSet::new(),
            order: VecDeque::new(),
        })
    }

    /// The highest `seq` accepted (to be stored).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The ids of the keys trusted now.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }

    /// Check one envelope as read from the commands topic.
    pub fn check(&mut self, bytes: &[u8], now_ns: i64) -> Verdict {
        use Refusal::*;
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Verdict::Refuse(TooLarge, format!("{} bytes", bytes.len()));
        }
        let envelope: Envelope = match serde_json::from_slice(bytes) {
            Ok(e) => e,
            Err(e) => return Verdict::Refuse(Malformed, format!("envelope: {e}")),
        };
        let Some(key) = self.keys.get(&envelope.key_id) else {
            let id: String = envelope.key_id.chars().take(32).collect();
            return Verdict::Refuse(UnknownKey, format!("key id {id:?}"));
        };
        if !keys::verify(key, &signed_bytes(&envelope.command), &envelope.signature) {
            return Verdict::Refuse(BadSignature, format!("key {}", envelope.key_id));
        }
        // Signed by a trusted key from here on.
        let command: Command = match serde_json::from_str(&envelope.command) {
            Ok(c) => c,
            Err(e) => return Verdict::Refuse(Malformed, format!("command: {e}")),
        };
        if command.schema != COMMAND_SCHEMA {
            return Verdict::Refuse(UnknownSchema, command.schema.chars().take(64).collect());
        }
        if !command.target.includes(&self.gateway, &self.tags) {
            return Verdict::NotForUs;
        }
        if now_ns >= command.expires_ns {
            return Verdict::Refuse(Expired, format!("{} expired", command.id));
        }
        if command.issued_ns > now_ns.saturating_add(MAX_SKEW_NS) {
            return Verdict::Refuse(NotYetValid, format!("{} issued in the future", command.id));
        }
        if self.seen.contains(&command.id) {
            return Verdict::Refuse(Duplicate, command.id.clone());
        }
        if command.seq <= self.last_seq {
            return Verdict::Refuse(
                Replayed,
                format!("{}: seq {} ≤ {}", command.id, command.seq, self.last_seq),
            );
        }
        if let Action::RotateKeys { add, remove } = &command.action {
            if let Err(why) = self.rotate(add, remove) {
                return Verdict::Refuse(BadRotation, format!("{}: {why}", command.id));
            }
        }
        self.last_seq = command.seq;
        self.remember(&command.id);
        Verdict::Accept(command)
    }

    fn remember(&mut self, id: &str) {
        self.seen.insert(id.to_string());
        self.order.push_back(id.to_string());
        while self.order.len() > REMEMBERED_IDS {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }

    /// Apply a rotation, all or nothing.
    fn rotate(&mut self, add: &[TrustedKey], remove: &[String]) -> Result<(), String> {
        let mut keys = self.keys.clone();
        for id in remove {
            keys.remove(id);
        }
        for k in add {
            let key = k
                .verifying_key()
                .map_err(|e| format!("key {}: {e}", k.id))?;
            keys.insert(k.id.clone(), key);
        }
        if keys.is_empty() {
            return Err("it would leave no trusted key".into());
        }
        self.keys = keys;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
