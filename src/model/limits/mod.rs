//! Resource limits on an ONNX file, checked before tract builds anything sized from it.
//!
//! A model file is input from outside the agent: a retrained package copied onto a gateway by
//! hand or by a fleet tool. A few bytes can declare a tensor, a tree ensemble or a nesting that
//! would take gigabytes to build, and an allocation that fails aborts the process (Rust cannot
//! unwind from it, so `catch_unwind` in [`super::onnx`] does not help). [`check_file`] and
//! [`check_model`] refuse such a file with a [`LimitError`] naming what is too large, before
//! the allocation:
//!
//! | limit | value | what it bounds |
//! |---|---|---|
//! | [`MAX_DECODED_BYTES`] | 256 MiB | the decoded protobuf ([`wire`]: estimated from the wire format, before decoding) |
//! | [`MAX_GRAPH_NODES`] | 65,536 | graph nodes, sub-graphs included |
//! | [`MAX_SUBGRAPH_DEPTH`] | 8 | sub-graphs nested in `If` / `Scan` attributes |
//! | [`MAX_TENSOR_ELEMENTS`] | 2^26 (67,108,864) | elements of one initializer or constant, one declared input/output/value shape, and one tensor a `ConstantOfShape`, `Expand`, `Tile`, `Range`, `OneHot` or random op builds from constant inputs |
//! | [`MAX_TREE_NODES`] | 2^20 (1,048,576) | nodes of one tree ensemble |
//! | [`MAX_TREES`] | 65,536 | trees of one tree ensemble |
//! | [`MAX_TREE_VOTES`] | 2^22 (4,194,304) | leaf votes of one tree ensemble |
//! | [`MAX_TREE_OUTPUTS`] | 4,096 | a regressor's `n_targets`, a classifier's classes |
//! | [`MAX_MODEL_BYTES`] | 256 MiB | the memory estimate: decoded protobuf + tensors + tensors built from constants + tree tables |
//!
//! What these checks cannot see (a tensor that only tract's constant folding computes, an
//! operator that is merely slow) is bounded by the verification child process
//! ([`super::verify`]): memory and CPU limits and a wall-clock timeout, so that an abort or a
//! hang costs only the check.

use std::collections::HashMap;

use tract_onnx::pb;

pub mod wire;

/// Largest estimated decoded protobuf.
pub const MAX_DECODED_BYTES: u64 = 256 << 20;
/// Most graph nodes, sub-graphs included.
pub const MAX_GRAPH_NODES: usize = 65_536;
/// Deepest nesting of sub-graphs.
pub const MAX_SUBGRAPH_DEPTH: usize = 8;
/// Most elements in one tensor the file holds, declares or makes from constants.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 26;
/// Most nodes in one tree ensemble.
pub const MAX_TREE_NODES: usize = 1 << 20;
/// Most trees in one tree ensemble.
pub const MAX_TREES: usize = 65_536;
/// Most leaf votes in one tree ensemble.
pub const MAX_TREE_VOTES: usize = 1 << 22;
/// Most outputs (regression targets or classes) of one tree ensemble.
pub const MAX_TREE_OUTPUTS: usize = 4096;
/// Largest memory estimate of a loaded model.
pub const MAX_MODEL_BYTES: u64 = 256 << 20;
/// Bytes one tree node takes while the ensemble is built (sorted order, id index, vote lists,
/// flat node): measured from `trees::forest::Forest::build`, rounded up.
const TREE_NODE_BYTES: u64 = 128;

/// Why a model file is refused before it is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the protobuf nests deeper than {max} levels")]
    Nesting { max: usize },
    #[error("decoding the file would take about {bytes} bytes (limit {max})")]
    Decoded { bytes: u64, max: u64 },
    #[error("the graph has {count} nodes (limit {max})")]
    Nodes { count: usize, max: usize },
    #[error("sub-graphs nest deeper than {max} levels")]
    SubgraphDepth { max: usize },
    #[error("{what} `{name}` has {elements} elements (limit {max})")]
    Tensor {
        what: &'static str,
        name: String,
        elements: u128,
        max: u64,
    },
    #[error("{what} `{name}` has a negative dimension ({dim})")]
    NegativeDim {
        what: &'static str,
        name: String,
        dim: i64,
    },
    #[error("tree ensemble `{node}`: {what} is {count} (limit {max})")]
    Trees {
        node: String,
        what: &'static str,
        count: i128,
        max: usize,
    },
    #[error("the model would take about {bytes} bytes of memory (limit {max}): {detail}")]
    Memory {
        bytes: u64,
        max: u64,
        detail: String,
    },
}

