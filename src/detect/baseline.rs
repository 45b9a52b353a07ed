//! A learned baseline and its scorer: dynamic PCA with limits from the learning data.
//!
//! **Learning**, once, from the learning phase's vectors `x₁ … xₙ` of `d` signals:
//! - each scored vector is `yₜ = [xₜ, xₜ₋₁, …, xₜ₋L]` (`L` lags, `m = d·(L+1)` inputs), so the
//!   model sees how signals move, not only where they are (dynamic PCA);
//! - [`PcaModel::fit`] on `y_{L+1} … yₙ`;
//! - limits: the learning vectors are cut into [`FOLDS`] contiguous blocks, and each block is
//!   scored by a model fitted on the other blocks (out-of-fold, so the limits are what unseen
//!   normal data scores, not the optimistic in-sample scores); `T²` and `Q` of those scores,
//!   and their EWMA (λ = [`EWMA`], started at the fold model's in-sample mean), each give a
//!   limit: their [`QUANTILE`] quantile.
//!
//! **Scoring**, per vector, O(m·k): `T²` and `Q` of `yₜ`, and their EWMA (started at the full
//! model's in-sample mean, continuing from the learning data's last `L` vectors). The anomaly
//! index is the largest of the four ratios to their limits: 1.0 is the learned 99th percentile,
//! so alert limits are set in those units once for every machine. The raw ratios catch a
//! sudden change at once; the EWMA ones a small, lasting one (a drift, a slow fault).
//!
//! Explanations: each signal's share of the index, from the reconstruction-based
//! contributions ([`PcaModel::contributions`]) of the current vector to the combined index
//! `T²/limit + Q/limit` (raw limits), summed over the signal's lags.
//!
//! The choices and their measured effect are in EVALUATION.md.

use serde::{Deserialize, Serialize};

use super::pca::{quantile, FitError, PcaModel, Projection};

/// Blocks of the out-of-fold limits.
pub const FOLDS: usize = 5;
/// EWMA weight of the newest `T²` and `Q`.
pub const EWMA: f64 = 0.1;
/// The limits' quantile of the out-of-fold scores.
pub const QUANTILE: f64 = 0.99;
/// The smallest limit, in squared standardised units. When the kept components explain every
/// input (few inputs, `cumulative_variance` near 1), `Q` is rounding noise (1e-30) and so is
/// its learned limit: their ratio would be noise too, and its contributions garbage.
pub const MIN_LIMIT: f64 = 1e-6;

/// What learning produced: the plant's own data, persisted and sent to Kafka.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Signals per step (`d`).
    pub signals: usize,
    pub lags: usize,
    pub model: PcaModel,
    /// Limits of raw `T²`, raw `Q`, EWMA `T²`, EWMA `Q`.
    pub limits: [f64; 4],
    /// The EWMA's start: the in-sample mean `T²` and `Q`.
    pub ewma_start: [f64; 2],
    /// The learning phase's last `lags` vectors, oldest first: the first scored vectors' past.
    pub tail: Vec<Vec<f64>>,
    /// Steps learned from.
    pub steps: usize,
}

/// A PCA scorer's state beyond its baseline ([`Scorer::runtime`]), for the model thread's
/// checkpoint: a start goes on with the same EWMAs (and adapted centre) instead of the
/// learning phase's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PcaRuntime {
    pub ewma: [f64; 2],
    /// The adapted centre (only when the detector adapts).
    pub mean: Option<Vec<f64>>,
}

/// The index of one vector and what made it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub index: f64,
    pub t2: f64,
    pub q: f64,
}

fn lagged(rows: &[Vec<f64>], lags: usize) -> Vec<Vec<f64>> {
    (lags..rows.len())
        .map(|t| {
            (0..=lags)
                .flat_map(|j| rows[t - j].iter().copied())
                .collect()
        })
        .collect()
}

fn t2_q(model: &PcaModel, ys: &[Vec<f64>], p: &mut Projection) -> Vec<[f64; 2]> {
    ys.iter()
        .map(|y| {
            model.project(y, p);
            [p.t2, p.q]
        })
        .collect()
}

fn mean2(v: &[[f64; 2]]) -> [f64; 2] {
    let n = v.len().max(1) as f64;
    [
        v.iter().map(|s| s[0]).sum::<f64>() / n,
        v.iter().map(|s| s[1]).sum::<f64>() / n,
    ]
}

