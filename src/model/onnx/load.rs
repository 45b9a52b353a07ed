//! Loading: bytes → a checked, optimised tract plan. The resource limits are checked before
//! anything sized from the file is allocated ([`crate::model::limits`]); the tree-ensemble ops
//! are registered before parsing ([`crate::model::trees`]); every unsupported operator is named
//! at once; the declared input must be float32 `[1, F]` or `[N, F]`; every output numeric.

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;
use tract_onnx::tract_hir::ops::unimpl::UnimplementedOp;

use super::tensor::{ElemType, TensorInfo};
use super::{ModelError, OnnxModel, UnsupportedOp};

/// Parses, checks and optimises (see [`OnnxModel::load`], which guards this against panics).
pub(super) fn load(bytes: &[u8], n_features: usize) -> Result<OnnxModel, ModelError> {
    // Limits first: nothing sized from the file is allocated before they pass.
    let decoded = crate::model::limits::check_file(bytes)?;
    let mut onnx = tract_onnx::onnx();
    crate::model::trees::register(&mut onnx.op_register);
    let mut reader = bytes;
    let proto = onnx
        .proto_model_for_read(&mut reader)
        .map_err(|e| ModelError::Parse(format!("{e:#}")))?;
    crate::model::limits::check_model(&proto, decoded)?;
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
