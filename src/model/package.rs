//! A model package on disk: `manifest.toml` (at most 1 MiB) + the ONNX file (at most 64 MiB).
//! Reading checks the sizes before reading, the manifest and the file's sha256;
//! [`Package::verify`] runs the golden vectors through a loaded model.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::bounds::MAX_MANIFEST_BYTES;
use super::manifest::{Manifest, ManifestErrors};
use super::onnx::ModelError;
use super::runner::InferError;
use crate::features::FeatureError;

/// Largest ONNX file accepted (a gateway model is kilobytes to a few megabytes).
pub const MAX_ONNX_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {errors}", path.display())]
    Manifest {
        path: PathBuf,
        errors: ManifestErrors,
    },
    #[error("{}: sha256 is {actual}, the manifest says {expected}", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{}: {size} bytes is larger than the {max}-byte limit", path.display())]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("model {name} {version}: {reason}")]
    Model {
        name: String,
        version: String,
        reason: String,
    },
    #[error("model {name} {version}: input.features: {source}")]
    Features {
        name: String,
        version: String,
        source: FeatureError,
    },
    #[error("model {name} {version}: {source}")]
    Load {
        name: String,
        version: String,
        source: Box<ModelError>,
    },
    #[error("model {name} {version}: {source}")]
    Infer {
        name: String,
        version: String,
        source: Box<InferError>,
    },
    #[error(
        "model {name} {version}: golden vector {index} gave {got:?}, expected {expected:?} (max difference {diff:.3e} > {tolerance:.1e})"
    )]
    Golden {
        name: String,
        version: String,
        index: usize,
        got: Vec<f32>,
        expected: Vec<f32>,
        diff: f32,
        tolerance: f32,
    },
}

/// A package read from disk, checksum verified, not yet loaded into a runtime.
#[derive(Debug, Clone)]
pub struct Package {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub onnx: Vec<u8>,
}

