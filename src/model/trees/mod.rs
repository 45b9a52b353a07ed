//! `ai.onnx.ml` TreeEnsembleClassifier and TreeEnsembleRegressor for tract-onnx 0.23, as
//! replacement op builders in tract-onnx's op register ([`register`]).
//!
//! Why: tract-onnx-opl 0.23.9's tree walker (`ml/tree.rs`, `TreeEnsembleData::eval_unchecked`)
//! finds a leaf's votes with `outer_iter().skip(start).take(..)` over the whole leaf table, and
//! ndarray's axis iterator has no `nth`, so every tree steps through all the votes of the trees
//! before it: O(trees × votes) per row. It also tells a leaf from a branch by failing
//! `Cmp::try_from`, which builds an error (and captures a backtrace when `RUST_BACKTRACE` is
//! set) once per tree per row, and it treats BRANCH_GTE nodes as leaves (`try_from` accepts
//! 1..=5 only). The ops here walk one path per tree over a flat node array ([`Forest`]).
//!
//! Semantics follow onnxruntime (the reference the parity tests use): scores summed in f32 in
//! tract's order (so SUM probabilities are bit-identical to tract's), base values added,
//! post_transform NONE / LOGISTIC / SOFTMAX / SOFTMAX_ZERO (PROBIT is refused at load), the
//! two-class rules of onnxruntime's `TreeAggregatorClassifier` (label and `[1-p, p]` layout),
//! NaN goes to the true child when `nodes_missing_value_tracks_true` says so and otherwise
//! compares as IEEE NaN. `*_as_tensor` (double) attributes are accepted and rounded to f32.
//!
//! Sizes are bounded before anything is allocated from them (the limits of [`super::limits`],
//! also checked on the whole file before tract parses it): at most 4,096 outputs (`n_targets`
//! or classes), 2^20 nodes, 2^22 leaf votes and 65,536 trees per ensemble.

use std::sync::Arc;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

mod forest;

use super::limits::MAX_TREE_OUTPUTS;
use forest::{logistic, Aggregate, Forest, ForestError, Mode, NodeAttrs, PostTransform, VoteAttrs};

/// Replaces tract-onnx's TreeEnsembleClassifier builder and adds TreeEnsembleRegressor.
///
/// ```ignore
/// let mut onnx = tract_onnx::onnx();
/// forewarn::model::trees::register(&mut onnx.op_register);
/// let model = onnx.model_for_read(&mut bytes)?;
/// ```
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("TreeEnsembleClassifier", build_classifier);
    reg.insert("TreeEnsembleRegressor", build_regressor);
}

// ---------------------------------------------------------------------------------------------
// Parsing

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

