//! Loading a package into the runtime: read (manifest, checksum), check the resource limits
//! ([`super::limits`]), load into tract, check the declared output and the feature extractor,
//! run the golden vectors. A package that fails any step is refused with the reason; nothing
//! half-loaded is ever used.
//!
//! The agent never runs this on a package first: [`super::verify`] runs it in a child process
//! under memory, CPU and time limits ([`check_child`] is what the child does), and the agent
//! loads in process only a package the child passed, with the same bytes ([`load_verified`]).

use std::path::Path;
use std::sync::Arc;

use super::onnx::OnnxModel;
use super::package::{Package, PackageError};
use super::runner::{Infer, InferError, LoadedModel};
use super::verify::ChildVerdict;
use crate::features::FeatureExtractor;

/// A tract model reading the manifest's output tensor.
pub struct TractModel {
    pub model: OnnxModel,
    pub output: String,
}

impl Infer for TractModel {
    fn infer(&self, features: &[f32]) -> Result<Vec<f32>, InferError> {
        let outputs = self.model.run(features)?;
        outputs
            .get(&self.output)
            .map(|o| o.values.clone())
            .ok_or_else(|| InferError::NoOutput(self.output.clone()))
    }
}

/// Read, load and verify the package in `dir`.
pub fn load_package(dir: &Path) -> Result<Arc<LoadedModel>, PackageError> {
    load(Package::read(dir)?)
}

/// Load the package in `dir` only if its ONNX file still has the checksum `sha256` (the one a
/// verification child passed): a file replaced since is refused, and checked again later.
pub fn load_verified(dir: &Path, sha256: &str) -> Result<Arc<LoadedModel>, PackageError> {
    let package = Package::read(dir)?;
    if package.manifest.sha256 != sha256 {
        return Err(PackageError::Model {
            name: package.manifest.name.clone(),
            version: package.manifest.version.clone(),
            reason: "the package changed while it was being checked; it is checked again".into(),
        });
    }
    load(package)
}

fn load(package: Package) -> Result<Arc<LoadedModel>, PackageError> {
    let m = &package.manifest;
    let model_error = |reason: String| PackageError::Model {
        name: m.name.clone(),
        version: m.version.clone(),
        reason,
    };
    // The feature extractor the runner will build (band edges against the window's FFT bins).
    let shapes = vec![m.window.shape(); m.features.signals().len()];
    FeatureExtractor::new(m.features.clone(), &shapes).map_err(|source| {
        PackageError::Features {
            name: m.name.clone(),
            version: m.version.clone(),
            source,
        }
    })?;
    let model =
        OnnxModel::load(&package.onnx, m.features.len()).map_err(|e| PackageError::Load {
            name: m.name.clone(),
            version: m.version.clone(),
            source: Box::new(e),
        })?;
    if !model.outputs().iter().any(|o| o.name == m.output_name) {
        let names: Vec<&str> = model.outputs().iter().map(|o| o.name.as_str()).collect();
        return Err(model_error(format!(
            "output.name {:?} is not an output of the model (it has: {})",
            m.output_name,
            names.join(", ")
        )));
    }
    let tract = TractModel {
        model,
        output: m.output_name.clone(),
    };
    package.verify(|x| tract.infer(x))?;
    Ok(Arc::new(LoadedModel {
        manifest: package.manifest.clone(),
        model: Box::new(tract),
    }))
}

/// What the verification child does: load the package as the agent would, and say how it went.
pub fn check_child(dir: &Path) -> ChildVerdict {
    match load_package(dir) {
        Ok(m) => ChildVerdict::Ok {
            name: m.manifest.name.clone(),
            version: m.manifest.version.clone(),
            sha256: m.manifest.sha256.clone(),
        },
        Err(e) => ChildVerdict::Refused {
            reason: e.to_string(),
        },
    }
}
