//! Gzips what `forewarn demo` embeds (its recordings and the three shipped model packages) into
//! `OUT_DIR`, and writes `demo_files.rs`, the table `src/demo.rs` includes: (path, gzip'd
//! bytes). Embedded as they are, the files were 1.4 MB of every gateway's binary; gzip'd, 0.25 MB.

use std::io::Write;
use std::path::{Path, PathBuf};

/// (path written in the demo's directory, where it is in the repository).
const FILES: [(&str, &str); 11] = [
    (
        "recordings/turbofan-fd001-test-units.csv",
        "firmware-config",
    ),
    ("recordings/tep-reactor.csv", "firmware-config"),
    ("recordings/cwru-bearing-healthy.csv", "firmware-config"),
    ("recordings/cwru-bearing-worn.csv", "firmware-config"),
    ("recordings/ai4i-mill.csv", "firmware-config"),
    ("turbofan-rul/manifest.toml", "models"),
    ("turbofan-rul/model.onnx", "models"),
    ("bearing-fault/manifest.toml", "models"),
    ("bearing-fault/model.onnx", "models"),
    ("process-failure/manifest.toml", "models"),
    ("process-failure/model.onnx", "models"),
];

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut table = String::from(
        "/// (path, gzip'd contents) of every file the demo writes; made by build.rs.\n",
    );
    table.push_str(&format!(
        "const FILES: [(&str, &[u8]); {}] = [\n",
        FILES.len()
    ));
    for (path, root) in FILES {
        let from = Path::new(root).join(path);
        println!("cargo:rerun-if-changed={}", from.display());
        let bytes = std::fs::read(&from)
            .unwrap_or_else(|e| panic!("build.rs: reading {}: {e}", from.display()));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes).expect("gzip into memory");
        let gz = gz.finish().expect("gzip into memory");
        let name = format!("demo-{}.gz", path.replace('/', "-"));
        std::fs::write(out.join(&name), gz)
            .unwrap_or_else(|e| panic!("build.rs: writing {name}: {e}"));
        table.push_str(&format!(
            "    ({path:?}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}\"))),\n"
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("demo_files.rs"), table).expect("build.rs: writing demo_files.rs");
    println!("cargo:rerun-if-changed=build.rs");
}
