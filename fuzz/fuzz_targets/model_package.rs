//! Model packages: `manifest.toml` text and ONNX bytes, as a package copied onto a gateway.
//!
//! Input: two bytes (little-endian) giving the manifest's length, the manifest text, then the
//! ONNX file. The manifest goes through `Manifest::parse`; the ONNX bytes through the resource
//! limits (`model::limits`: the wire walk, then the decoded graph) and, when they pass, tract
//! (`OnnxModel::load`, which is what the agent loads in its verification child), then every
//! golden vector of the manifest when both are good.
//!
//! Invariants: no input panics outside what the loader catches, aborts or grows past the
//! limits; an accepted manifest holds every bound of `model::manifest::bounds` (window points,
//! hop, rate, list lengths); the limits' memory estimate of an accepted file is within
//! `MAX_MODEL_BYTES`.
//!
//! tract has `unimplemented!()` paths for exotic files; `OnnxModel::load` catches those panics
//! and refuses the file, as the agent does. libFuzzer's panic hook would abort on them even
//! though they are caught, so this target installs a quiet hook: a panic that escapes the
//! loader still fails the run (libfuzzer-sys aborts on a panic leaving the target).

#![no_main]

use std::sync::Once;

use forewarn::model::limits;
use forewarn::model::manifest::bounds::*;
use forewarn::model::manifest::Manifest;
use forewarn::model::onnx::OnnxModel;
use forewarn::model::package::Package;
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
    static QUIET: Once = Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
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
    let Ok(decoded) = limits::check_file(onnx) else {
        return;
    };
    assert!(decoded <= limits::MAX_DECODED_BYTES);
    let n_features = manifest.as_ref().map_or(2, |m| m.features.len());
    let Ok(model) = OnnxModel::load(onnx, n_features) else {
        return;
    };
    if let Some(m) = manifest {
        let package = Package {
            dir: std::path::PathBuf::new(),
            manifest: m,
            onnx: onnx.to_vec(),
        };
        let _ = package.verify(|x| {
            model
                .run(x)
                .map(|o| {
                    o.iter()
                        .next()
                        .map(|o| o.values.clone())
                        .unwrap_or_default()
                })
                .map_err(|e| e.to_string())
        });
    }
});