/// What a model file would take, by part (bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub decoded: u64,
    pub tensors: u64,
    pub computed: u64,
    pub trees: u64,
    pub nodes: usize,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.decoded
            .saturating_add(self.tensors)
            .saturating_add(self.computed)
            .saturating_add(self.trees)
    }
}

/// Checks the wire format (nesting, decoded size) before the file is decoded.
pub fn check_file(bytes: &[u8]) -> Result<u64, LimitError> {
    let decoded = wire::decoded_bytes(bytes)?;
    if decoded > MAX_DECODED_BYTES {
        return Err(LimitError::Decoded {
            bytes: decoded,
            max: MAX_DECODED_BYTES,
        });
    }
    Ok(decoded)
}

/// Every limit that can be checked without building a model: the wire walk, the protobuf
/// decode, then the decoded graph (what `OnnxModel::load` does before tract builds anything).
/// `None`: the bytes are not a protobuf ONNX model at all.
pub fn check_bytes(bytes: &[u8]) -> Option<Result<Usage, LimitError>> {
    let decoded = match check_file(bytes) {
        Ok(d) => d,
        Err(e) => return Some(Err(e)),
    };
    let mut reader = bytes;
    use tract_onnx::prelude::Framework;
    let proto = tract_onnx::onnx().proto_model_for_read(&mut reader).ok()?;
    Some(check_model(&proto, decoded))
}

/// Checks the decoded model against every limit; `decoded` is [`check_file`]'s estimate.
pub fn check_model(model: &pb::ModelProto, decoded: u64) -> Result<Usage, LimitError> {
    let mut u = Usage {
        decoded,
        ..Usage::default()
    };
    if let Some(g) = &model.graph {
        graph(g, 0, &mut u)?;
    }
    for f in &model.functions {
        u.nodes = u.nodes.saturating_add(f.node.len());
        if u.nodes > MAX_GRAPH_NODES {
            return Err(LimitError::Nodes {
                count: u.nodes,
                max: MAX_GRAPH_NODES,
            });
        }
    }
    if u.total() > MAX_MODEL_BYTES {
        return Err(LimitError::Memory {
            bytes: u.total(),
            max: MAX_MODEL_BYTES,
            detail: format!(
                "protobuf {} + tensors {} + tensors built from constants {} + tree tables {}",
                u.decoded, u.tensors, u.computed, u.trees
            ),
        });
    }
    Ok(u)
}

/// Bytes per element of an ONNX data type (strings: a `String` header).
fn width(data_type: i32) -> u64 {
    match data_type {
        2 | 3 | 9 | 17..=20 => 1, // uint8, int8, bool, float8 variants
        4 | 5 | 10 | 16 => 2,     // uint16, int16, float16, bfloat16
        1 | 6 | 12 => 4,          // float, int32, uint32
        7 | 11 | 13 | 14 => 8,    // int64, double, uint64, complex64
        15 => 16,                 // complex128
        8 => 24,                  // string
        _ => 1,
    }
}

/// Elements of a shape, refusing negative dimensions and more than the limit.
fn elements(what: &'static str, name: &str, dims: &[i64]) -> Result<u64, LimitError> {
    let mut n: u128 = 1;
    for &d in dims {
        if d < 0 {
            return Err(LimitError::NegativeDim {
                what,
                name: name.to_string(),
                dim: d,
            });
        }
        n = n.saturating_mul(d as u128);
    }
    if n > u128::from(MAX_TENSOR_ELEMENTS) {
        return Err(LimitError::Tensor {
            what,
            name: name.to_string(),
            elements: n,
            max: MAX_TENSOR_ELEMENTS,
        });
    }
    Ok(n as u64)
}

fn tensor(what: &'static str, t: &pb::TensorProto, u: &mut Usage) -> Result<(), LimitError> {
    let n = elements(what, &t.name, &t.dims)?;
    u.tensors = u
        .tensors
        .saturating_add(n.saturating_mul(width(t.data_type)));
    Ok(())
}

fn sparse(t: &pb::SparseTensorProto, u: &mut Usage) -> Result<(), LimitError> {
    let name = t.values.as_ref().map_or("", |v| v.name.as_str());
    // tract densifies a sparse tensor: its dense shape counts.
    let n = elements("sparse tensor", name, &t.dims)?;
    let w = t.values.as_ref().map_or(4, |v| width(v.data_type));
    u.tensors = u.tensors.saturating_add(n.saturating_mul(w));
    for v in [&t.values, &t.indices].into_iter().flatten() {
        tensor("sparse tensor part", v, u)?;
    }
    Ok(())
}

