//! The little linear algebra learning needs: running mean and covariance (Welford), and the
//! eigen decomposition of a symmetric matrix (cyclic Jacobi). Matrices are dense, row-major
//! `Vec<f64>` of `d × d`; `d` is the number of signals or features of one detector (at most
//! [`MAX_DIM`]), so O(d³) once per learning is a few milliseconds and no LAPACK is needed on
//! the gateway.

/// The most signals or features one multivariate detector takes: a 256 × 256 covariance is
/// 512 KiB, and its eigen decomposition a fraction of a second on a gateway core.
pub const MAX_DIM: usize = 256;

/// Running mean and co-moment matrix of `d`-dimensional vectors (Welford's update, which stays
/// accurate where the naive sum of squares cancels): O(d²) per vector, `d² + d` numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    d: usize,
    n: u64,
    mean: Vec<f64>,
    /// Σ (x - mean)(x - mean)ᵀ, upper triangle kept in full rows for simplicity.
    m2: Vec<f64>,
    delta: Vec<f64>,
}

impl Moments {
    pub fn new(d: usize) -> Moments {
        Moments {
            d,
            n: 0,
            mean: vec![0.0; d],
            m2: vec![0.0; d * d],
            delta: vec![0.0; d],
        }
    }

    pub fn dim(&self) -> usize {
        self.d
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    /// Add one vector; it must have `d` finite values (the caller checks).
    pub fn push(&mut self, x: &[f64]) {
        debug_assert_eq!(x.len(), self.d);
        self.n += 1;
        let n = self.n as f64;
        for (j, &v) in x.iter().enumerate() {
            self.delta[j] = v - self.mean[j];
            self.mean[j] += self.delta[j] / n;
        }
        // m2 += delta_old ⊗ (x - mean_new): symmetric in exact arithmetic.
        for i in 0..self.d {
            let di = self.delta[i];
            if di == 0.0 {
                continue;
            }
            let row = &mut self.m2[i * self.d..(i + 1) * self.d];
            for (j, r) in row.iter_mut().enumerate() {
                *r += di * (x[j] - self.mean[j]);
            }
        }
    }

    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The sample covariance (divided by n - 1), symmetrised; `None` below two vectors.
    pub fn covariance(&self) -> Option<Vec<f64>> {
        if self.n < 2 {
            return None;
        }
        let d = self.d;
        let k = (self.n - 1) as f64;
        let mut c = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] = 0.5 * (self.m2[i * d + j] + self.m2[j * d + i]) / k;
            }
        }
        Some(c)
    }
}

/// Eigenvalues (descending) and unit eigenvectors (column `i` of the row-major `vectors` for
/// value `i`) of a symmetric `d × d` matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Eigen {
    pub values: Vec<f64>,
    pub vectors: Vec<f64>,
}

impl Eigen {
    /// Component `i`'s loading on variable `j`.
    pub fn loading(&self, j: usize, i: usize) -> f64 {
        self.vectors[j * self.values.len() + i]
    }
}

/// Cyclic Jacobi rotations until the off-diagonal mass is below 1e-12 of the total (or 100
/// sweeps; a symmetric matrix converges quadratically, in under 15 sweeps in practice).
pub fn symmetric_eigen(a: &[f64], d: usize) -> Eigen {
    assert_eq!(a.len(), d * d, "a d × d matrix");
    let mut a = a.to_vec();
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let mut off = 0.0;
        for i in 0..d {
            for j in i + 1..d {
                off += a[i * d + j] * a[i * d + j];
            }
        }
        if off <= 1e-24 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() < f64::MIN_POSITIVE {
                    continue;
                }
                let (app, aqq) = (a[p * d + p], a[q * d + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&x, &y| a[y * d + y].total_cmp(&a[x * d + x]));
    let values = order.iter().map(|&i| a[i * d + i]).collect();
    let mut vectors = vec![0.0; d * d];
    for (new, &old) in order.iter().enumerate() {
        for k in 0..d {
            vectors[k * d + new] = v[k * d + old];
        }
    }
    Eigen { values, vectors }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn moments_match_the_two_pass_formulas() {
        let rows = [
            [1.0, 2.0, 10.0],
            [2.0, 1.0, 11.0],
            [3.0, 5.0, 9.0],
            [4.0, 3.0, 12.0],
        ];
        let mut m = Moments::new(3);
        for r in &rows {
            m.push(r);
        }
        let n = rows.len() as f64;
        let mean: Vec<f64> = (0..3)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let cov = m.covariance().unwrap();
        for i in 0..3 {
            assert!(close(m.mean()[i], mean[i], 1e-12));
            for j in 0..3 {
                let want = rows
                    .iter()
                    .map(|r| (r[i] - mean[i]) * (r[j] - mean[j]))
                    .sum::<f64>()
                    / (n - 1.0);
                assert!(close(cov[i * 3 + j], want, 1e-12), "{i},{j}");
            }
        }
        assert_eq!(Moments::new(2).covariance(), None);
    }

    #[test]
    fn moments_stay_accurate_far_from_zero() {
        // Values near 1e9 with unit spread: a naive sum of squares loses every digit.
        let mut m = Moments::new(1);
        for i in 0..1000 {
            m.push(&[1e9 + (i % 2) as f64]);
        }
        let var = m.covariance().unwrap()[0];
        assert!(close(var, 0.25 * 1000.0 / 999.0, 1e-9), "{var}");
    }

    #[test]
    fn eigen_reconstructs_the_matrix_with_orthonormal_vectors() {
        // A random symmetric 12 × 12 matrix from a fixed generator.
        let d = 12;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in i..d {
                let x = rnd();
                a[i * d + j] = x;
                a[j * d + i] = x;
            }
        }
        let e = symmetric_eigen(&a, d);
        assert!(e.values.windows(2).all(|w| w[0] >= w[1]), "descending");
        for i in 0..d {
            for j in 0..d {
                // (V Λ Vᵀ)_ij = a_ij and (Vᵀ V)_ij = δ_ij.
                let rec: f64 = (0..d)
                    .map(|k| e.loading(i, k) * e.values[k] * e.loading(j, k))
                    .sum();
                assert!(close(rec, a[i * d + j], 1e-9), "A[{i},{j}]");
                let dot: f64 = (0..d).map(|k| e.loading(k, i) * e.loading(k, j)).sum();
                assert!(close(dot, f64::from(u8::from(i == j)), 1e-9), "V[{i},{j}]");
            }
        }
    }

    #[test]
    fn eigen_of_a_known_matrix() {
        // [[2, 1], [1, 2]]: values 3 and 1, vectors (1, 1)/√2 and (1, -1)/√2.
        let e = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!(close(e.values[0], 3.0, 1e-12) && close(e.values[1], 1.0, 1e-12));
        let r = std::f64::consts::FRAC_1_SQRT_2;
        assert!(close(e.loading(0, 0).abs(), r, 1e-12));
        assert!(close(e.loading(0, 0) * e.loading(1, 0), 0.5, 1e-12));
        assert!(close(e.loading(0, 1) * e.loading(1, 1), -0.5, 1e-12));
        // Diagonal and singular matrices are fine too.
        let e = symmetric_eigen(&[0.0, 0.0, 0.0, 5.0], 2);
        assert_eq!(e.values, vec![5.0, 0.0]);
    }
}
