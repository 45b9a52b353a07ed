//! A streaming novelty score for one slow signal: how far the latest stretch of the signal is
//! from everything it did in the recent past, in units of how far such stretches usually are.
//!
//! Per step `t`, with the signal's step values `x`:
//! - the pattern `vₜ = (x_{t−L+1}, …, xₜ)` ([`LAGS`] values);
//! - its distance `sₜ` to the nearest of the `W` patterns that ended in `[t − L − W, t − L)`
//!   (`W` = the learning phase's length; the `L` newest patterns are left out so `vₜ` never
//!   overlaps its neighbour);
//! - `uₜ = (mₜ − μ) / (3σ)`: `mₜ` the mean of the last [`SHORT`] distances, `μ` and `σ` the
//!   mean and standard deviation of the (up to) `W` distances before them, once there are
//!   [`MIN_REFERENCE`]. `u = 1` is three standard deviations: scale-free, so no unit or range
//!   is configured per signal.
//! - the index is the largest `u` of the last [`HOLD`] steps, so an alert rule with `off`
//!   clears only after that many quiet steps in a row.
//!
//! **It adapts.** Reference patterns and `μ`, `σ` slide with the data: it finds behaviour new
//! relative to the last `W` steps, and a lasting change becomes normal after about `W` steps
//! (its alert clears). That is what scored best on the NAB development files, where frozen
//! references scored far lower (EVALUATION.md); "differs from the learned baseline" is the
//! PCA detector's job.
//!
//! Cost per step: `W · L` multiply-adds (750 · 19 ≈ 14k for NAB's learning length). Memory:
//! `W + 2L` values and `W + SHORT` distances, about 12 KiB per signal at `W = 750`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Values in a pattern (`L`).
pub const LAGS: usize = crate::config::KNN_LAGS;
/// Distances averaged into the current one.
pub const SHORT: usize = 5;
/// Steps the index holds its largest `u`.
pub const HOLD: usize = 12;
/// Distances before the short window needed for a first index.
pub const MIN_REFERENCE: usize = crate::config::KNN_MIN_REFERENCE;
/// The largest index reported (a jump out of a perfectly constant stretch has `σ = 0`).
pub const MAX_INDEX: f64 = 1e6;

/// The state of one signal, persisted with the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knn {
    /// `W`.
    pub window: usize,
    /// The last `W + 2L` values, oldest first.
    pub values: VecDeque<f64>,
    /// The last `W + SHORT` distances, oldest first.
    pub distances: VecDeque<f64>,
    /// The last [`HOLD`] `u`, oldest first.
    pub recent: VecDeque<f64>,
}

impl Knn {
    pub fn new(window: usize) -> Knn {
        let window = window.max(1);
        Knn {
            window,
            values: VecDeque::with_capacity(window + 2 * LAGS),
            distances: VecDeque::with_capacity(window + SHORT),
            recent: VecDeque::with_capacity(HOLD),
        }
    }

    /// Enough history for an index: `2L + 1` values, then [`MIN_REFERENCE`] + [`SHORT`]
    /// distances.
    pub fn ready(&self) -> bool {
        self.distances.len() >= MIN_REFERENCE.min(self.window) + SHORT
    }