fn declared(vi: &pb::ValueInfoProto) -> Result<(), LimitError> {
    let Some(pb::type_proto::Value::TensorType(tt)) =
        vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Ok(());
    };
    let Some(shape) = &tt.shape else {
        return Ok(());
    };
    // Symbolic and unknown dimensions are not sizes; fixed ones must fit.
    let dims: Vec<i64> = shape
        .dim
        .iter()
        .filter_map(|d| match d.value {
            Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => Some(v),
            _ => None,
        })
        .collect();
    elements("declared shape of", &vi.name, &dims).map(|_| ())
}

/// Small integer or float constants (shapes, repeats, range bounds), as f64; `None` when the
/// tensor is not a short numeric constant.
fn values(t: &pb::TensorProto) -> Option<Vec<f64>> {
    const SHORT: usize = 64;
    let from_raw = |w: usize, f: &dyn Fn(&[u8]) -> f64| -> Option<Vec<f64>> {
        if t.raw_data.len() > SHORT * w || !t.raw_data.len().is_multiple_of(w) {
            return None;
        }
        Some(t.raw_data.chunks_exact(w).map(f).collect())
    };
    let le8 = |b: &[u8]| -> [u8; 8] {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        a
    };
    let le4 = |b: &[u8]| -> [u8; 4] {
        let mut a = [0u8; 4];
        a.copy_from_slice(&b[..4]);
        a
    };
    let v: Vec<f64> = match t.data_type {
        7 if !t.raw_data.is_empty() => from_raw(8, &|b| i64::from_le_bytes(le8(b)) as f64)?,
        7 => t
            .int64_data
            .iter()
            .take(SHORT + 1)
            .map(|&x| x as f64)
            .collect(),
        6 if !t.raw_data.is_empty() => from_raw(4, &|b| f64::from(i32::from_le_bytes(le4(b))))?,
        6 => t
            .int32_data
            .iter()
            .take(SHORT + 1)
            .map(|&x| f64::from(x))
            .collect(),
        1 if !t.raw_data.is_empty() => from_raw(4, &|b| f64::from(f32::from_le_bytes(le4(b))))?,
        1 => t
            .float_data
            .iter()
            .take(SHORT + 1)
            .map(|&x| f64::from(x))
            .collect(),
        11 if !t.raw_data.is_empty() => from_raw(8, &|b| f64::from_le_bytes(le8(b)))?,
        11 => t.double_data.iter().take(SHORT + 1).copied().collect(),
        _ => return None,
    };
    (v.len() <= SHORT).then_some(v)
}

/// The graph's constants by name: initializers and `Constant` nodes' `value`.
fn constants(g: &pb::GraphProto) -> HashMap<&str, &pb::TensorProto> {
    let mut c: HashMap<&str, &pb::TensorProto> =
        g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    for n in &g.node {
        if n.op_type == "Constant" {
            if let (Some(out), Some(t)) = (
                n.output.first(),
                n.attribute
                    .iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.as_ref()),
            ) {
                c.insert(out.as_str(), t);
            }
        }
    }
    c
}

fn graph(g: &pb::GraphProto, depth: usize, u: &mut Usage) -> Result<(), LimitError> {
    if depth > MAX_SUBGRAPH_DEPTH {
        return Err(LimitError::SubgraphDepth {
            max: MAX_SUBGRAPH_DEPTH,
        });
    }
    u.nodes = u.nodes.saturating_add(g.node.len());
    if u.nodes > MAX_GRAPH_NODES {
        return Err(LimitError::Nodes {
            count: u.nodes,
            max: MAX_GRAPH_NODES,
        });
    }
    for t in &g.initializer {
        tensor("initializer", t, u)?;
    }
    for t in &g.sparse_initializer {
        sparse(t, u)?;
    }
    for vi in g.input.iter().chain(&g.output).chain(&g.value_info) {
        declared(vi)?;
    }
    let consts = constants(g);
    for n in &g.node {
        for a in &n.attribute {
            if let Some(t) = &a.t {
                tensor("constant", t, u)?;
            }
            for t in &a.tensors {
                tensor("constant", t, u)?;
            }
            if let Some(t) = &a.sparse_tensor {
                sparse(t, u)?;
            }
            for t in &a.sparse_tensors {
                sparse(t, u)?;
            }
            if let Some(sub) = &a.g {
                graph(sub, depth + 1, u)?;
            }
            for sub in &a.graphs {
                graph(sub, depth + 1, u)?;
            }
        }
        built_from_constants(n, &consts, u)?;
        if matches!(
            n.op_type.as_str(),
            "TreeEnsembleClassifier" | "TreeEnsembleRegressor" | "TreeEnsemble"
        ) {
            u.trees = u.trees.saturating_add(tree_ensemble(n)?);
        }
    }
    Ok(())
}

