//! Why a model could not be loaded or run, in words for an operator reading a log.

use std::path::PathBuf;

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
    Limits(#[from] crate::model::limits::LimitError),
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
