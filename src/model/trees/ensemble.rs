//! A parsed tree ensemble and its output per row: the regressor's aggregate, base values and
//! post transform; the classifier's scores and label, with onnxruntime's two-class rules.

use tract_onnx::tract_hir::internal::*;

use super::forest::{logistic, Aggregate, Forest, ForestError, PostTransform};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Labels {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Labels {
    pub(super) fn len(&self) -> usize {
        match self {
            Labels::Int(l) => l.len(),
            Labels::Str(l) => l.len(),
        }
    }

    pub(super) fn datum_type(&self) -> DatumType {
        match self {
            Labels::Int(_) => DatumType::I64,
            Labels::Str(_) => DatumType::String,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Head {
    Classifier { labels: Labels, binary_case: bool },
    Regressor { aggregate: Aggregate },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    pub(super) forest: Forest,
    /// Empty, one value, or one per output.
    pub(super) base: Vec<f32>,
    pub(super) post: PostTransform,
    pub(super) head: Head,
}

/// Per-row scratch, reused across rows.
struct Scratch {
    scores: Vec<f32>,
    hit: Vec<bool>,
}

impl Ensemble {
    pub(super) fn n_outputs(&self) -> usize {
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

    pub(super) fn eval(&self, input: &Tensor) -> TractResult<TVec<TValue>> {
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
