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

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;
use tract_onnx::tract_hir::ops::unimpl::UnimplementedOp;

/// Why a model could not be loaded or run. Messages are written for an operator reading a log.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("reading ONNX file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the model must take at least one feature (n_features = 0)")]
    NoFeatures,
    #[error("tract could not read the ONNX model: {0}")]
    Parse(String),
    #[error("the model exceeds a resource limit: {0}")]
    Limits(#[from] super::limits::LimitError),
    #[error("tract 0.23 does not support {}", describe_unsupported(.0))]
    UnsupportedOperators(Vec<UnsupportedOp>),
    #[error("the model has {0} inputs; forewarn feeds exactly one float32 tensor [1, F]")]
    InputCount(usize),
    #[error("input `{name}` has element type {found}; forewarn feeds float32")]
    InputType { name: String, found: String },
    #[error("input `{name}` has shape {found}; expected [1, {n_features}] or [N, {n_features}]")]
    InputShape {
        name: String,
        found: String,
        n_features: usize,
    },
    #[error("output `{name}` has element type {found}; forewarn reads numeric outputs only{hint}")]
    OutputType {
        name: String,
        found: String,
        hint: &'static str,
    },
    #[error("tract could not optimise the model: {0}")]
    Optimize(String),
    #[error("expected {expected} features, got {got}")]
    FeatureCount { expected: usize, got: usize },
    #[error("running the model failed: {0}")]
    Run(String),
    #[error("tract panicked while {stage} the model: {message}")]
    Panic {
        stage: &'static str,
        message: String,
    },
}

/// One node whose operator tract cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    /// The ONNX operator type, e.g. `TreeEnsembleRegressor`.
    pub op_type: String,
    /// The node's name in the graph.
    pub node: String,
}

fn describe_unsupported(ops: &[UnsupportedOp]) -> String {
    let mut types: Vec<&str> = ops.iter().map(|o| o.op_type.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let mut out = format!("the operator(s) {}", types.join(", "));
    // Name a few nodes, not all: an IsolationForest export has two unsupported nodes per tree.
    const NAMED: usize = 3;
    let mut nodes: Vec<String> = ops
        .iter()
        .take(NAMED)
        .map(|o| format!("`{}` ({})", o.node, o.op_type))
        .collect();
    if ops.len() > NAMED {
        nodes.push(format!("and {} more", ops.len() - NAMED));
    }
    out.push_str(&format!(" (node(s) {})", nodes.join(", ")));
    for t in types {
        if let Some(hint) = unsupported_hint(t) {
            out.push_str("; ");
            out.push_str(hint);
        }
    }
    out
}

/// Export workarounds for the operators common exporters emit and tract lacks; the matrix in
/// `models/parity/` tests each of them.
fn unsupported_hint(op_type: &str) -> Option<&'static str> {
    Some(match op_type {
        "Scaler" => {
            "Scaler: export StandardScaler with skl2onnx options {StandardScaler: {\"div\": \
             \"div_cast\"}} (Sub/Div), or rewrite it with models/parity/onnx_rewrite.py"
        }
        "ZipMap" => "ZipMap: export classifiers with skl2onnx options {\"zipmap\": False}",
        "LabelEncoder" => {
            "LabelEncoder (IsolationForest's leaf tables, class-name mappings): rewrite it \
             with models/parity/onnx_rewrite.py, or train on integer class ids and put the \
             names in the manifest"
        }
        _ => return None,
    })
}

/// Element type of a model input or output, as declared by the optimised model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    F16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl ElemType {
    fn from_datum(dt: DatumType) -> Option<ElemType> {
        Some(match dt {
            DatumType::F16 => ElemType::F16,
            DatumType::F32 => ElemType::F32,
            DatumType::F64 => ElemType::F64,
            DatumType::I8 => ElemType::I8,
            DatumType::I16 => ElemType::I16,
            DatumType::I32 => ElemType::I32,
            // tract types some integer tensors (shapes, indices, an ArgMax label) as TDim, its
            // symbolic integer; at run time they are concrete and convert to i64.
            DatumType::I64 | DatumType::TDim => ElemType::I64,
            DatumType::U8 => ElemType::U8,
            DatumType::U16 => ElemType::U16,
            DatumType::U32 => ElemType::U32,
            DatumType::U64 => ElemType::U64,
            DatumType::Bool => ElemType::Bool,
            _ => return None,
        })
    }

    /// Integer and bool outputs carry exact values ([`Output::ints`]).
    pub fn is_integer(self) -> bool {
        !matches!(self, ElemType::F16 | ElemType::F32 | ElemType::F64)
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ElemType::F16 => "float16",
            ElemType::F32 => "float32",
            ElemType::F64 => "float64",
            ElemType::I8 => "int8",
            ElemType::I16 => "int16",
            ElemType::I32 => "int32",
            ElemType::I64 => "int64",
            ElemType::U8 => "uint8",
            ElemType::U16 => "uint16",
            ElemType::U32 => "uint32",
            ElemType::U64 => "uint64",
            ElemType::Bool => "bool",
        };
        f.write_str(s)
    }
}

