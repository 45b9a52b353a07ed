//! Loading a package into the runtime: read (manifest, checksum), load into tract, check the
//! declared output, run the golden vectors. A package that fails any step is refused with the
//! reason; nothing half-loaded is ever used.

use std::path::Path;
use std::sync::Arc;

use super::onnx::OnnxModel;
use super::package::{Package, PackageError};
use super::runner::{Infer, LoadedModel};

/// A tract model reading the manifest's output tensor.
pub struct TractModel {
    pub model: OnnxModel,
    pub output: String,
}

impl Infer for TractModel {
    fn infer(&self, features: &[f32]) -> Result<Vec<f32>, String> {
        let outputs = self.model.run(features).map_err(|e| e.to_string())?;
        outputs
            .get(&self.output)
            .map(|o| o.values.clone())
            .ok_or_else(|| format!("the model has no output {:?}", self.output))
    }
}

/// Read, load and verify the package in `dir`.
pub fn load_package(dir: &Path) -> Result<Arc<LoadedModel>, PackageError> {
    let package = Package::read(dir)?;
    let m = &package.manifest;
    let model_error = |reason: String| PackageError::Model {
        name: m.name.clone(),
        version: m.version.clone(),
        reason,
    };
    let model =
        OnnxModel::load(&package.onnx, m.features.len()).map_err(|e| model_error(e.to_string()))?;
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
