//! Model packages: `manifest.toml` text and ONNX bytes, as a package copied onto a gateway.
//!
//! Input: two bytes (little-endian) giving the manifest's length, the manifest text, then the
//! ONNX file. The manifest goes through `Manifest::parse`; the ONNX bytes through the resource
//! limits (`model::limits::check_bytes`: the wire walk, the protobuf decode, the decoded
//! graph). These are what the agent
//! itself runs on a package it has not checked yet; tract runs on such a package only in the
//! verification child, under memory, CPU and time limits (`model::verify`), whose job is to
//! contain tract's own aborts, blow-ups and hangs. So tract is not fuzzed here: its slow or
//! huge graphs would be reported as timeouts and out-of-memory of this target, not of the
//! agent.
//!
//! Invariants: no input panics, aborts or grows; an accepted manifest holds every bound of
//! `model::manifest::bounds` (window points, hop, rate, list lengths); a file the limits accept
//! decodes within `MAX_DECODED_BYTES` and `MAX_GRAPH_NODES`.

#![no_main]

use forewarn::model::limits;
use forewarn::model::manifest::bounds::*;
use forewarn::model::manifest::Manifest;
use forewarn::window::WindowSpec;
use libfuzzer_sys::fuzz_target;

fn check_manifest(m: &Manifest) {
    let signals = m.signals.len();
    assert!((1..=MAX_SIGNALS).contains(&signals), "{signals} signals");
    assert!((1..=MAX_FEATURES).contains(&m.features.len()));
    assert!((1..=MAX_GOLDEN).contains(&m.golden.len()));
    assert!(m.alerts.len() <= MAX_ALERTS);
    assert!(m.output_len() <= MAX_LABELS);
    let len = m.window.shape().len;
    assert!(
        len >= 1 && len * signals <= MAX_WINDOW_POINTS,
        "{len} x {signals}"
    );
    match m.window {
        WindowSpec::Samples {
            hop,
            sample_rate_hz,
            ..
        } => {
            assert!(hop >= 1 && hop <= len);
            assert!((MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&sample_rate_hz));
        }
        WindowSpec::Time {
            secs,
            hop_secs,
            sample_rate_hz,
            lateness_secs,
            ..
        } => {
            assert!(
                hop_secs >= MIN_HOP_SECS && hop_secs <= secs,
                "hop {hop_secs}"
            );
            assert!(secs <= MAX_WINDOW_SECS);
            assert!((MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&sample_rate_hz));
            assert!((0.0..=MAX_LATENESS_SECS).contains(&lateness_secs));
        }
    }
    for a in &m.alerts {
        assert!(a.on.is_finite() && a.off.is_finite());
        assert!(1 <= a.k && a.k <= a.n && a.n <= MAX_DEBOUNCE_N);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (manifest, onnx) = rest.split_at(len);
    let manifest = std::str::from_utf8(manifest)
        .ok()
        .and_then(|t| match Manifest::parse(t) {
            Ok(m) => {
                check_manifest(&m);
                Some(m)
            }
            Err(e) => {
                assert!(!e.0.is_empty(), "refused without a problem");
                None
            }
        });
    let _ = manifest;
    if let Some(Ok(usage)) = limits::check_bytes(onnx) {
        assert!(usage.decoded <= limits::MAX_DECODED_BYTES);
        assert!(usage.nodes <= limits::MAX_GRAPH_NODES);
    }
});