/// Name, shape and element type of the model input or of one output (`forewarn model inspect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// Concrete shape after the input was fixed to `[1, F]`; `None` when it depends on the
    /// data (the shape of each run's output is then in [`Output::shape`]).
    pub shape: Option<Vec<usize>>,
    pub elem: ElemType,
}

impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shape {
            Some(s) => write!(f, "{} {}{:?}", self.name, self.elem, s),
            None => write!(f, "{} {}[?]", self.name, self.elem),
        }
    }
}

/// One output of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
    pub elem: ElemType,
    pub shape: Vec<usize>,
    /// Every element, row-major, as f32 (integers convert exactly up to 2^24, which covers
    /// class ids; float64 outputs are rounded).
    pub values: Vec<f32>,
    /// The exact values when the output is an integer or bool tensor (a classifier's label).
    pub ints: Option<Vec<i64>>,
}

/// Every output of one run, in the model's output order.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs(pub Vec<Output>);

impl Outputs {
    pub fn get(&self, name: &str) -> Option<&Output> {
        self.0.iter().find(|o| o.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Output> {
        self.0.iter()
    }
}

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
        catch_unwind(AssertUnwindSafe(|| Self::load_inner(bytes, n_features))).unwrap_or_else(
            |payload| {
                Err(ModelError::Panic {
                    stage: "loading",
                    message: panic_message(payload),
                })
            },
        )
    }

