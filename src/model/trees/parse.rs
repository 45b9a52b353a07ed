//! Reading a TreeEnsembleClassifier / TreeEnsembleRegressor node's attributes into an
//! [`Ensemble`]: sizes checked against the limits before anything is sized from them, every
//! inconsistency refused by [`Forest::build`].

use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::ensemble::{Ensemble, Head, Labels};
use super::forest::{Aggregate, Forest, Mode, NodeAttrs, PostTransform, VoteAttrs};
use super::op::TreeEnsembleOp;
use crate::model::limits::MAX_TREE_OUTPUTS;

fn ints<'a>(node: &'a NodeProto, name: &str) -> TractResult<&'a [i64]> {
    Ok(node.get_attr_opt_slice::<i64>(name)?.unwrap_or(&[]))
}

/// A float list attribute, or its `<name>_as_tensor` double form rounded to f32.
fn floats(ctx: &ParsingContext, node: &NodeProto, name: &str) -> TractResult<Vec<f32>> {
    if let Some(v) = node.get_attr_opt_slice::<f32>(name)? {
        return Ok(v.to_vec());
    }
    let tensor_name = format!("{name}_as_tensor");
    if let Some(proto) = node.get_attr_opt::<&tract_onnx::pb::TensorProto>(&tensor_name)? {
        let t = ctx.load_tensor(proto)?;
        let t = t.cast_to::<f32>()?;
        return Ok(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec());
    }
    Ok(vec![])
}

fn post_transform(node: &NodeProto) -> TractResult<PostTransform> {
    let s = node
        .get_attr_opt::<&str>("post_transform")?
        .unwrap_or("NONE");
    Ok(PostTransform::parse(s)?)
}

fn forest(
    ctx: &ParsingContext,
    node: &NodeProto,
    prefix: &str,
    n_outputs: usize,
) -> TractResult<Forest> {
    let modes = node
        .get_attr_opt_tvec::<&str>("nodes_modes")?
        .unwrap_or_default()
        .iter()
        .map(|s| Mode::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let missing: Vec<bool> = ints(node, "nodes_missing_value_tracks_true")?
        .iter()
        .map(|&v| v != 0)
        .collect();
    let values = floats(ctx, node, "nodes_values")?;
    let weights = floats(ctx, node, &format!("{prefix}_weights"))?;
    let nodes = NodeAttrs {
        tree_ids: ints(node, "nodes_treeids")?,
        node_ids: ints(node, "nodes_nodeids")?,
        feature_ids: ints(node, "nodes_featureids")?,
        modes: &modes,
        values: &values,
        true_ids: ints(node, "nodes_truenodeids")?,
        false_ids: ints(node, "nodes_falsenodeids")?,
        missing_tracks_true: &missing,
    };
    let votes = VoteAttrs {
        tree_ids: ints(node, &format!("{prefix}_treeids"))?,
        node_ids: ints(node, &format!("{prefix}_nodeids"))?,
        ids: ints(node, &format!("{prefix}_ids"))?,
        weights: &weights,
    };
    Ok(Forest::build(&nodes, &votes, n_outputs)?)
}

fn base_values(ctx: &ParsingContext, node: &NodeProto, n: usize) -> TractResult<Vec<f32>> {
    let base = floats(ctx, node, "base_values")?;
    // onnxruntime reads one base value for any count, else one per output.
    if !(base.is_empty() || base.len() == 1 || base.len() == n) {
        bail!(
            "base_values has {} entries, expected 0, 1 or {n}",
            base.len()
        );
    }
    Ok(base)
}

pub(super) fn build_classifier(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ints_labels = node.get_attr_opt_slice::<i64>("classlabels_int64s")?;
    let str_labels = node.get_attr_opt_tvec::<String>("classlabels_strings")?;
    let labels = match (ints_labels, str_labels) {
        (Some(l), None) => Labels::Int(l.to_vec()),
        (None, Some(l)) => Labels::Str(l.into_iter().collect()),
        (None, None) => bail!("neither classlabels_int64s nor classlabels_strings is set"),
        (Some(_), Some(_)) => bail!("both classlabels_int64s and classlabels_strings are set"),
    };
    let n_classes = labels.len();
    if n_classes == 0 {
        bail!("the classifier has no class labels");
    }
    if n_classes > MAX_TREE_OUTPUTS {
        bail!("the classifier has {n_classes} classes (limit {MAX_TREE_OUTPUTS})");
    }
    let forest = forest(ctx, node, "class", n_classes)?;
    let base = base_values(ctx, node, n_classes)?;
    if n_classes > 2 && base.len() == 1 {
        bail!("base_values has 1 entry for {n_classes} classes");
    }
    let voted_classes = forest.voted().iter().filter(|v| **v).count();
    let binary_case = n_classes == 2 && voted_classes == 1;
    let op = TreeEnsembleOp::new(Arc::new(Ensemble {
        forest,
        base,
        post: post_transform(node)?,
        head: Head::Classifier {
            labels,
            binary_case,
        },
    }));
    Ok((expand(op), vec![]))
}

pub(super) fn build_regressor(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let n_targets: i64 = node.get_attr_opt("n_targets")?.unwrap_or(1);
    if n_targets < 1 {
        bail!("n_targets is {n_targets}");
    }
    // Checked before anything is sized from it: a huge n_targets would abort on allocation.
    if n_targets > MAX_TREE_OUTPUTS as i64 {
        bail!("n_targets is {n_targets} (limit {MAX_TREE_OUTPUTS})");
    }
    let n_targets = n_targets as usize;
    let aggregate = Aggregate::parse(
        node.get_attr_opt::<&str>("aggregate_function")?
            .unwrap_or("SUM"),
    )?;
    let forest = forest(ctx, node, "target", n_targets)?;
    let base = base_values(ctx, node, n_targets)?;
    let op = TreeEnsembleOp::new(Arc::new(Ensemble {
        forest,
        base,
        post: post_transform(node)?,
        head: Head::Regressor { aggregate },
    }));
    Ok((expand(op), vec![]))
}