fn build_classifier(
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
    let op = TreeEnsembleOp(Arc::new(Ensemble {
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

fn build_regressor(
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
    let op = TreeEnsembleOp(Arc::new(Ensemble {
        forest,
        base,
        post: post_transform(node)?,
        head: Head::Regressor { aggregate },
    }));
    Ok((expand(op), vec![]))
}

// ---------------------------------------------------------------------------------------------
// The ensemble and its per-row output

#[derive(Debug, Clone, PartialEq)]
enum Labels {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Labels {
    fn len(&self) -> usize {
        match self {
            Labels::Int(l) => l.len(),
            Labels::Str(l) => l.len(),
        }
    }

    fn datum_type(&self) -> DatumType {
        match self {
            Labels::Int(_) => DatumType::I64,
            Labels::Str(_) => DatumType::String,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Head {
    Classifier { labels: Labels, binary_case: bool },
    Regressor { aggregate: Aggregate },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    forest: Forest,
    /// Empty, one value, or one per output.
    base: Vec<f32>,
    post: PostTransform,
    head: Head,
}

/// Per-row scratch, reused across rows.
struct Scratch {
    scores: Vec<f32>,
    hit: Vec<bool>,
}

impl Ensemble {
    fn n_outputs(&self) -> usize {
        self.forest.n_outputs()
    }

    /// Regressor: writes `n_targets` values into `out`.
    fn regress(
        &self,
        row: &[f32],
        aggregate: Aggregate,
        s: &mut Scratch,
        out: &mut [f32],
    ) -> Result<(), ForestError> {
        self.forest
            .eval_row(row, aggregate, &mut s.scores, &mut s.hit)?;
        for (k, o) in out.iter_mut().enumerate() {
            let base = match self.base.len() {
                0 => 0.0,
                1 => self.base[0],
                _ => self.base[k],
            };
            // MIN/MAX of nothing is 0 (onnxruntime); SUM/AVERAGE of nothing is 0 already.
            *o = if s.hit[k] { s.scores[k] + base } else { base };
        }
        self.post.apply(out);
        Ok(())
    }

    /// Classifier: writes the class scores into `out` (n_classes) and returns the label index.
    fn classify(
        &self,
        row: &[f32],
        binary_case: bool,
        s: &mut Scratch,
        out: &mut [f32],
    ) -> Result<usize, ForestError> {
        self.forest
            .eval_row(row, Aggregate::Sum, &mut s.scores, &mut s.hit)?;
        let p = &mut s.scores;
        let has = &mut s.hit;
        if self.n_outputs() > 2 {
            for (k, b) in self.base.iter().enumerate() {
                p[k] += b;
                has[k] = true;
            }
            // First maximum among the classes that have a score (onnxruntime's get_max_weight).
            let mut best: Option<usize> = None;
            for k in 0..p.len() {
                if has[k] && best.is_none_or(|b| p[k] > p[b]) {
                    best = Some(k);
                }
            }
            out.copy_from_slice(p);
            self.post.apply(out);
            return Ok(best.unwrap_or(0));
        }
        if self.n_outputs() == 1 {
            // One class: its score, its label.
            out[0] = p[0] + self.base.first().copied().unwrap_or(0.0);
            self.post.apply(out);
            return Ok(0);
        }
        // Two classes: onnxruntime's TreeAggregatorClassifier::FinalizeScores binary branch.
        let mut second_layout: Option<u8> = None;
        let mut two = true;
        match self.base.len() {
            2 => {
                if has[1] {
                    p[1] = self.base[1] + p[0];
                    p[0] = -p[1];
                } else {
                    p[1] += self.base[1];
                    p[0] += self.base[0];
                }
            }
            1 => {
                p[0] += self.base[0];
                two = has[1];
            }
            _ => {
                second_layout = Some(3);
                two = has[1];
            }
        }
        let pos = if two && has[1] {
            p[1]
        } else if has[0] {
            p[0]
        } else {
            0.0
        };
        let label = if binary_case {
            let positive = if self.forest.all_weights_positive() {
                pos > 0.5
            } else {
                pos > 0.0
            };
            second_layout = Some(match (self.forest.all_weights_positive(), positive) {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => 2,
                (false, false) => 3,
            });
            usize::from(positive)
        } else {
            usize::from(pos > 0.0)
        };
        if two {
            out.copy_from_slice(&p[..2]);
            self.post.apply(out);
        } else {
            let s = p[0];
            match second_layout {
                Some(0 | 1) => {
                    out[0] = 1.0 - s;
                    out[1] = s;
                }
                Some(_) if self.post == PostTransform::Logistic => {
                    out[0] = logistic(-s);
                    out[1] = logistic(s);
                }
                _ => {
                    out[0] = -s;
                    out[1] = s;
                }
            }
        }
        Ok(label)
    }

    fn eval(&self, input: &Tensor) -> TractResult<TVec<TValue>> {
        if input.rank() != 2 {
            bail!(
                "tree ensemble input must be [N, F], got shape {:?}",
                input.shape()
            );
        }
        let (n, f) = (input.shape()[0], input.shape()[1]);
        let input = input.cast_to::<f32>()?;
        let plain = input.try_as_plain_ram()?;
        let x = plain.as_slice::<f32>()?;
        let c = self.n_outputs();
        let mut scratch = Scratch {
            scores: vec![0.0; c],
            hit: vec![false; c],
        };
        if x.len() != n * f {
            bail!(
                "tree ensemble input holds {} values for shape [{n}, {f}]",
                x.len()
            );
        }
        let mut values = vec![0f32; n * c];
        match &self.head {
            Head::Regressor { aggregate } => {
                for (i, out) in values.chunks_exact_mut(c).enumerate() {
                    self.regress(&x[i * f..][..f], *aggregate, &mut scratch, out)?;
                }
                Ok(tvec!(tensor1(&values).into_shape(&[n, c])?.into_tvalue()))
            }
            Head::Classifier {
                labels,
                binary_case,
            } => {
                let mut label_ix = Vec::with_capacity(n);
                for (i, out) in values.chunks_exact_mut(c).enumerate() {
                    label_ix.push(self.classify(
                        &x[i * f..][..f],
                        *binary_case,
                        &mut scratch,
                        out,
                    )?);
                }
                let labels = match labels {
                    Labels::Int(l) => tensor1(&label_ix.iter().map(|&i| l[i]).collect::<Vec<_>>()),
                    Labels::Str(l) => {
                        tensor1(&label_ix.iter().map(|&i| l[i].clone()).collect::<Vec<_>>())
                    }
                };
                let probs = tensor1(&values).into_shape(&[n, c])?;
                Ok(tvec!(labels.into_tvalue(), probs.into_tvalue()))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tract glue: one op, used both as the inference-time expansion and as the typed op.

#[derive(Debug, Clone)]
pub struct TreeEnsembleOp(Arc<Ensemble>);

impl PartialEq for TreeEnsembleOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}
impl Eq for TreeEnsembleOp {}

impl TreeEnsembleOp {
    fn is_classifier(&self) -> bool {
        matches!(self.0.head, Head::Classifier { .. })
    }
}

impl Expansion for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        if self.is_classifier() {
            "FastTreeEnsembleClassifier"
        } else {
            "FastTreeEnsembleRegressor"
        }
        .into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(if self.is_classifier() { 2 } else { 1 })
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        let c = self.0.n_outputs().to_dim();
        match &self.0.head {
            Head::Classifier { labels, .. } => {
                check_output_arity(outputs, 2)?;
                s.equals(&outputs[0].datum_type, labels.datum_type())?;
                s.equals(&outputs[0].rank, 1)?;
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
                s.equals(&outputs[1].datum_type, DatumType::F32)?;
                s.equals(&outputs[1].rank, 2)?;
                s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
                s.equals(&outputs[1].shape[1], c)?;
            }
            Head::Regressor { .. } => {
                check_output_arity(outputs, 1)?;
                s.equals(&outputs[0].datum_type, DatumType::F32)?;
                s.equals(&outputs[0].rank, 2)?;
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
                s.equals(&outputs[0].shape[1], c)?;
            }
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}

impl Op for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        Expansion::name(self)
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let f = &self.0.forest;
        Ok(vec![format!(
            "{} trees, {} outputs, reads {} features",
            f.n_trees(),
            f.n_outputs(),
            f.n_features()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        self.0.eval(&input)
    }
}

impl TypedOp for TreeEnsembleOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        if shape.rank() != 2 {
            bail!("tree ensemble input must be [N, F], got {shape:?}");
        }
        if let Ok(f) = shape[1].to_usize() {
            let needed = self.0.forest.n_features();
            if f < needed {
                bail!(
                    "tree ensemble input has {f} features, the trees read feature #{}",
                    needed - 1
                );
            }
        }
        let n = shape[0].clone();
        let c = self.0.n_outputs().to_dim();
        let scores = f32::fact(&[n.clone(), c]);
        Ok(match &self.0.head {
            Head::Classifier { labels, .. } => tvec!(labels.datum_type().fact(&[n]), scores),
            Head::Regressor { .. } => tvec!(scores),
        })
    }

    as_op!();
}
