"""Shared PCA-monitoring code for the TEP prototypes (imported by tep.py).

Everything here mirrors what the Rust side would do per asset:
  learning : Welford mean / co-moment matrix over the learning rows (O(d^2) per sample),
             at the end one symmetric eigendecomposition (Jacobi in Rust, numpy.eigh here),
             then the learning rows are re-scored to get the thresholds (they are kept in a
             bounded buffer of N_learn x d floats during learning only).
  scoring  : per sample O(d*k) for T^2 and Q (k = retained components).
"""
import os

import numpy as np

TEP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "datasets", "tep")


def load_tep():
    learn = np.loadtxt(f"{TEP}/d00.dat").T  # 480 x 52 (file is transposed)
    tests = {0: np.loadtxt(f"{TEP}/d00_te.dat")}
    for f in range(1, 22):
        tests[f] = np.loadtxt(f"{TEP}/d{f:02d}_te.dat")
    return learn, tests


def lagged(X, lags):
    """Dynamic PCA input: row t = [x_t, x_{t-1}, ..., x_{t-lags}] (first `lags` rows dropped
    for learning; for scoring the caller pads with the learning tail / first row)."""
    if lags == 0:
        return X
    n = X.shape[0]
    return np.hstack([X[lags - j:n - j] for j in range(lags + 1)])


def lagged_stream(X, lags, history):
    """Lagged vectors for a stream whose previous `lags` rows are `history` (no look-ahead)."""
    if lags == 0:
        return X
    full = np.vstack([history[-lags:], X])
    return lagged(full, lags)


class PCAModel:
    def __init__(self, Xl, n_comp=None, cumvar=None, robust=False, kaiser=False):
        self.mu = np.median(Xl, 0) if robust else Xl.mean(0)
        if robust:
            mad = np.median(np.abs(Xl - self.mu), 0) * 1.4826
            sd = np.where(mad > 1e-12, mad, Xl.std(0, ddof=1))
        else:
            sd = Xl.std(0, ddof=1)
        self.sd = np.where(sd > 1e-12, sd, 1.0)
        Z = (Xl - self.mu) / self.sd
        C = np.cov(Z, rowvar=False)
        lam, V = np.linalg.eigh(C)
        order = np.argsort(lam)[::-1]
        lam, V = lam[order], V[:, order]
        lam = np.maximum(lam, 1e-12)
        if n_comp is None:
            if kaiser:
                n_comp = int((lam > 1.0).sum())
            else:
                n_comp = int(np.searchsorted(np.cumsum(lam) / lam.sum(), cumvar) + 1)
        self.k = n_comp
        self.P = V[:, :n_comp]
        self.lam = lam[:n_comp]
        self.lam_all = lam

    def project(self, X):
        Z = (X - self.mu) / self.sd
        T = Z @ self.P
        R = Z - T @ self.P.T
        return Z, T, R

    def t2q(self, X):
        Z, T, R = self.project(X)
        return (T ** 2 / self.lam).sum(1), (R ** 2).sum(1)

    def contributions(self, x):
        """Per-signal contributions for one row (sum over signals = T^2 resp. Q).
        Q_j = r_j^2 ; T2_j = z_j * sum_a (t_a / lam_a) P_ja  (complete-decomposition form,
        can be negative; the alert shows the largest positive ones)."""
        Z, T, R = self.project(x[None, :])
        q = R[0] ** 2
        t2 = Z[0] * (self.P @ (T[0] / self.lam))
        return t2, q


def ewma_rows(X, lam, init):
    out = np.empty_like(X, dtype=float)
    s = np.array(init, dtype=float)
    for i in range(X.shape[0]):
        s = (1 - lam) * s + lam * X[i]
        out[i] = s
    return out


def kofn(exceed, k, n):
    """alarm active at t when >= k of the last n samples exceeded (window includes t)."""
    if k == 1 and n == 1:
        return exceed.copy()
    c = np.cumsum(np.concatenate([[0], exceed.astype(int)]))
    idx = np.arange(1, len(exceed) + 1)
    lo = np.maximum(idx - n, 0)
    return (c[idx] - c[lo]) >= k


def metrics(alarm_by_file):
    """alarm_by_file: {fault: bool[960]} -> dict of per-fault metrics"""
    res = {}
    for f, a in alarm_by_file.items():
        if f == 0:
            res[0] = dict(far=a.mean())
            continue
        post = a[160:]
        det = post.mean()
        first = np.flatnonzero(post)
        delay = int(first[0]) + 1 if len(first) else None  # rows after 160
        res[f] = dict(det=det, delay=delay, far_pre=a[:160].mean())
    return res


PCA_REF = {1: 1.00, 2: .99, 3: .01, 4: .98, 5: .25, 6: 1.00, 7: 1.00, 8: .98, 9: .01, 10: .45,
           11: .66, 12: .99, 13: .95, 14: 1.00, 15: .02, 16: .32, 17: .92, 18: .90, 19: .09,
           20: .49, 21: .42}
