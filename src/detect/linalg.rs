//! The little linear algebra learning needs: running mean and covariance (Welford), and the
//! eigen decomposition of a symmetric matrix (Householder tridiagonalisation, then implicit
//! QL). Matrices are dense, row-major `Vec<f64>` of `d × d`; `d` is the number of inputs of one
//! detector (at most [`crate::config::MAX_DETECTOR_INPUTS`]), so O(d³) once per
//! learning is milliseconds and no LAPACK is needed on the gateway.

/// Running mean and co-moment matrix of `d`-dimensional vectors (Welford's update, which stays
/// accurate where the naive sum of squares cancels): O(d²) per vector, `d² + d` numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    d: usize,
    n: u64,
    mean: Vec<f64>,
    /// Σ (x - mean)(x - mean)ᵀ, the whole d × d matrix (symmetrised when read).
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

/// Householder reduction to tridiagonal form, then the implicit QL algorithm with shifts:
/// about 9·d³ flops in all (Jacobi rotations take several times that per sweep), so a 156 × 156
/// correlation (52 signals, two lags) takes milliseconds. Iterations are capped (60 per
/// eigenvalue), so even a matrix with non-finite entries ends.
pub fn symmetric_eigen(a: &[f64], d: usize) -> Eigen {
    assert_eq!(a.len(), d * d, "a d × d matrix");
    if d == 0 {
        return Eigen {
            values: Vec::new(),
            vectors: Vec::new(),
        };
    }
    let n = d;
    // v[i][j] at v[i * n + j]; starts as the matrix, ends as the eigenvectors (columns).
    let mut v = a.to_vec();
    let mut diag = vec![0.0; n];
    let mut off = vec![0.0; n];
    tridiagonalize(&mut v, &mut diag, &mut off, n);
    diagonalize(&mut v, &mut diag, &mut off, n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| diag[y].total_cmp(&diag[x]));
    let values = order.iter().map(|&i| diag[i]).collect();
    let mut vectors = vec![0.0; n * n];
    for (new, &old) in order.iter().enumerate() {
        for k in 0..n {
            vectors[k * n + new] = v[k * n + old];
        }
    }
    Eigen { values, vectors }
}

/// Householder tridiagonalisation of the symmetric matrix in `v`: `diag` and `off` receive the
/// tridiagonal matrix (`off[i]` below the diagonal in row `i`), `v` the orthogonal transform.
fn tridiagonalize(v: &mut [f64], diag: &mut [f64], off: &mut [f64], n: usize) {
    let at = |i: usize, j: usize| i * n + j;
    for j in 0..n {
        diag[j] = v[at(n - 1, j)];
    }
    for i in (1..n).rev() {
        let scale: f64 = diag[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            off[i] = diag[i - 1];
            for j in 0..i {
                diag[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
                v[at(j, i)] = 0.0;
            }
        } else {
            for x in diag[..i].iter_mut() {
                *x /= scale;
                h += *x * *x;
            }
            let f = diag[i - 1];
            let g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            off[i] = scale * g;
            h -= f * g;
            diag[i - 1] = f - g;
            off[..i].iter_mut().for_each(|x| *x = 0.0);
            for j in 0..i {
                let f = diag[j];
                v[at(j, i)] = f;
                let mut g = off[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(k, j)] * diag[k];
                    off[k] += v[at(k, j)] * f;
                }
                off[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                off[j] /= h;
                f += off[j] * diag[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                off[j] -= hh * diag[j];
            }
            for j in 0..i {
                let (f, g) = (diag[j], off[j]);
                for k in j..i {
                    v[at(k, j)] -= f * off[k] + g * diag[k];
                }
                diag[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
            }
        }
        diag[i] = h;
    }
    // Accumulate the transformations.
    for i in 0..n - 1 {
        v[at(n - 1, i)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = diag[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                diag[k] = v[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                let g: f64 = (0..=i).map(|k| v[at(k, i + 1)] * v[at(k, j)]).sum();
                for k in 0..=i {
                    v[at(k, j)] -= g * diag[k];
                }
            }
        }
        for k in 0..=i {
            v[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        diag[j] = v[at(n - 1, j)];
        v[at(n - 1, j)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
    off[0] = 0.0;
}

/// The implicit QL algorithm on the tridiagonal matrix (`diag`, `off`), rotating `v` along.
fn diagonalize(v: &mut [f64], diag: &mut [f64], off: &mut [f64], n: usize) {
    let at = |i: usize, j: usize| i * n + j;
    for i in 1..n {
        off[i - 1] = off[i];
    }
    off[n - 1] = 0.0;
    let mut shift = 0.0;
    let mut largest: f64 = 0.0;
    let eps = f64::EPSILON;
    for l in 0..n {
        largest = largest.max(diag[l].abs() + off[l].abs());
        let mut m = l;
        while m < n - 1 && off[m].abs() > eps * largest {
            m += 1;
        }
        if m > l {
            for _ in 0..60 {
                let g = diag[l];
                let mut p = (diag[l + 1] - g) / (2.0 * off[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                diag[l] = off[l] / (p + r);
                diag[l + 1] = off[l] * (p + r);
                let dl1 = diag[l + 1];
                let mut h = g - diag[l];
                for x in diag[l + 2..n].iter_mut() {
                    *x -= h;
                }
                shift += h;
                p = diag[m];
                let (mut c, mut c2, mut c3) = (1.0, 1.0, 1.0);
                let el1 = off[l + 1];
                let (mut s, mut s2) = (0.0, 0.0);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    let g = c * off[i];
                    h = c * p;
                    r = p.hypot(off[i]);
                    off[i + 1] = s * r;
                    s = off[i] / r;
                    c = p / r;
                    p = c * diag[i] - s * g;
                    diag[i + 1] = h + s * (c * g + s * diag[i]);
                    for k in 0..n {
                        let vh = v[at(k, i + 1)];
                        v[at(k, i + 1)] = s * v[at(k, i)] + c * vh;
                        v[at(k, i)] = c * v[at(k, i)] - s * vh;
                    }
                }
                p = -s * s2 * c3 * el1 * off[l] / dl1;
                off[l] = s * p;
                diag[l] = c * p;
                // Converged (or NaN, which never converges).
                let above = off[l].abs().partial_cmp(&(eps * largest));
                if above != Some(std::cmp::Ordering::Greater) {
                    break;
                }
            }
        }
        diag[l] += shift;
        off[l] = 0.0;
    }
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