impl Baseline {
    /// Learn from `rows` (each of `d` finite values, in time order).
    pub fn learn(
        rows: &[Vec<f64>],
        lags: usize,
        cumulative_variance: f64,
    ) -> Result<Baseline, FitError> {
        let d = rows.first().map_or(0, Vec::len);
        let ys = lagged(rows, lags);
        let m = d * (lags + 1);
        let refs: Vec<&[f64]> = ys.iter().map(Vec::as_slice).collect();
        let model = PcaModel::fit(&refs, m, cumulative_variance)?;
        let mut p = Projection::default();
        let ewma_start = mean2(&t2_q(&model, &ys, &mut p));

        let n = ys.len();
        let mut raw = Vec::with_capacity(n);
        let mut smoothed = Vec::with_capacity(n);
        for i in 0..FOLDS {
            let (a, b) = (i * n / FOLDS, (i + 1) * n / FOLDS);
            let train: Vec<&[f64]> = refs[..a].iter().chain(&refs[b..]).copied().collect();
            let fold = PcaModel::fit(&train, m, cumulative_variance)?;
            let in_sample: Vec<[f64; 2]> = train
                .iter()
                .map(|y| {
                    fold.project(y, &mut p);
                    [p.t2, p.q]
                })
                .collect();
            let mut e = mean2(&in_sample);
            for s in t2_q(&fold, &ys[a..b], &mut p) {
                e = [
                    (1.0 - EWMA) * e[0] + EWMA * s[0],
                    (1.0 - EWMA) * e[1] + EWMA * s[1],
                ];
                raw.push(s);
                smoothed.push(e);
            }
        }
        let limit = |v: &[[f64; 2]], j: usize| {
            let col: Vec<f64> = v.iter().map(|s| s[j]).collect();
            quantile(&col, QUANTILE).unwrap_or(1.0).max(MIN_LIMIT)
        };
        Ok(Baseline {
            signals: d,
            lags,
            limits: [
                limit(&raw, 0),
                limit(&raw, 1),
                limit(&smoothed, 0),
                limit(&smoothed, 1),
            ],
            ewma_start,
            tail: rows[rows.len() - lags.min(rows.len())..].to_vec(),
            steps: rows.len(),
            model,
        })
    }
}

/// Adaptation moves the centre only on steps whose index is below this (well inside normal).
pub const ADAPT_BELOW: f64 = 1.0;

/// Scores vectors against a [`Baseline`], keeping the lags and the EWMA.
///
/// **Adaptation** (off unless [`Scorer::adapting`]): after each step whose index is below
/// [`ADAPT_BELOW`], the model's centre (each input's mean) moves toward the step by `alpha`
/// (an EWMA with the configured half-life), so a slowly drifting operating point is followed.
/// Scales, components and limits stay as learned. Its risk: a fault that develops more slowly
/// than the half-life, while each step still scores below 1.0, becomes the new normal and is
/// never raised (EVALUATION.md measures it on C-MAPSS, where degradation is exactly that).
/// The adapted centre, the EWMAs and the lags go into the model thread's checkpoint
/// ([`Scorer::runtime`]): a restart goes on from them.
#[derive(Debug, Clone)]
pub struct Scorer {
    baseline: Baseline,
    /// Weight of the newest step in the centre (0: off).
    alpha: f64,
    /// The last `lags` vectors, newest first.
    past: std::collections::VecDeque<Vec<f64>>,
    ewma: [f64; 2],
    y: Vec<f64>,
    p: Projection,
}

impl Scorer {
    pub fn new(mut baseline: Baseline) -> Scorer {
        // Baselines learned before MIN_LIMIT existed.
        for l in &mut baseline.limits {
            *l = l.max(MIN_LIMIT);
        }
        let past = baseline.tail.iter().rev().cloned().collect();
        Scorer {
            alpha: 0.0,
            ewma: baseline.ewma_start,
            past,
            y: Vec::new(),
            p: Projection::default(),
            baseline,
        }
    }

