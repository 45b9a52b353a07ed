//! Shared pieces of forewarn's fuzz targets (`fuzz_targets/*.rs`): the provisioning file the
//! decoders are built from, and the invariants every decoded batch must keep.
//!
//! Each target feeds outside bytes to one decoder through forewarn's public API. The property
//! is that no input panics (ARCHITECTURE.md invariant 6: bad input is counted, never a crash);
//! on top of it the targets assert what the decoders promise and is cheap to check: values are
//! finite, event times are not before 1970, names are the provisioned ones, a decoder never
//! reports a reason that belongs to another stage, and no input yields more samples or rejects
//! than it has bytes (memory stays bounded by the input, invariant 5).

use std::path::{Path, PathBuf};

use forewarn::config::Config;
use forewarn::ingest::{AssetIndex, Decoded, Reject};

/// A provisioning file with one source per decoder shape the targets exercise: MQTT sources
/// with and without `{signal}` in the topic pattern and every timestamp unit family, serial
/// sources in each line format. Two assets, so that the `asset` override has somewhere to go.
pub const FUZZ_CONFIG: &str = r#"
[gateway]
id = "fuzz-gw"
site = "fuzz-site"
data_dir = "/nonexistent/forewarn-fuzz"

[kafka]
bootstrap_servers = "127.0.0.1:9092"

[[sources]]
type = "mqtt"
name = "plant"
host = "127.0.0.1"
topics = ["plant/#"]
topic_pattern = "plant/{asset}"
timestamp = { field = "ts" }

[[sources]]
type = "mqtt"
name = "tags"
host = "127.0.0.1"
topics = ["tags/+/+"]
topic_pattern = "tags/{asset}/{signal}"
timestamp = { field = "ts", unit = "ms" }

[[sources]]
type = "mqtt"
name = "site"
host = "127.0.0.1"
topics = ["site/#"]
topic_pattern = "site/+/{asset}/{signal}"
timestamp = { field = "time", unit = "rfc3339" }
max_payload_bytes = 256

[[sources]]
type = "mqtt"
name = "raw"
host = "127.0.0.1"
topics = ["raw/+"]
topic_pattern = "raw/{asset}"
timestamp = { field = "t", unit = "ns" }

[[sources]]
type = "serial"
name = "rs485-csv"
device = "/dev/null"
asset = "pump-1"
format = "csv"
fields = ["ts", "temp", "_", "vib"]
timestamp = { unit = "ms" }
max_frame_bytes = 64

[[sources]]
type = "serial"
name = "rs232-json"
device = "/dev/null"
asset = "pump-1"
format = "json"
timestamp = { field = "ts" }
max_frame_bytes = 1024

[[sources]]
type = "serial"
name = "rs485-kv"
device = "/dev/null"
asset = "fan-2"
format = "kv"
timestamp = { field = "ts", unit = "s" }
max_frame_bytes = 128

[[assets]]
id = "pump-1"
signals = [{ name = "temp", unit = "degC" }, { name = "vib" }]

[[assets]]
id = "fan-2"
signals = [{ name = "rpm" }, { name = "temp" }]
"#;

/// 2026-01-05T08:00:00Z, the arrival time of most fuzzed messages.
pub const ARRIVAL_NS: i64 = 1_767_600_000_000_000_000;

/// The fuzz provisioning file, validated. Panics if it does not validate: that is a broken
/// harness, not a finding, and shows on the first input.
pub fn fuzz_config() -> Config {
    match forewarn::config::parse_str(FUZZ_CONFIG, "fuzz-config.toml", Path::new("/")) {
        Ok(c) => c,
        Err(e) => panic!("the fuzz provisioning file does not validate: {e}"),
    }
}

/// Where the shipped provisioning files live (replay sources resolve their CSV against it).
pub fn firmware_config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-config")
}

/// What every decoder of outside bytes promises about its output.
///
/// `input_len` bounds the output: every sample or reject is paid for by at least one input
/// byte (a single reject for an empty input).
pub fn check_decoded(d: &Decoded, index: &AssetIndex, input_len: usize, what: &str) {
    for s in &d.samples {
        assert!(s.value.is_finite(), "{what}: non-finite sample value {s:?}");
        assert!(s.ts_ns >= 0, "{what}: event time before 1970 {s:?}");
        match index.resolve(&s.asset, &s.signal) {
            Ok((a, sig)) => assert!(
                *a == *s.asset && *sig == *s.signal,
                "{what}: sample names differ from the provisioned ones {s:?}"
            ),
            Err(r) => panic!("{what}: sample with unprovisioned names ({r:?}) {s:?}"),
        }
    }
    for r in &d.rejects {
        assert!(
            !matches!(r, Reject::Overload),
            "{what}: a decoder reported `overload`, which only the source loop may"
        );
    }
    assert!(
        d.samples.len() + d.rejects.len() <= input_len.max(1),
        "{what}: {} samples + {} rejects from {input_len} bytes",
        d.samples.len(),
        d.rejects.len()
    );
}

/// A tiny deterministic generator (xorshift64*), so a target can derive chunk splits from a
/// few input bytes and a crash reproduces from the input file alone.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % n.max(1)
    }
}