fn node_name(n: &pb::NodeProto) -> String {
    if n.name.is_empty() {
        n.output.first().cloned().unwrap_or_default()
    } else {
        n.name.clone()
    }
}

/// Tensors an operator builds from constant inputs at load (tract folds constants).
fn built_from_constants(
    n: &pb::NodeProto,
    consts: &HashMap<&str, &pb::TensorProto>,
    u: &mut Usage,
) -> Result<(), LimitError> {
    let input = |i: usize| {
        n.input
            .get(i)
            .and_then(|name| consts.get(name.as_str()))
            .and_then(|t| values(t))
    };
    let as_dims = |v: Vec<f64>| -> Vec<i64> { v.into_iter().map(|x| x as i64).collect() };
    let name = node_name(n);
    let what = "output of";
    let built = match n.op_type.as_str() {
        "ConstantOfShape" => input(0)
            .map(|v| elements(what, &name, &as_dims(v)))
            .transpose()?,
        "Expand" | "Tile" => input(1)
            .map(|v| elements(what, &name, &as_dims(v)))
            .transpose()?,
        "Range" => match (input(0), input(1), input(2)) {
            (Some(s), Some(l), Some(d)) if s.len() == 1 && l.len() == 1 && d.len() == 1 => {
                let steps = ((l[0] - s[0]) / d[0]).ceil();
                let steps = if steps.is_finite() {
                    steps.max(0.0)
                } else {
                    f64::MAX
                };
                Some(elements(what, &name, &[steps.min(i64::MAX as f64) as i64])?)
            }
            _ => None,
        },
        "OneHot" => input(1)
            .filter(|v| v.len() == 1)
            .map(|v| elements(what, &name, &[v[0] as i64]))
            .transpose()?,
        "RandomUniform" | "RandomNormal" => n
            .attribute
            .iter()
            .find(|a| a.name == "shape")
            .map(|a| elements(what, &name, &a.ints))
            .transpose()?,
        _ => None,
    };
    if let Some(e) = built {
        u.computed = u.computed.saturating_add(e.saturating_mul(8));
    }
    Ok(())
}

/// Checks one tree ensemble's sizes; returns the bytes building it takes.
fn tree_ensemble(n: &pb::NodeProto) -> Result<u64, LimitError> {
    let attr = |name: &str| n.attribute.iter().find(|a| a.name == name);
    let node = node_name(n);
    let over = |what: &'static str, count: i128, max: usize| -> Result<(), LimitError> {
        if count > max as i128 || count < 0 {
            return Err(LimitError::Trees {
                node: node.clone(),
                what,
                count,
                max,
            });
        }
        Ok(())
    };
    let outputs: i128 = if n.op_type == "TreeEnsembleClassifier" {
        attr("classlabels_int64s")
            .map(|a| a.ints.len())
            .or_else(|| attr("classlabels_strings").map(|a| a.strings.len()))
            .unwrap_or(0) as i128
    } else {
        attr("n_targets").map_or(1, |a| i128::from(a.i))
    };
    over(
        "the number of outputs (n_targets or classes)",
        outputs,
        MAX_TREE_OUTPUTS,
    )?;
    let tree_ids: &[i64] = attr("nodes_treeids").map_or(&[], |a| a.ints.as_slice());
    over(
        "the number of nodes",
        tree_ids.len() as i128,
        MAX_TREE_NODES,
    )?;
    let votes = ["class_ids", "target_ids"]
        .iter()
        .filter_map(|k| attr(k))
        .map(|a| a.ints.len())
        .max()
        .unwrap_or(0);
    over("the number of leaf votes", votes as i128, MAX_TREE_VOTES)?;
    let mut ids = tree_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    over("the number of trees", ids.len() as i128, MAX_TREES)?;
    Ok((tree_ids.len() as u64)
        .saturating_mul(TREE_NODE_BYTES)
        .saturating_add((votes as u64).saturating_mul(16))
        .saturating_add((outputs as u64).saturating_mul(16)))
}

#[cfg(test)]
mod tests;