fn read(path: &Path) -> Result<Vec<u8>, PackageError> {
    std::fs::read(path).map_err(|source| PackageError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Package {
    /// Read `dir/manifest.toml` and the ONNX file it names, and check the checksum.
    pub fn read(dir: &Path) -> Result<Package, PackageError> {
        let manifest = read_manifest(dir)?;
        let onnx_path = dir.join(&manifest.onnx);
        let size = std::fs::metadata(&onnx_path)
            .map_err(|source| PackageError::Read {
                path: onnx_path.clone(),
                source,
            })?
            .len();
        if size > MAX_ONNX_BYTES {
            return Err(PackageError::TooLarge {
                path: onnx_path,
                size,
                max: MAX_ONNX_BYTES,
            });
        }
        let onnx = read(&onnx_path)?;
        let actual = sha256_hex(&onnx);
        if actual != manifest.sha256 {
            return Err(PackageError::Checksum {
                path: onnx_path,
                expected: manifest.sha256.clone(),
                actual,
            });
        }
        Ok(Package {
            dir: dir.to_path_buf(),
            manifest,
            onnx,
        })
    }

    fn model_error(&self, reason: impl Into<String>) -> PackageError {
        PackageError::Model {
            name: self.manifest.name.clone(),
            version: self.manifest.version.clone(),
            reason: reason.into(),
        }
    }

    /// Run every golden vector through `run` (raw features in, the manifest's output tensor
    /// out, normalisation applied here) and compare.
    pub fn verify(
        &self,
        mut run: impl FnMut(&[f32]) -> Result<Vec<f32>, InferError>,
    ) -> Result<(), PackageError> {
        let m = &self.manifest;
        let mut input = vec![0f32; m.features.len()];
        for (index, g) in m.golden.iter().enumerate() {
            input.copy_from_slice(&g.features);
            normalize(m, &mut input);
            let got = run(&input).map_err(|e| PackageError::Infer {
                name: m.name.clone(),
                version: m.version.clone(),
                source: Box::new(e),
            })?;
            if got.len() != m.output_len() {
                return Err(self.model_error(format!(
                    "output {:?} has {} values, the manifest declares {}",
                    m.output_name,
                    got.len(),
                    m.output_len()
                )));
            }
            let diff = if got.len() == g.output.len() {
                got.iter()
                    .zip(&g.output)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, |acc, d| {
                        if d.is_nan() {
                            f32::INFINITY
                        } else {
                            acc.max(d)
                        }
                    })
            } else {
                f32::INFINITY
            };
            if diff > g.tolerance {
                return Err(PackageError::Golden {
                    name: m.name.clone(),
                    version: m.version.clone(),
                    index,
                    got,
                    expected: g.output.clone(),
                    diff,
                    tolerance: g.tolerance,
                });
            }
        }
        Ok(())
    }
}

/// Read and parse `dir/manifest.toml` only (size-limited; the ONNX file is not read).
pub fn read_manifest(dir: &Path) -> Result<Manifest, PackageError> {
    let manifest_path = dir.join("manifest.toml");
    let max = MAX_MANIFEST_BYTES as u64;
    let size = std::fs::metadata(&manifest_path)
        .map_err(|source| PackageError::Read {
            path: manifest_path.clone(),
            source,
        })?
        .len();
    if size > max {
        return Err(PackageError::TooLarge {
            path: manifest_path,
            size,
            max,
        });
    }
    let text = String::from_utf8_lossy(&read(&manifest_path)?).into_owned();
    let manifest = Manifest::parse(&text).map_err(|errors| PackageError::Manifest {
        path: manifest_path.clone(),
        errors,
    })?;
    Ok(manifest)
}

/// [`crate::config::PackageReader`] for validating a provisioning file: the manifest's name
/// and signals, without reading or hashing the ONNX file (the model stage and `check-config`
/// check the whole package, in a child process).
pub struct ManifestReader;

impl crate::config::PackageReader for ManifestReader {
    fn manifest(
        &self,
        dir: &Path,
    ) -> Result<crate::config::PackageInfo, crate::config::PackageReadError> {
        let m = read_manifest(dir).map_err(|e| crate::config::PackageReadError(Box::new(e)))?;
        Ok(crate::config::PackageInfo {
            name: m.name,
            signals: m.signals,
        })
    }

    fn features(
        &self,
        signal: &str,
        kinds: &[String],
        samples: usize,
        sample_rate_hz: f64,
    ) -> Result<Vec<String>, String> {
        detector_features(signal, kinds, samples, sample_rate_hz)
    }
}

/// A detector's feature kinds for one signal (`rms`, `band_energy[0,500]`): parsed, checked
/// over windows of `samples` at `sample_rate_hz` (every band holds a bin), and in their
/// canonical form.
pub fn detector_features(
    signal: &str,
    kinds: &[String],
    samples: usize,
    sample_rate_hz: f64,
) -> Result<Vec<String>, String> {
    use crate::features::{FeatureExtractor, FeatureName, FeatureSet, SignalShape};
    let mut names = Vec::with_capacity(kinds.len());
    for k in kinds {
        let name: FeatureName = format!("{signal}.{k}")
            .parse()
            .map_err(|e| format!("`{k}`: {e}"))?;
        if name.signal != signal {
            return Err(format!("`{k}`: give the feature without its signal"));
        }
        names.push(name);
    }
    let canonical: Vec<String> = names.iter().map(|n| n.feature.to_string()).collect();
    let set = FeatureSet::new(names).map_err(|e| e.to_string())?;
    let shape = SignalShape {
        len: samples,
        sample_rate_hz,
    };
    FeatureExtractor::new(set, &[shape]).map_err(|e| e.to_string())?;
    Ok(canonical)
}

/// Apply the manifest's normalisation in place: `(x − mean) / std`.
pub fn normalize(m: &Manifest, x: &mut [f32]) {
    if let Some((mean, std)) = &m.normalize {
        for ((v, mu), sd) in x.iter_mut().zip(mean).zip(std) {
            *v = (*v - mu) / sd;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[model]
name = "m"
version = "1"
onnx = "model.onnx"
sha256 = "SHA"

[input]
signals = ["x"]
features = ["x.mean", "x.std"]
window = { samples = 4, hop = 4, sample_rate_hz = 1.0 }

[input.normalize]
mean = [1.0, 2.0]
std = [2.0, 4.0]

[output]
kind = "regression"
name = "y"

[[golden]]
features = [3.0, 6.0]
output = [2.0]
"#;

    fn package(dir: &Path, onnx: &[u8], sha: &str) {
        std::fs::write(dir.join("model.onnx"), onnx).unwrap();
        std::fs::write(dir.join("manifest.toml"), MANIFEST.replace("SHA", sha)).unwrap();
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_package_with_a_wrong_checksum_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        package(dir.path(), b"onnx bytes", &sha256_hex(b"other bytes"));
        let e = Package::read(dir.path()).unwrap_err();
        assert!(matches!(e, PackageError::Checksum { .. }), "{e}");
        assert!(e.to_string().contains("the manifest says"), "{e}");
    }

    #[test]
    fn golden_vectors_are_normalised_and_compared() {
        let dir = tempfile::tempdir().unwrap();
        package(dir.path(), b"onnx", &sha256_hex(b"onnx"));
        let p = Package::read(dir.path()).unwrap();
        // Normalised input is [(3-1)/2, (6-2)/4] = [1, 1]; a "model" summing its inputs gives 2.
        p.verify(|x| Ok(vec![x.iter().sum()])).unwrap();
        let e = p
            .verify(|x| Ok(vec![x.iter().sum::<f32>() + 0.01]))
            .unwrap_err();
        assert!(matches!(e, PackageError::Golden { index: 0, .. }), "{e}");
        let e = p.verify(|_| Ok(vec![2.0, 0.0])).unwrap_err();
        assert!(e.to_string().contains("declares 1"), "{e}");
        let e = p.verify(|_| Ok(vec![f32::NAN])).unwrap_err();
        assert!(matches!(e, PackageError::Golden { .. }), "{e}");
        let e = p
            .verify(|_| Err(InferError::NoOutput("probabilities".into())))
            .unwrap_err();
        assert!(matches!(e, PackageError::Infer { .. }), "{e}");
        assert!(
            e.to_string().contains("has no output \"probabilities\""),
            "{e}"
        );
    }

    #[test]
    fn the_manifest_reader_neither_reads_nor_hashes_the_onnx_file() {
        use crate::config::PackageReader;
        let dir = tempfile::tempdir().unwrap();
        // A checksum that does not match and then no ONNX file at all: validating a
        // provisioning file needs only the manifest's name and signals.
        package(dir.path(), b"onnx bytes", &sha256_hex(b"other bytes"));
        std::fs::remove_file(dir.path().join("model.onnx")).unwrap();
        let info = ManifestReader.manifest(dir.path()).unwrap();
        assert_eq!(info.name, "m");
        assert_eq!(info.signals, ["x"]);
        assert!(Package::read(dir.path()).is_err());
        std::fs::write(dir.path().join("manifest.toml"), "[model]\nname = 1").unwrap();
        let e = ManifestReader.manifest(dir.path()).unwrap_err();
        assert!(e.to_string().contains("manifest.toml"), "{e}");
    }

    #[test]
    fn a_missing_or_bad_manifest_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Package::read(dir.path()).unwrap_err();
        assert!(e.to_string().contains("manifest.toml"), "{e}");
        std::fs::write(dir.path().join("manifest.toml"), "[model]\nname = 1").unwrap();
        let e = Package::read(dir.path()).unwrap_err();
        assert!(matches!(e, PackageError::Manifest { .. }), "{e}");
    }

    #[test]
    fn detector_features_are_canonical_and_checked_against_their_window() {
        let kinds = ["rms".to_string(), "band_energy[ 0 , 500 ]".to_string()];
        assert_eq!(
            detector_features("vib", &kinds, 2048, 12000.0).unwrap(),
            ["rms", "band_energy[0,500]"]
        );
        // 256 samples at 12 kHz: bins 46.875 Hz apart, none in [10, 20).
        let e = detector_features("vib", &["band_energy[10,20]".into()], 256, 12000.0).unwrap_err();
        assert!(e.contains("10"), "{e}");
        let e = detector_features("vib", &["loudness".into()], 256, 12000.0).unwrap_err();
        assert!(e.contains("`loudness`"), "{e}");
        let e = detector_features("vib", &["x.rms".into()], 256, 12000.0).unwrap_err();
        assert!(e.contains("without its signal"), "{e}");
    }
}
