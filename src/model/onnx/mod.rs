//! The ONNX runtime: one model file → one optimised tract plan, loaded once and run many times.
//!
//! Place in the flow: features (`src/features/`) → normalisation → **[`OnnxModel::run`]** →
//! alert rules. The package layer (manifest, sha256, golden vectors) sits above this module and
//! hands it the file's bytes and the number of features.
//!
//! Contract with a model file (see `models/README.md`):
//! - exactly one input, a float32 tensor of shape `[1, F]`, or `[N, F]` with a dynamic `N`
//!   (what skl2onnx and torch.onnx emit with a dynamic batch axis). The input fact is fixed to
//!   `[1, F]` before optimisation, so tract plans for one window at a time;
//! - every output numeric (float, integer or bool). [`OnnxModel::run`] returns each one by
//!   name as flattened f32 values plus its shape; integer outputs (a classifier's `label`) also
//!   keep their exact `i64` values.
//!
//! Everything that can be wrong with a file is found by [`OnnxModel::load`], never later:
//! tract parses an operator it does not know into a placeholder and only fails when optimising,
//! with a message that does not name the operator, so `load` walks the parsed graph first and
//! names every unsupported operator (with the export workaround where one is known). tract
//! also has a few `unimplemented!()` paths for exotic tensor encodings; `load` and `run` catch a
//! panic and turn it into an error, so a bad file cannot take the agent down (this relies on
//! `panic = "unwind"`, the default profile setting).
//!
//! The `ai.onnx.ml` tree ensembles (TreeEnsembleClassifier, TreeEnsembleRegressor) are parsed
//! into forewarn's own op ([`super::trees`], registered in tract's op register before parsing):
//! tract 0.23's own is O(trees × leaf votes) per row, mis-labels two-class models and lacks the
//! regressor. The supported export matrix and its parity tests against onnxruntime live in
//! `models/parity/` and `tests/parity.rs`.
//!
//! Cost: `run` is one tract plan execution (a fresh state each call: ~1–2 µs of the few µs an
//! MLP takes; a 100-tree forest takes about 6 µs).
//!
//! Layout: [`load`](OnnxModel::load) (parse, limits, operator and input checks, optimisation)
//! is in `load.rs`; [`run`](OnnxModel::run) is here; the tensor shapes and conversions both
//! use are in `tensor.rs`, the errors in `error.rs`, and the panic guard around both in
//! `panic.rs`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;

mod error;
mod load;
mod panic;
mod tensor;

pub use error::{ModelError, UnsupportedOp};
pub use tensor::{ElemType, Output, Outputs, TensorInfo};

/// A loaded, checked and optimised ONNX model. Cheap to share (`Arc` inside); `run` takes
/// `&self`, so one model may serve several threads.
#[derive(Clone)]
pub struct OnnxModel {
    plan: Arc<TypedSimplePlan>,
    n_features: usize,
    input: TensorInfo,
    outputs: Vec<TensorInfo>,
}

impl fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxModel")
            .field("input", &self.input)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// Reads the file and [`load`](Self::load)s it.
    pub fn load_file(path: &Path, n_features: usize) -> Result<OnnxModel, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::load(&bytes, n_features)
    }

    /// Parses, checks and optimises an ONNX model taking `n_features` float32 features.
    ///
    /// External tensor data (ONNX files above 2 GB) is not supported: packages are one file.
    pub fn load(bytes: &[u8], n_features: usize) -> Result<OnnxModel, ModelError> {
        if n_features == 0 {
            return Err(ModelError::NoFeatures);
        }
        panic::catch("loading", || load::load(bytes, n_features))
    }
    /// Runs the model on one feature vector (already normalised, in manifest order).
    pub fn run(&self, features: &[f32]) -> Result<Outputs, ModelError> {
        if features.len() != self.n_features {
            return Err(ModelError::FeatureCount {
                expected: self.n_features,
                got: features.len(),
            });
        }
        panic::catch("running", || self.run_inner(features))
    }

    fn run_inner(&self, features: &[f32]) -> Result<Outputs, ModelError> {
        let run_err = |e: TractError| ModelError::Run(format!("{e:#}"));
        let input = Tensor::from_shape(&[1, self.n_features], features).map_err(run_err)?;
        let results = self.plan.run(tvec!(input.into())).map_err(run_err)?;
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for (info, value) in self.outputs.iter().zip(results.iter()) {
            outputs.push(tensor::convert_output(info, value).map_err(run_err)?);
        }
        Ok(Outputs(outputs))
    }

    /// The number of features the model was loaded for.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The model input, as fed: float32 `[1, F]`.
    pub fn input(&self) -> &TensorInfo {
        &self.input
    }

    /// The model outputs, in the order [`run`](Self::run) returns them.
    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }
}

#[cfg(test)]
mod tests;
