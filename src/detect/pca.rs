//! Principal component monitoring of correlated signals: Hotelling's T² (how far a vector is
//! inside the learned subspace, in units of each component's learned variance) and Q, the
//! squared prediction error (how far it is off that subspace).
//!
//! [`PcaModel`] is fitted once, from the learning vectors: each input is standardised by its
//! learned mean and standard deviation, the correlation matrix is decomposed
//! ([`super::linalg::symmetric_eigen`]), and the first `k` components that explain
//! `cumulative_variance` of the total are kept. Scoring one vector of `m` inputs costs
//! O(m·k); the model holds `m·k + k + 2m` numbers.
//!
//! Contributions (which inputs make an index large) are reconstruction-based (Alcala and Qin,
//! 2009): input `j`'s contribution is how much of the index would go if input `j` alone were
//! corrected, `(ξⱼᵀ M z)² / (ξⱼᵀ M ξⱼ)` with M = I − P Pᵀ for Q, M = P Λ⁻¹ Pᵀ for T², and
//! their weighted sum for a combined index.
//! Unlike the plain per-input terms of Q, which smear a fault of one input onto the inputs
//! correlated with it, a large enough fault of one input is always its largest contribution.

use super::linalg::{symmetric_eigen, Moments};

/// Standard deviations below this are a constant input: it is centred but not scaled, and
/// any change of it is off the learned subspace (it shows in Q).
const MIN_SD: f64 = 1e-12;
/// Eigenvalues are floored here, so a near-singular correlation never divides by zero.
const MIN_EIGENVALUE: f64 = 1e-12;

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("{got} learning vectors, at least {need} are needed")]
    TooFew { got: usize, need: usize },
    #[error("a learning vector has {got} values, the detector takes {want}")]
    Width { got: usize, want: usize },
}

/// A fitted PCA model over `m` inputs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PcaModel {
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    /// Loadings, `m × k` row-major: input `j`, component `i` at `j * k + i`.
    pub loadings: Vec<f64>,
    /// The kept components' variances, descending.
    pub variances: Vec<f64>,
    /// Share of the total variance the kept components explain.
    pub explained: f64,
}

/// T², Q and the standardised vector and residual they came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    pub t2: f64,
    pub q: f64,
    pub z: Vec<f64>,
    /// Scores divided by their variances (tᵢ / λᵢ), `k` values.
    pub weighted: Vec<f64>,
    pub residual: Vec<f64>,
}

