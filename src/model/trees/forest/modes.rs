//! The string attributes of a tree ensemble, parsed ([`Mode`], [`Aggregate`],
//! [`PostTransform`]), and the post transforms as onnxruntime computes them.

use super::ForestError;

/// Node comparison, `x <op> threshold` sends the row to the true child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, ForestError> {
        Ok(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => Mode::Leaf,
            other => fail!("unknown node mode {other:?}"),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

impl Aggregate {
    pub fn parse(s: &str) -> Result<Aggregate, ForestError> {
        Ok(match s {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => fail!("unknown aggregate_function {other:?}"),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

impl PostTransform {
    pub fn parse(s: &str) -> Result<PostTransform, ForestError> {
        Ok(match s {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => fail!("post_transform PROBIT is not supported"),
            other => fail!("unknown post_transform {other:?}"),
        })
    }

    pub fn apply(self, scores: &mut [f32]) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
            PostTransform::Softmax => softmax(scores, false),
            PostTransform::SoftmaxZero => softmax(scores, true),
        }
    }
}

/// onnxruntime's `ComputeLogistic`: symmetric, no overflow for large |x|.
pub fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

fn softmax(scores: &mut [f32], keep_zeros: bool) {
    let considered = |s: f32| !keep_zeros || s != 0.0;
    let max = scores
        .iter()
        .copied()
        .filter(|s| considered(*s))
        .fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        if considered(*s) {
            *s = (*s - max).exp();
            sum += *s;
        }
    }
    if sum > 0.0 {
        for s in scores.iter_mut() {
            if considered(*s) {
                *s /= sum;
            }
        }
    }
}
