//! A signed command as a gateway reads it from the commands topic
//! (`command::gate::Gate::check`), against a gate trusting one fixed key (the seeds hold
//! envelopes it signed, so the fuzzer starts past the signature).
//!
//! Beyond no panic: an input over the size limit is refused as `too_large`; a command is
//! accepted only if it is for this gateway, in its validity window and above the last `seq`,
//! which then moves to it; the same bytes checked again are never accepted twice.

#![no_main]

use std::collections::BTreeMap;

use forewarn::command::gate::{Gate, Refusal, Verdict, MAX_SKEW_NS};
use forewarn::command::{SecretKey, MAX_ENVELOPE_BYTES};
use libfuzzer_sys::fuzz_target;

/// The key the seeds were signed with (`seeds/command_envelope/key.secret`).
const KEY: &str =
    "forewarn-ed25519-secret 0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";
/// 2030-01-01T00:00:00Z: inside the seeds' validity window.
const NOW: i64 = 1_893_456_000_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = SecretKey::parse(KEY) else {
        return;
    };
    let tags: BTreeMap<String, String> = [("line".to_string(), "3".to_string())].into();
    let Ok(mut gate) = Gate::new("gw-1", tags.clone(), &[key.trusted()], 10) else {
        return;
    };
    match gate.check(data, NOW) {
        Verdict::Accept(c) => {
            assert!(c.target.includes("gw-1", &tags), "accepted for others");
            assert!(c.expires_ns > NOW && c.issued_ns <= NOW + MAX_SKEW_NS);
            assert!(c.seq > 10 && gate.last_seq() == c.seq);
            assert!(!matches!(gate.check(data, NOW), Verdict::Accept(_)), "accepted twice");
            assert!(!gate.key_ids().is_empty(), "no key left");
        }
        Verdict::Refuse(r, _) => {
            assert_eq!(r == Refusal::TooLarge, data.len() > MAX_ENVELOPE_BYTES);
            assert_eq!(gate.last_seq(), 10);
        }
        Verdict::NotForUs => assert_eq!(gate.last_seq(), 10),
    }
});