impl PcaModel {
    /// Fit on `rows` (each of `m` finite values), keeping the fewest components that explain
    /// at least `cumulative_variance` (0 < c ≤ 1) of the variance.
    pub fn fit(rows: &[&[f64]], m: usize, cumulative_variance: f64) -> Result<PcaModel, FitError> {
        let need = 3;
        if rows.len() < need {
            return Err(FitError::TooFew {
                got: rows.len(),
                need,
            });
        }
        let mut moments = Moments::new(m);
        for r in rows {
            if r.len() != m {
                return Err(FitError::Width {
                    got: r.len(),
                    want: m,
                });
            }
            moments.push(r);
        }
        let cov = moments.covariance().ok_or(FitError::TooFew {
            got: rows.len(),
            need,
        })?;
        let sd: Vec<f64> = (0..m)
            .map(|j| {
                let s = cov[j * m + j].max(0.0).sqrt();
                if s > MIN_SD {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        let mut corr = cov;
        for i in 0..m {
            for j in 0..m {
                corr[i * m + j] /= sd[i] * sd[j];
            }
        }
        let eigen = symmetric_eigen(&corr, m);
        let values: Vec<f64> = eigen
            .values
            .iter()
            .map(|&v| v.max(MIN_EIGENVALUE))
            .collect();
        let total: f64 = values.iter().sum();
        // At most n − 2 components: beyond, the learning vectors cannot tell them apart.
        let max_k = m.min(rows.len() - 2).max(1);
        let mut k = 0;
        let mut acc = 0.0;
        while k < max_k {
            acc += values[k];
            k += 1;
            if acc / total >= cumulative_variance {
                break;
            }
        }
        let mut loadings = vec![0.0; m * k];
        for j in 0..m {
            for i in 0..k {
                loadings[j * k + i] = eigen.loading(j, i);
            }
        }
        Ok(PcaModel {
            mean: moments.mean().to_vec(),
            sd,
            loadings,
            variances: values[..k].to_vec(),
            explained: acc / total,
        })
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.mean.len()
    }

    /// Number of kept components.
    pub fn components(&self) -> usize {
        self.variances.len()
    }

    /// T² and Q of `x` (`m` values), with what [`Self::contributions`] needs, in `p`.
    pub fn project(&self, x: &[f64], p: &mut Projection) {
        let (m, k) = (self.inputs(), self.components());
        p.z.clear();
        p.z.extend(
            x.iter()
                .zip(self.mean.iter().zip(&self.sd))
                .map(|(v, (mu, sd))| (v - mu) / sd),
        );
        p.weighted.clear();
        p.weighted.resize(k, 0.0);
        for j in 0..m {
            let zj = p.z[j];
            for (w, l) in p
                .weighted
                .iter_mut()
                .zip(&self.loadings[j * k..(j + 1) * k])
            {
                *w += zj * l;
            }
        }
        let mut t2 = 0.0;
        for (w, var) in p.weighted.iter_mut().zip(&self.variances) {
            t2 += *w * *w / var;
            *w /= var;
        }
        p.residual.clear();
        let mut q = 0.0;
        for j in 0..m {
            let row = &self.loadings[j * k..(j + 1) * k];
            // Pt = P (Λ w) where w = t / λ: the projection back onto the inputs.
            let back: f64 = row
                .iter()
                .zip(p.weighted.iter().zip(&self.variances))
                .map(|(l, (w, var))| l * w * var)
                .sum();
            let r = p.z[j] - back;
            q += r * r;
            p.residual.push(r);
        }
        p.t2 = t2;
        p.q = q;
    }

    /// Each input's reconstruction-based contribution to the combined index
    /// `wt·T² + wq·Q` for the projection `p`: `(ξⱼᵀ M z)² / Mⱼⱼ` with
    /// M = wt·P Λ⁻¹ Pᵀ + wq·(I − P Pᵀ) (Alcala and Qin's combined index; `wt = 0` gives the
    /// contributions to Q alone, `wq = 0` to T² alone). For a fault of one input large enough
    /// to be detected, that input has the largest contribution.
    pub fn contributions(&self, p: &Projection, wt: f64, wq: f64, out: &mut Vec<f64>) {
        let k = self.components();
        out.clear();
        for j in 0..self.inputs() {
            let row = &self.loadings[j * k..(j + 1) * k];
            // (P Λ⁻¹ Pᵀ z)ⱼ, (P Λ⁻¹ Pᵀ)ⱼⱼ and (I − P Pᵀ)ⱼⱼ.
            let pw: f64 = row.iter().zip(&p.weighted).map(|(l, w)| l * w).sum();
            let d_jj: f64 = row
                .iter()
                .zip(&self.variances)
                .map(|(l, v)| l * l / v)
                .sum();
            let c_jj = (1.0 - row.iter().map(|l| l * l).sum::<f64>()).max(0.0);
            let mz = wt * pw + wq * p.residual[j];
            let m_jj = wt * d_jj + wq * c_jj;
            out.push(if m_jj > MIN_EIGENVALUE {
                mz * mz / m_jj
            } else {
                0.0
            });
        }
    }
}

/// The `q`-quantile (0 ≤ q ≤ 1) of `values` with linear interpolation between order
/// statistics (the common "type 7" definition); `None` for no values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors of 4 inputs driven by 2 hidden factors plus a little noise: a two-dimensional
    /// subspace, deterministic.
    fn factor_rows(n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut s = seed;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        (0..n)
            .map(|_| {
                let (a, b) = (rnd() * 4.0, rnd() * 2.0);
                vec![
                    10.0 + a + 0.01 * rnd(),
                    -3.0 + 2.0 * a - b + 0.01 * rnd(),
                    100.0 + b * 5.0 + 0.01 * rnd(),
                    a + b + 0.01 * rnd(),
                ]
            })
            .collect()
    }

    fn fit(rows: &[Vec<f64>], c: f64) -> PcaModel {
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        PcaModel::fit(&refs, rows[0].len(), c).unwrap()
    }

    #[test]
    fn two_factors_are_two_components_and_normal_vectors_score_low() {
        let rows = factor_rows(500, 7);
        let m = fit(&rows, 0.99);
        assert_eq!(m.components(), 2, "{:?}", m.variances);
        assert!(m.explained >= 0.99);
        let mut p = Projection::default();
        // Normal vectors from the same process, not seen in learning: Q is noise-sized, T²
        // averages about k = 2.
        let fresh = factor_rows(500, 99);
        let (mut t2, mut q) = (0.0, 0.0f64);
        for r in &fresh {
            m.project(r, &mut p);
            t2 += p.t2;
            q = q.max(p.q);
        }
        let mean_t2 = t2 / fresh.len() as f64;
        assert!((1.5..2.5).contains(&mean_t2), "{mean_t2}");
        assert!(q < 0.05, "{q}");
    }

    #[test]
    fn a_broken_correlation_shows_in_q_and_its_input_leads_the_contributions() {
        let rows = factor_rows(500, 7);
        let m = fit(&rows, 0.99);
        let mut x = factor_rows(1, 3).remove(0);
        // Input 2 moves by 1 (a fifth of its learned spread) while the others stay put: small
        // for that input alone, but off the learned subspace.
        x[2] += 1.0;
        let mut p = Projection::default();
        let normal_q = factor_rows(500, 99)
            .iter()
            .map(|r| {
                m.project(r, &mut p);
                p.q
            })
            .fold(0.0, f64::max);
        m.project(&x, &mut p);
        assert!(p.q > 100.0 * normal_q, "{} vs normal {normal_q}", p.q);
        let (mut ct2, mut cq) = (Vec::new(), Vec::new());
        m.contributions(&p, 1.0, 0.0, &mut ct2);
        m.contributions(&p, 0.0, 1.0, &mut cq);
        // Correcting one input can remove at most the whole index.
        assert!(
            cq.iter().all(|&c| c <= p.q * (1.0 + 1e-9)),
            "{cq:?} vs {}",
            p.q
        );
        assert!(
            ct2.iter().all(|&c| c <= p.t2 * (1.0 + 1e-9)),
            "{ct2:?} vs {}",
            p.t2
        );
        let top = (0..4).max_by(|&a, &b| cq[a].total_cmp(&cq[b])).unwrap();
        assert_eq!(top, 2, "{cq:?}");
    }

    #[test]
    fn a_move_along_the_subspace_shows_in_t2_not_q() {
        let rows = factor_rows(500, 7);
        let m = fit(&rows, 0.99);
        // Factor a at 8 (learned: uniform in ±2, sd 1.15): every input moves as learned.
        let a = 8.0;
        let x = [10.0 + a, -3.0 + 2.0 * a, 100.0, a];
        let mut p = Projection::default();
        m.project(&x, &mut p);
        assert!(p.t2 > 40.0, "{}", p.t2);
        assert!(p.q < 0.05, "{}", p.q);
    }

    #[test]
    fn a_constant_input_is_kept_and_any_change_of_it_is_off_the_subspace() {
        let mut rows = factor_rows(200, 7);
        for r in &mut rows {
            r.push(42.0);
        }
        let m = fit(&rows, 0.99);
        assert_eq!(m.sd[4], 1.0);
        let mut x = rows[10].clone();
        let mut p = Projection::default();
        m.project(&x, &mut p);
        let before = p.q;
        x[4] = 43.0;
        m.project(&x, &mut p);
        assert!(p.q >= before + 0.99, "{before} → {}", p.q);
    }

    #[test]
    fn fitting_needs_enough_vectors_of_the_right_width() {
        let rows = factor_rows(2, 7);
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        assert_eq!(
            PcaModel::fit(&refs, 4, 0.9),
            Err(FitError::TooFew { got: 2, need: 3 })
        );
        let rows = factor_rows(5, 7);
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        assert_eq!(
            PcaModel::fit(&refs, 3, 0.9),
            Err(FitError::Width { got: 4, want: 3 })
        );
    }

    #[test]
    fn quantiles_interpolate_like_the_common_definition() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(5.0));
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert!((quantile(&v, 0.99).unwrap() - 4.96).abs() < 1e-12);
        assert_eq!(quantile(&[], 0.5), None);
    }
}