    /// Follow a drifting operating point with a centre that moves with this half-life in
    /// steps (see the type's documentation).
    pub fn adapting(mut self, half_life_steps: usize) -> Scorer {
        self.alpha = 1.0 - 0.5f64.powf(1.0 / half_life_steps.max(1) as f64);
        self
    }

    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    /// Score the next vector (`d` finite values; another length scores NaN, which alert
    /// rules ignore).
    pub fn score(&mut self, x: &[f64]) -> Score {
        let b = &self.baseline;
        if x.len() != b.signals || b.signals == 0 {
            return Score {
                index: f64::NAN,
                t2: f64::NAN,
                q: f64::NAN,
            };
        }
        self.y.clear();
        self.y.extend_from_slice(x);
        for past in self.past.iter().take(b.lags) {
            self.y.extend_from_slice(past);
        }
        // Until `lags` vectors are known (a baseline imported without its tail), repeat the
        // oldest known one.
        while self.y.len() < b.model.inputs() {
            let last = self.y[self.y.len() - b.signals..].to_vec();
            self.y.extend_from_slice(&last);
        }
        b.model.project(&self.y, &mut self.p);
        let (t2, q) = (self.p.t2, self.p.q);
        self.ewma = [
            (1.0 - EWMA) * self.ewma[0] + EWMA * t2,
            (1.0 - EWMA) * self.ewma[1] + EWMA * q,
        ];
        let l = &b.limits;
        let index = (t2 / l[0])
            .max(q / l[1])
            .max(self.ewma[0] / l[2])
            .max(self.ewma[1] / l[3]);
        if self.alpha > 0.0 && index < ADAPT_BELOW {
            let a = self.alpha;
            for (mu, y) in self.baseline.model.mean.iter_mut().zip(&self.y) {
                *mu += a * (y - *mu);
            }
        }
        let b = &self.baseline;
        if b.lags > 0 {
            if self.past.len() == b.lags {
                self.past.pop_back();
            }
            self.past.push_front(x.to_vec());
        }
        Score { index, t2, q }
    }

    /// What scoring changed since the baseline was learned: the EWMAs and, when it adapts,
    /// the centre. (Not the lags: after a stop the last vectors are at least one step old,
    /// see [`Scorer::forget_past`].)
    pub fn runtime(&self) -> PcaRuntime {
        PcaRuntime {
            ewma: self.ewma,
            mean: (self.alpha > 0.0).then(|| self.baseline.model.mean.clone()),
        }
    }

    /// Takes back a [`Scorer::runtime`] of a scorer of the same baseline; false (nothing
    /// changed) when it does not fit its dimensions or holds a number that is not finite.
    pub fn restore_runtime(&mut self, r: PcaRuntime) -> bool {
        let b = &self.baseline;
        let fits = r.ewma.iter().all(|v| v.is_finite() && *v >= 0.0)
            && r.mean
                .as_ref()
                .is_none_or(|m| m.len() == b.model.mean.len() && m.iter().all(|x| x.is_finite()));
        if !fits {
            return false;
        }
        self.ewma = r.ewma;
        if let (Some(m), true) = (r.mean, self.alpha > 0.0) {
            self.baseline.model.mean = m;
        }
        true
    }

    /// Forget the last vectors: the next ones stand in for their own lags until `lags` are
    /// known. For a start: the learning phase's tail, or the vectors before a stop, are
    /// steps away from the first one scored now, and a dynamic model reads that distance as
    /// a broken relation between consecutive steps (an index in the hundreds on the first
    /// step, measured in the runner's restart test).
    pub fn forget_past(&mut self) {
        self.past.clear();
    }

