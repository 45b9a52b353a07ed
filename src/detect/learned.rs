//! What a detector learned, whatever its method, and the scorer made from it: the runner learns,
//! scores and explains through these without knowing the method.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::{DetectorConfig, DetectorMethod};
use crate::record::Contribution;

use super::baseline::{Baseline, PcaRuntime, Scorer};
use super::knn::Knn;
use super::pca::FitError;

/// A kNN detector's learned state: one [`Knn`] per signal, and each signal's mean and
/// standard deviation over the learning steps (for the explanations' z).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnBaseline {
    pub signals: Vec<Knn>,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    pub steps: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Learned {
    Pca(Baseline),
    Knn(KnnBaseline),
}

fn column_stats(rows: &[Vec<f64>], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len().max(1) as f64;
    let mean: Vec<f64> = (0..d)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect();
    let sd = (0..d)
        .map(|j| (rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt())
        .collect();
    (mean, sd)
}

impl Learned {
    /// Learn from the learning phase's steps (each `d` finite values, in time order).
    pub fn learn(c: &DetectorConfig, rows: &[Vec<f64>]) -> Result<Learned, FitError> {
        match c.method {
            DetectorMethod::Pca {
                lags,
                cumulative_variance,
            } => Baseline::learn(rows, lags, cumulative_variance).map(Learned::Pca),
            DetectorMethod::Knn => {
                let d = c.inputs.len();
                if let Some(r) = rows.iter().find(|r| r.len() != d) {
                    return Err(FitError::Width {
                        got: r.len(),
                        want: d,
                    });
                }
                let mut signals: Vec<Knn> = (0..d).map(|_| Knn::new(rows.len())).collect();
                for r in rows {
                    for (k, x) in signals.iter_mut().zip(r) {
                        k.push(*x);
                    }
                }
                let (mean, sd) = column_stats(rows, d);
                Ok(Learned::Knn(KnnBaseline {
                    signals,
                    mean,
                    sd,
                    steps: rows.len(),
                }))
            }
        }
    }

    pub fn steps(&self) -> usize {
        match self {
            Learned::Pca(b) => b.steps,
            Learned::Knn(k) => k.steps,
        }
    }

    /// Each signal's learned mean and standard deviation.
    pub fn stats(&self, j: usize) -> (f64, f64) {
        let (mean, sd) = match self {
            Learned::Pca(b) => (&b.model.mean, &b.model.sd),
            Learned::Knn(k) => (&k.mean, &k.sd),
        };
        (
            mean.get(j).copied().unwrap_or(f64::NAN),
            sd.get(j).copied().unwrap_or(f64::NAN),
        )
    }
}

/// A scorer's state beyond its baseline, for the model thread's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScorerRuntime {
    Pca(PcaRuntime),
    Knn { signals: Vec<Knn>, last: Vec<f64> },
}

/// Scores steps against what was learned.
#[derive(Debug, Clone)]
pub enum AnyScorer {
    Pca(Box<Scorer>),
    Knn {
        base: KnnBaseline,
        /// Each signal's last index (NaN until it has one).
        last: Vec<f64>,
    },
}

impl AnyScorer {
    /// The scorer of `l`; a PCA one adapts with `adapt` (half-life in steps), if given.
    pub fn new(l: Learned, adapt: Option<usize>) -> AnyScorer {
        match l {
            Learned::Pca(b) => {
                let s = Scorer::new(b);
                AnyScorer::Pca(Box::new(match adapt {
                    Some(h) => s.adapting(h),
                    None => s,
                }))
            }
            Learned::Knn(base) => AnyScorer::Knn {
                last: vec![f64::NAN; base.signals.len()],
                base,
            },
        }
    }

    /// What scoring changed since the baseline was learned, for a checkpoint.
    pub fn runtime(&self) -> ScorerRuntime {
        match self {
            AnyScorer::Pca(s) => ScorerRuntime::Pca(s.runtime()),
            AnyScorer::Knn { base, last } => ScorerRuntime::Knn {
                signals: base.signals.clone(),
                last: last.clone(),
            },
        }
    }

    /// Takes back a [`AnyScorer::runtime`] of a scorer of the same baseline; false (nothing
    /// changed) when it is of another method or does not fit.
    pub fn restore_runtime(&mut self, r: ScorerRuntime) -> bool {
        match (self, r) {
            (AnyScorer::Pca(s), ScorerRuntime::Pca(r)) => s.restore_runtime(r),
            (AnyScorer::Knn { base, last }, ScorerRuntime::Knn { signals, last: l }) => {
                let fits = signals.len() == base.signals.len()
                    && l.len() == last.len()
                    && signals.iter().zip(&base.signals).all(|(a, b)| {
                        a.window == b.window
                            && a.values.len() <= b.window + 2 * super::knn::LAGS
                            && a.distances.len() <= b.window + super::knn::SHORT
                            && a.recent.len() <= super::knn::HOLD
                            && a.values.iter().all(|v| v.is_finite())
                    });
                if fits {
                    base.signals = signals;
                    *last = l;
                }
                fits
            }
            _ => false,
        }
    }

    /// A start: the vectors of the learning phase or before the stop are not the last steps
    /// any more ([`Scorer::forget_past`]).
    pub fn forget_past(&mut self) {
        if let AnyScorer::Pca(s) = self {
            s.forget_past();
        }
    }

    /// The anomaly index of the next step (NaN: none yet, which alert rules ignore).
    pub fn score(&mut self, x: &[f64]) -> f64 {
        match self {
            AnyScorer::Pca(s) => s.score(x).index,
            AnyScorer::Knn { base, last } => {
                for ((k, v), l) in base.signals.iter_mut().zip(x).zip(last.iter_mut()) {
                    *l = k.push(*v).unwrap_or(f64::NAN);
                }
                last.iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(f64::NAN, f64::max)
            }
        }
    }

    /// The signals with the largest share of the last scored step's index, largest first:
    /// PCA by their reconstruction-based contributions, kNN by their own index.
    pub fn contributions(&self, signals: &[Arc<str>], x: &[f64], n: usize) -> Vec<Contribution> {
        let shares = match self {
            AnyScorer::Pca(s) => s.shares(),
            AnyScorer::Knn { last, .. } => {
                let pos: Vec<f64> = last
                    .iter()
                    .map(|u| if u.is_finite() { u.max(0.0) } else { 0.0 })
                    .collect();
                let total: f64 = pos.iter().sum();
                pos.iter()
                    .map(|p| if total > 0.0 { p / total } else { 0.0 })
                    .collect()
            }
        };
        let mut all: Vec<Contribution> = signals
            .iter()
            .zip(x)
            .enumerate()
            .map(|(j, (name, &value))| {
                let (mean, sd) = self.stats(j);
                Contribution {
                    signal: name.to_string(),
                    value,
                    z: if sd > 0.0 { (value - mean) / sd } else { 0.0 },
                    share: shares.get(j).copied().unwrap_or(0.0),
                }
            })
            .collect();
        all.sort_by(|a, b| b.share.total_cmp(&a.share));
        all.truncate(n);
        all
    }

    fn stats(&self, j: usize) -> (f64, f64) {
        match self {
            AnyScorer::Pca(s) => {
                let m = &s.baseline().model;
                (m.mean[j], m.sd[j])
            }
            AnyScorer::Knn { base, .. } => (base.mean[j], base.sd[j]),
        }
    }
}
