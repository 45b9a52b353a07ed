//! Signed commands from the center: the format a command travels in, its Ed25519 signature,
//! and the checks a gateway makes before it acts on one ([`gate::Gate`]). The fleet tool signs
//! (`forewarn-fleet keygen`, `sign`, `verify`); nothing unsigned changes a gateway.
//!
//! **On the wire** a command is an [`Envelope`], a JSON object: `command` (the [`Command`] as
//! JSON text, exactly the bytes that were signed, so no canonical form is needed), `key_id`
//! (which trusted key signed it) and `signature` (hex Ed25519 over `forewarn.command.v1\n`
//! followed by the `command` text; the prefix keeps a signature from meaning anything in
//! another protocol).
//!
//! **Replay:** every command has a unique `id` and a `seq`: a gateway keeps the highest `seq`
//! it accepted and refuses any command at or below it (`replayed`), and an `id` it has seen
//! (`duplicate`, e.g. Kafka delivering again). The fleet tool's `seq` is the signing time in
//! microseconds (or more than the last one it was given), so signers need no shared counter.
//! A command is valid from `issued_ns` (up to 5 minutes of clock skew tolerated) until
//! `expires_ns`.

pub mod gate;
pub mod keys;
mod schema;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use self::keys::{KeyError, SecretKey, TrustedKey};
pub use self::schema::json_schemas;

pub const COMMAND_SCHEMA: &str = "forewarn.command.v1";
/// The title of the envelope's JSON Schema.
pub const ENVELOPE_SCHEMA: &str = "forewarn.command_envelope.v1";

/// What is signed is this prefix, then the command's JSON text.
const DOMAIN: &[u8] = b"forewarn.command.v1\n";

/// The largest envelope a gateway reads.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// Which gateways a command is for: those named, and those whose tags include every tag
/// given. A command naming none of either is for no one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl Target {
    pub fn includes(&self, gateway: &str, tags: &BTreeMap<String, String>) -> bool {
        self.gateways.iter().any(|g| g == gateway)
            || (!self.tags.is_empty() && self.tags.iter().all(|(k, v)| tags.get(k) == Some(v)))
    }
}

/// What a command asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Answer with a result; changes nothing.
    Ping,
    /// Learn a new baseline beside the one scoring (every asset of the detector, or one).
    Relearn {
        detector: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        asset: Option<String>,
    },
    /// Forget a baseline: the detector learns again from its next step.
    ResetBaseline {
        detector: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        asset: Option<String>,
    },
    /// Change the trusted keys: add some, remove some (by id). Signed with a key trusted
    /// before the change; a change that would leave no key is refused.
    RotateKeys {
        #[serde(default)]
        add: Vec<TrustedKey>,
        #[serde(default)]
        remove: Vec<String>,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Ping => "ping",
            Action::Relearn { .. } => "relearn",
            Action::ResetBaseline { .. } => "reset_baseline",
            Action::RotateKeys { .. } => "rotate_keys",
        }
    }
}

/// One command, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Command {
    pub schema: String,
    /// Unique per command: one seen before is not run again.
    pub id: String,
    pub target: Target,
    /// Above every `seq` the gateway accepted before.
    pub seq: u64,
    /// Valid from (less 5 minutes of clock skew) until: ns since the epoch.
    pub issued_ns: i64,
    pub expires_ns: i64,
    pub action: Action,
}

/// A signed command as the commands topic carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The command's JSON text, exactly as signed.
    pub command: String,
    pub key_id: String,
    /// Hex Ed25519 signature of `forewarn.command.v1\n` + `command`.
    pub signature: String,
}

/// Sign `command` with `key`.
pub fn sign(command: &Command, key: &SecretKey) -> Envelope {
    // A struct of strings, numbers and maps always serialises.
    let text = serde_json::to_string(command).unwrap_or_default();
    let signature = key.sign(&signed_bytes(&text));
    Envelope {
        command: text,
        key_id: key.id(),
        signature: crate::util::hex(&signature),
    }
}

fn signed_bytes(command: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(DOMAIN.len() + command.len());
    b.extend_from_slice(DOMAIN);
    b.extend_from_slice(command.as_bytes());
    b
}