    fn load_inner(bytes: &[u8], n_features: usize) -> Result<OnnxModel, ModelError> {
        // Limits first: nothing sized from the file is allocated before they pass.
        let decoded = super::limits::check_file(bytes)?;
        let mut onnx = tract_onnx::onnx();
        super::trees::register(&mut onnx.op_register);
        let mut reader = bytes;
        let proto = onnx
            .proto_model_for_read(&mut reader)
            .map_err(|e| ModelError::Parse(format!("{e:#}")))?;
        super::limits::check_model(&proto, decoded)?;
        let mut model = onnx
            .model_for_proto_model(&proto)
            .map_err(|e| ModelError::Parse(with_hint(format!("{e:#}"))))?;
        drop(proto);

        let unsupported: Vec<UnsupportedOp> = model
            .nodes()
            .iter()
            .filter_map(|node| {
                let op = node.op_as::<UnimplementedOp>()?;
                // UnimplementedOp keeps the ONNX type private; its name is "Unimplemented(T)".
                let name = op.name();
                let op_type = name
                    .strip_prefix("Unimplemented(")
                    .and_then(|s| s.strip_suffix(')'))
                    .unwrap_or(&name)
                    .to_string();
                Some(UnsupportedOp {
                    op_type,
                    node: node.name.clone(),
                })
            })
            .collect();
        if !unsupported.is_empty() {
            return Err(ModelError::UnsupportedOperators(unsupported));
        }

        let inputs = model
            .input_outlets()
            .map_err(|e| ModelError::Parse(format!("{e:#}")))?;
        if inputs.len() != 1 {
            return Err(ModelError::InputCount(inputs.len()));
        }
        let input_name = model.node(inputs[0].node).name.clone();
        let declared = model
            .input_fact(0)
            .map_err(|e| ModelError::Parse(format!("{e:#}")))?;
        let batch = check_declared_input(&input_name, declared, n_features)?;

        let output_names: Vec<String> = model
            .output_outlets()
            .map_err(|e| ModelError::Parse(format!("{e:#}")))?
            .iter()
            .map(|o| {
                model
                    .outlet_label(*o)
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        // tract labels every ONNX graph output; this is only a fallback.
                        model.node(o.node).name.clone()
                    })
            })
            .collect();

        // A symbolic batch axis also appears in the shapes exporters declare for intermediate
        // values (torch.onnx's dynamo exporter writes them all): pin the symbol itself to 1,
        // not only the input, or tract finds `batch` and 1 where it expects one dimension.
        if let Some(batch) = batch {
            let subs = std::collections::HashMap::from([(batch, TDim::from(1))]);
            model
                .set_symbols(&subs)
                .map_err(|e| ModelError::Parse(format!("{e:#}")))?;
        }
        model
            .set_input_fact(0, f32::fact([1, n_features]).into())
            .map_err(|e| ModelError::Parse(format!("{e:#}")))?;
        let typed = model
            .into_optimized()
            .map_err(|e| ModelError::Optimize(with_hint(format!("{e:#}"))))?;

        let mut outputs = Vec::with_capacity(output_names.len());
        for (ix, name) in output_names.into_iter().enumerate() {
            let fact = typed
                .output_fact(ix)
                .map_err(|e| ModelError::Optimize(format!("{e:#}")))?;
            let Some(elem) = ElemType::from_datum(fact.datum_type) else {
                let hint = if fact.datum_type == DatumType::String {
                    " (a classifier trained on string classes: train on integer class ids and \
                     put the names in the manifest's `labels`)"
                } else {
                    ""
                };
                return Err(ModelError::OutputType {
                    name,
                    found: format!("{:?}", fact.datum_type),
                    hint,
                });
            };
            let shape = fact.shape.as_concrete().map(|s| s.to_vec());
            outputs.push(TensorInfo { name, shape, elem });
        }
        let input = TensorInfo {
            name: input_name,
            shape: Some(vec![1, n_features]),
            elem: ElemType::F32,
        };
        let plan = typed
            .into_runnable()
            .map_err(|e| ModelError::Optimize(format!("{e:#}")))?;
        Ok(OnnxModel {
            plan,
            n_features,
            input,
            outputs,
        })
    }

    /// Runs the model on one feature vector (already normalised, in manifest order).
    pub fn run(&self, features: &[f32]) -> Result<Outputs, ModelError> {
        if features.len() != self.n_features {
            return Err(ModelError::FeatureCount {
                expected: self.n_features,
                got: features.len(),
            });
        }
        catch_unwind(AssertUnwindSafe(|| self.run_inner(features))).unwrap_or_else(|payload| {
            Err(ModelError::Panic {
                stage: "running",
                message: panic_message(payload),
            })
        })
    }

    fn run_inner(&self, features: &[f32]) -> Result<Outputs, ModelError> {
        let run_err = |e: TractError| ModelError::Run(format!("{e:#}"));
        let input = Tensor::from_shape(&[1, self.n_features], features).map_err(run_err)?;
        let results = self.plan.run(tvec!(input.into())).map_err(run_err)?;
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for (info, value) in self.outputs.iter().zip(results.iter()) {
            outputs.push(convert_output(info, value).map_err(run_err)?);
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

/// Accepts a declared input of rank 2 whose feature axis is `n_features` (or unknown) and whose
/// batch axis is 1 or symbolic; a fixed batch of several rows cannot be fed one window.
/// Returns the batch axis' symbol, if it has one.
fn check_declared_input(
    name: &str,
    fact: &InferenceFact,
    n_features: usize,
) -> Result<Option<Symbol>, ModelError> {
    if let Some(dt) = fact.datum_type.concretize() {
        if dt != DatumType::F32 {
            return Err(ModelError::InputType {
                name: name.to_string(),
                found: format!("{dt:?}"),
            });
        }
    }
    let shape_err = || ModelError::InputShape {
        name: name.to_string(),
        found: format!("{:?}", fact.shape),
        n_features,
    };
    if fact.shape.is_open() && fact.shape.dims().count() == 0 {
        // No shape declared at all: the fixed input fact decides.
        return Ok(None);
    }
    let dims: Vec<Option<TDim>> = fact.shape.dims().map(|d| d.concretize()).collect();
    if dims.len() != 2 || fact.shape.is_open() {
        return Err(shape_err());
    }
    let concrete = |d: &Option<TDim>| d.as_ref().and_then(|d| d.to_usize().ok());
    match concrete(&dims[1]) {
        Some(f) if f == n_features => {}
        // A symbolic or unknown feature axis is unusual but harmless: the fixed fact pins it.
        None => {}
        Some(_) => return Err(shape_err()),
    }
    match (&dims[0], concrete(&dims[0])) {
        (_, Some(1)) => Ok(None),
        (Some(TDim::Sym(s)), None) => Ok(Some(s.clone())),
        (_, None) => Ok(None),
        (_, Some(_)) => Err(shape_err()),
    }
}

/// Where tract's own message leaves a user guessing, the export workaround the matrix tests.
fn with_hint(message: String) -> String {
    let hint = if message.contains("String") {
        " (string tensors: a classifier trained on string classes has a string label output; \
         train on integer class ids and put the names in the manifest's `labels`)"
    } else {
        ""
    };
    message + hint
}

fn convert_output(info: &TensorInfo, value: &TValue) -> TractResult<Output> {
    let tensor: &Tensor = value;
    let elem = ElemType::from_datum(tensor.datum_type()).unwrap_or(info.elem);
    let shape = tensor.shape().to_vec();
    let (values, ints) = if tensor.datum_type() == DatumType::Bool {
        let ints: Vec<i64> = tensor
            .to_plain_array_view::<bool>()?
            .iter()
            .map(|b| i64::from(*b))
            .collect();
        (ints.iter().map(|&i| i as f32).collect(), Some(ints))
    } else if elem.is_integer() {
        let cast = tensor.cast_to::<i64>()?;
        let ints: Vec<i64> = cast.to_plain_array_view::<i64>()?.iter().copied().collect();
        (ints.iter().map(|&i| i as f32).collect(), Some(ints))
    } else {
        let cast = tensor.cast_to::<f32>()?;
        (
            cast.to_plain_array_view::<f32>()?.iter().copied().collect(),
            None,
        )
    };
    Ok(Output {
        name: info.name.clone(),
        elem,
        shape,
        values,
        ints,
    })
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::testpb as pb;
    use pb::Dim::{Fixed, Param};

    /// y = x * w + b, argmax(y): a float and an int64 output.
    fn affine_model(input_dims: &[pb::Dim]) -> Vec<u8> {
        pb::model(&[
            pb::node("Mul", "", &["x", "w"], &["xw"]),
            pb::node("Add", "", &["xw", "b"], &["y"]),
            pb::node_with("ArgMax", "", &["y"], &["best"], &[("axis", 1)]),
            pb::init_f32("w", &[3], &[2.0, -1.0, 0.5]),
            pb::init_f32("b", &[3], &[0.25, 0.0, 10.0]),
            pb::value_info(11, "x", 1, input_dims),
            pb::value_info(12, "y", 1, &[Param("N"), Fixed(3)]),
            pb::value_info(12, "best", 7, &[Param("N"), Fixed(1)]),
        ])
    }

    #[test]
    fn runs_a_model_exported_with_a_dynamic_batch_axis() {
        let model = OnnxModel::load(&affine_model(&[Param("N"), Fixed(3)]), 3).unwrap();
        let out = model.run(&[1.0, 2.0, -4.0]).unwrap();
        let y = out.get("y").unwrap();
        assert_eq!(y.shape, vec![1, 3]);
        assert_eq!(y.values, vec![2.25, -2.0, 8.0]);
        assert_eq!(y.ints, None);
        let best = out.get("best").unwrap();
        assert_eq!(best.elem, ElemType::I64);
        assert_eq!(best.ints, Some(vec![2]));
        assert_eq!(best.values, vec![2.0]);
    }

    #[test]
    fn describes_input_and_outputs_for_inspection() {
        let model = OnnxModel::load(&affine_model(&[Fixed(1), Fixed(3)]), 3).unwrap();
        assert_eq!(model.input().to_string(), "x float32[1, 3]");
        let outputs: Vec<String> = model.outputs().iter().map(|o| o.to_string()).collect();
        assert_eq!(outputs, vec!["y float32[1, 3]", "best int64[1, 1]"]);
        assert_eq!(model.n_features(), 3);
    }

    #[test]
    fn names_every_unsupported_operator_at_load() {
        let bytes = pb::model(&[
            pb::node("LabelEncoder", "ai.onnx.ml", &["x"], &["t"]),
            pb::node("FancyOp", "com.example", &["t"], &["y"]),
            pb::value_info(11, "x", 1, &[Param("N"), Fixed(3)]),
            pb::value_info(12, "y", 1, &[Param("N"), Fixed(1)]),
        ]);
        let err = OnnxModel::load(&bytes, 3).unwrap_err();
        let ModelError::UnsupportedOperators(ops) = &err else {
            panic!("{err:?}")
        };
        let types: Vec<&str> = ops.iter().map(|o| o.op_type.as_str()).collect();
        assert_eq!(types, vec!["LabelEncoder", "FancyOp"]);
        let msg = err.to_string();
        assert!(msg.contains("FancyOp, LabelEncoder"), "{msg}");
        assert!(msg.contains("`LabelEncoder_node` (LabelEncoder)"), "{msg}");
        assert!(msg.contains("onnx_rewrite.py"), "{msg}");
    }

    #[test]
    fn refuses_a_model_built_for_another_feature_count() {
        let err = OnnxModel::load(&affine_model(&[Param("N"), Fixed(3)]), 4).unwrap_err();
        assert!(
            matches!(err, ModelError::InputShape { n_features: 4, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("expected [1, 4] or [N, 4]"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_fixed_batch_of_several_rows() {
        let err = OnnxModel::load(&affine_model(&[Fixed(8), Fixed(3)]), 3).unwrap_err();
        assert!(matches!(err, ModelError::InputShape { .. }), "{err:?}");
    }

    #[test]
    fn refuses_an_input_that_is_not_float32() {
        let bytes = pb::model(&[
            pb::node_with("Cast", "", &["x"], &["y"], &[("to", 1)]),
            pb::value_info(11, "x", 7, &[Param("N"), Fixed(3)]),
            pb::value_info(12, "y", 1, &[Param("N"), Fixed(3)]),
        ]);
        let err = OnnxModel::load(&bytes, 3).unwrap_err();
        assert!(matches!(err, ModelError::InputType { .. }), "{err:?}");
    }

    #[test]
    fn refuses_a_model_with_two_inputs() {
        let bytes = pb::model(&[
            pb::node("Add", "", &["a", "b"], &["y"]),
            pb::value_info(11, "a", 1, &[Fixed(1), Fixed(3)]),
            pb::value_info(11, "b", 1, &[Fixed(1), Fixed(3)]),
            pb::value_info(12, "y", 1, &[Fixed(1), Fixed(3)]),
        ]);
        let err = OnnxModel::load(&bytes, 3).unwrap_err();
        assert!(matches!(err, ModelError::InputCount(2)), "{err:?}");
    }

    #[test]
    fn refuses_bytes_that_are_not_onnx() {
        for bytes in [&b""[..], b"not an onnx file at all", &[0xff; 64]] {
            match OnnxModel::load(bytes, 3) {
                Err(ModelError::Parse(_)) => {}
                other => panic!("{bytes:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_tree_ensemble_declaring_2_to_the_40_outputs_is_refused_by_the_limits() {
        // Before the limits, this 1 kB file made the process abort on allocation.
        let bomb = pb::stump_regressor(1 << 40);
        assert!(bomb.len() < 1024);
        let e = OnnxModel::load(&bomb, 1).unwrap_err();
        assert!(matches!(e, ModelError::Limits(_)), "{e}");
        assert!(e.to_string().contains("limit 4096"), "{e}");
        let model = OnnxModel::load(&pb::stump_regressor(3), 1).unwrap();
        assert_eq!(model.run(&[0.0]).unwrap().0[0].values, vec![1.0, 0.0, 0.0]);
    }

    #[test]
    fn refuses_zero_features() {
        let err = OnnxModel::load(&affine_model(&[Param("N"), Fixed(3)]), 0).unwrap_err();
        assert!(matches!(err, ModelError::NoFeatures), "{err:?}");
    }

    #[test]
    fn run_refuses_a_feature_vector_of_the_wrong_length() {
        let model = OnnxModel::load(&affine_model(&[Param("N"), Fixed(3)]), 3).unwrap();
        let err = model.run(&[1.0, 2.0]).unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::FeatureCount {
                    expected: 3,
                    got: 2
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_model_can_be_shared_with_the_inference_thread() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<OnnxModel>();
        send_sync::<ModelError>();
    }

    #[test]
    fn load_file_names_a_missing_file() {
        let err = OnnxModel::load_file(Path::new("/nonexistent/model.onnx"), 3).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/model.onnx"), "{err}");
    }
}