    /// Each signal's share (summing to 1) of the last scored vector's reconstruction-based
    /// contributions to `T²/limit + Q/limit` (raw limits), summed over the signal's lags.
    pub fn shares(&self) -> Vec<f64> {
        let b = &self.baseline;
        let mut c = Vec::new();
        b.model
            .contributions(&self.p, 1.0 / b.limits[0], 1.0 / b.limits[1], &mut c);
        let mut per_signal = vec![0.0; b.signals];
        for (j, v) in c.iter().enumerate() {
            per_signal[j % b.signals] += v;
        }
        let total: f64 = per_signal.iter().sum();
        if total > 0.0 {
            per_signal.iter_mut().for_each(|c| *c /= total);
        }
        per_signal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process of `d` signals driven by 3 slow factors, with noise; `fault` adds a step of
    /// `size` to signal 5 from step `at`.
    fn process(n: usize, seed: u64, fault: Option<(usize, f64)>) -> Vec<Vec<f64>> {
        let mut s = seed;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let d = 12;
        let mut f = [0.0f64; 3];
        (0..n)
            .map(|t| {
                for x in &mut f {
                    *x = 0.8 * *x + rnd();
                }
                let mut row: Vec<f64> = (0..d)
                    .map(|j| {
                        let w = [
                            (j % 3) as f64 + 1.0,
                            ((j + 1) % 4) as f64,
                            (j % 5) as f64 - 2.0,
                        ];
                        100.0 * (j + 1) as f64
                            + w[0] * f[0]
                            + w[1] * f[1]
                            + w[2] * f[2]
                            + 0.2 * rnd()
                    })
                    .collect();
                if let Some((at, size)) = fault {
                    if t >= at {
                        row[5] += size;
                    }
                }
                row
            })
            .collect()
    }

    #[test]
    fn normal_data_stays_under_the_limit_and_a_fault_goes_over_it_explained() {
        let learn = process(500, 1, None);
        let b = Baseline::learn(&learn, 2, 0.95).unwrap();
        assert_eq!(b.model.inputs(), 36);
        assert_eq!(b.tail.len(), 2);
        let mut s = Scorer::new(b.clone());
        let normal = process(1000, 2, None);
        let over = normal.iter().filter(|x| s.score(x).index > 1.2).count();
        // Out-of-fold limits at the 99th percentile, with a margin: about 1 % or less.
        assert!(over <= 20, "{over} of 1000 normal vectors over 1.2");

        let mut s = Scorer::new(b);
        // Signal 5 steps by 4 (about 2 of its standard deviations) off its learned relation.
        let faulty = process(300, 3, Some((100, 4.0)));
        let mut flagged = 0;
        for (t, x) in faulty.iter().enumerate() {
            let sc = s.score(x);
            if t >= 100 && sc.index > 1.2 {
                flagged += 1;
                let shares = s.shares();
                let top = (0..12)
                    .max_by(|&a, &c| shares[a].total_cmp(&shares[c]))
                    .unwrap();
                assert_eq!(top, 5, "{shares:?}");
                assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
        }
        assert!(flagged >= 190, "{flagged} of 200 faulty vectors flagged");
    }

    #[test]
    fn a_small_lasting_shift_is_caught_by_the_ewma() {
        let learn = process(500, 1, None);
        let b = Baseline::learn(&learn, 2, 0.95).unwrap();
        // A shift of signal 5 by 2: under the raw limits most of the time.
        let faulty = process(400, 4, Some((0, 2.0)));
        let mut s = Scorer::new(b.clone());
        let mut raw_over = 0;
        let mut over = 0;
        for x in &faulty {
            let sc = s.score(x);
            raw_over += usize::from(sc.t2 / b.limits[0] > 1.2 || sc.q / b.limits[1] > 1.2);
            over += usize::from(sc.index > 1.2);
        }
        assert!(
            over > 2 * raw_over && over > 200,
            "index {over}, raw alone {raw_over}"
        );
    }

    #[test]
    fn learning_is_deterministic_and_survives_a_cbor_round_trip() {
        let learn = process(300, 9, None);
        let a = Baseline::learn(&learn, 1, 0.9).unwrap();
        let b = Baseline::learn(&learn, 1, 0.9).unwrap();
        assert_eq!(a, b);
        let bytes = crate::codec::to_cbor(&a).unwrap();
        let back: Baseline = crate::codec::from_cbor(&bytes).unwrap();
        assert_eq!(a, back);
        let x = &process(1, 10, None)[0];
        assert_eq!(Scorer::new(a).score(x), Scorer::new(back).score(x));
    }

    #[test]
    fn too_few_steps_are_an_error_not_a_panic() {
        let learn = process(3, 1, None);
        assert!(Baseline::learn(&learn, 2, 0.95).is_err());
        assert!(Baseline::learn(&[], 0, 0.95).is_err());
    }

    #[test]
    fn adaptation_follows_a_slow_drift_of_the_operating_point_but_not_a_sudden_fault() {
        let b = Baseline::learn(&process(500, 1, None), 2, 0.95).unwrap();
        // Every signal's level drifts up by 0.002 per step (4 over 2000 steps; the noise's
        // standard deviation is 0.06).
        let drift = |rows: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
            rows.into_iter()
                .enumerate()
                .map(|(t, r)| r.into_iter().map(|v| v + 0.002 * t as f64).collect())
                .collect()
        };
        let rows = drift(process(2000, 3, None));
        let over = |s: &mut Scorer, rows: &[Vec<f64>]| {
            rows.iter().filter(|x| s.score(x).index > 1.2).count()
        };
        let fixed = over(&mut Scorer::new(b.clone()), &rows);
        let mut adapting = Scorer::new(b.clone()).adapting(10);
        let followed = over(&mut adapting, &rows);
        assert!(fixed > 1000, "the fixed baseline flags the drift: {fixed}");
        assert!(followed < 40, "the adapting one follows it: {followed}");
        // A sudden fault at the end of the drift is still raised by the adapting scorer.
        let fault: Vec<Vec<f64>> = drift(process(2100, 3, Some((2000, 6.0)))).split_off(2000);
        assert!(over(&mut adapting, &fault) > 80);
        // The learned baseline itself is unchanged.
        assert_eq!(adapting.baseline().limits, b.limits);
    }
}