    /// Take the next step's value; the index once there is enough history, else `None`.
    /// A non-finite value is not taken (`None`).
    pub fn push(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return None;
        }
        let cap = self.window + 2 * LAGS;
        if self.values.len() == cap {
            self.values.pop_front();
        }
        self.values.push_back(x);
        let d = self.distance()?;
        if self.distances.len() == self.window + SHORT {
            self.distances.pop_front();
        }
        self.distances.push_back(d);
        if !self.ready() {
            return None;
        }
        let u = self.likelihood();
        if self.recent.len() == HOLD {
            self.recent.pop_front();
        }
        self.recent.push_back(u);
        Some(
            self.recent
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max),
        )
    }

    /// The current pattern's distance to its nearest reference, once `L + 1` patterns exist.
    fn distance(&self) -> Option<f64> {
        let n = self.values.len();
        if n < 2 * LAGS + 1 {
            return None;
        }
        let (a, b) = self.values.as_slices();
        let at = |i: usize| if i < a.len() { a[i] } else { b[i - a.len()] };
        let current = n - LAGS;
        // References end more than L before the current pattern's end (so they never
        // overlap it): they start below current − L; at most W of them (the buffer's length).
        let mut best = f64::INFINITY;
        for start in 0..current - LAGS {
            let mut d = 0.0;
            for k in 0..LAGS {
                let e = at(current + k) - at(start + k);
                d += e * e;
                if d >= best {
                    break;
                }
            }
            best = best.min(d);
        }
        Some(best.sqrt())
    }

    fn likelihood(&self) -> f64 {
        let n = self.distances.len();
        let (ref_part, short) = (n - SHORT, SHORT as f64);
        let m = self.distances.iter().skip(ref_part).sum::<f64>() / short;
        let w = ref_part as f64;
        let mu = self.distances.iter().take(ref_part).sum::<f64>() / w;
        let var = self
            .distances
            .iter()
            .take(ref_part)
            .map(|d| (d - mu) * (d - mu))
            .sum::<f64>()
            / w;
        let sigma = var.sqrt();
        let u = if sigma > f64::EPSILON * mu.abs().max(f64::MIN_POSITIVE) {
            (m - mu) / (3.0 * sigma)
        } else if m > mu {
            MAX_INDEX
        } else {
            0.0
        };
        u.clamp(-MAX_INDEX, MAX_INDEX)
    }

    /// Every number finite and every length within what [`Knn::push`] keeps (for a stored or
    /// imported state).
    pub fn check(&self) -> Result<(), String> {
        if self.window == 0 || self.window > crate::config::KNN_MAX_WINDOW {
            return Err(format!("window {}", self.window));
        }
        if self.values.len() > self.window + 2 * LAGS
            || self.distances.len() > self.window + SHORT
            || self.recent.len() > HOLD
        {
            return Err("more history than its window keeps".into());
        }
        let finite = |v: &VecDeque<f64>| v.iter().all(|x| x.is_finite());
        if !finite(&self.values) || !finite(&self.distances) || !finite(&self.recent) {
            return Err("a value, distance or index is not finite".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize) -> Vec<f64> {
        (0..n)
            .map(|t| {
                let t = t as f64;
                (t * 0.3).sin() * 10.0 + ((t * 7.7).sin() * 0.3)
            })
            .collect()
    }

    #[test]
    fn scores_only_after_its_history_then_stays_low_on_the_same_behaviour() {
        let mut k = Knn::new(100);
        let xs = series(600);
        let indices: Vec<Option<f64>> = xs.iter().map(|&x| k.push(x)).collect();
        // 2L + 1 values give the first distance, MIN_REFERENCE + SHORT distances the first
        // index.
        let first = indices.iter().position(Option::is_some);
        assert_eq!(first, Some(2 * LAGS + MIN_REFERENCE + SHORT - 1));
        // After a learning phase of W steps (where the runner raises nothing), the same
        // behaviour scores below an alert's `off`.
        let max = indices[100..]
            .iter()
            .flatten()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(max < 1.2, "normal behaviour scored {max}");
    }

    #[test]
    fn a_new_pattern_raises_the_index_and_it_holds_then_adapts() {
        let mut k = Knn::new(100);
        for x in series(400) {
            k.push(x);
        }
        // A spike: a pattern never seen.
        let mut after = Vec::new();
        for (t, x) in series(400).into_iter().enumerate() {
            let x = if t == 10 { x + 40.0 } else { x };
            after.push(k.push(x).unwrap());
        }
        let peak = after.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(peak >= 1.5, "spike scored {peak}");
        let raised_at = after.iter().position(|&i| i >= 1.5).unwrap();
        assert!(raised_at <= 12, "{raised_at}");
        // Held for HOLD steps after u fell, then low again.
        assert!(after[raised_at + 1] >= 1.2);
        assert!(after[300..].iter().all(|&i| i < 1.2), "{:?}", &after[300..]);
    }

    #[test]
    fn a_constant_signal_scores_zero_and_a_jump_out_of_it_is_the_largest_index() {
        let mut k = Knn::new(50);
        let mut last = None;
        for _ in 0..200 {
            last = k.push(3.0);
        }
        assert_eq!(last, Some(0.0));
        assert_eq!(k.push(4.0), Some(MAX_INDEX));
        assert_eq!(k.push(f64::NAN), None);
        assert!(k.check().is_ok());
    }

    #[test]
    fn a_damaged_state_is_refused() {
        let mut k = Knn::new(50);
        for x in series(200) {
            k.push(x);
        }
        let mut bad = k.clone();
        bad.values.push_back(f64::INFINITY);
        assert!(bad.check().is_err());
        let mut bad = k.clone();
        bad.distances.extend([1.0; 100]);
        assert!(bad.check().is_err());
        let mut bad = k;
        bad.window = 0;
        assert!(bad.check().is_err());
    }
}
