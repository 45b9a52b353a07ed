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
//!
//! Layout: `parse.rs` reads a node's attributes into an [`Ensemble`] (with the [`forest`]
//! evaluator inside); `ensemble.rs` evaluates it per row, with the classifier's and the
//! regressor's output rules; `op.rs` is the tract glue ([`TreeEnsembleOp`]).

use tract_onnx::model::OnnxOpRegister;

mod ensemble;
mod forest;
mod op;
mod parse;

pub use ensemble::Ensemble;
pub use op::TreeEnsembleOp;

/// Replaces tract-onnx's TreeEnsembleClassifier builder and adds TreeEnsembleRegressor.
///
/// ```ignore
/// let mut onnx = tract_onnx::onnx();
/// forewarn::model::trees::register(&mut onnx.op_register);
/// let model = onnx.model_for_read(&mut bytes)?;
/// ```
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("TreeEnsembleClassifier", parse::build_classifier);
    reg.insert("TreeEnsembleRegressor", parse::build_regressor);
}
