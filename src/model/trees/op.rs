//! tract glue: one op, used both as the inference-time expansion (shape rules) and as the
//! typed op that runs in the optimised plan.

use std::sync::Arc;

use tract_onnx::tract_hir::internal::*;

use super::ensemble::{Ensemble, Head};

#[derive(Debug, Clone)]
pub struct TreeEnsembleOp(Arc<Ensemble>);

impl TreeEnsembleOp {
    pub(super) fn new(ensemble: Arc<Ensemble>) -> TreeEnsembleOp {
        TreeEnsembleOp(ensemble)
    }
}

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
