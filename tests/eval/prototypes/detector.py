"""Reference implementation of the chosen multivariate detector ("pca-dual"), in the streaming
shape the Rust port should have. Used by cmapss.py and cwru.py; tep.py/tep_final.py compute the
same thing in vectorised form (tep_final.py's table is this detector with lags=2).

Learning (batch at the end of the learning phase, over N rows x d signals):
  y_t = [x_t, x_{t-1}, ..., x_{t-L}]  (D = d (L+1));  mean mu, sd s from the learning rows
  z = (y - mu) / s ; C = cov(z) ; C = V diag(lam) V^T (Jacobi in Rust) ; keep k components,
  k = smallest with sum(lam_1..k) / sum(lam) >= 0.95 ; P = V[:, :k]
  per-row   T2 = sum_a t_a^2 / lam_a  (t = P^T z) ,  Q = |z - P t|^2
  limits    out-of-fold: 5 contiguous blocks; for each, refit on the other 4 and score the block
            (raw and EWMA, lambda = 0.1, EWMA started at the block's training mean);
            limT, limQ = 99% quantile of those out-of-fold values (raw and EWMA separately)
Scoring, per sample:
  raw index  r = max(T2 / limT_raw, Q / limQ_raw)
  EWMA       eT = 0.9 eT + 0.1 T2 ; eQ = 0.9 eQ + 0.1 Q ; e = max(eT / limT_ewma, eQ / limQ_ewma)
  index      u = max(r, e) ; exceed when u > margin (1.2)
"""
import numpy as np


def _lag(X, L):
    if L == 0:
        return X
    n = X.shape[0]
    return np.hstack([X[L - j:n - j] for j in range(L + 1)])


class _Fit:
    def __init__(self, Y, cumvar):
        self.mu = Y.mean(0)
        sd = Y.std(0, ddof=1)
        self.sd = np.where(sd > 1e-12, sd, 1.0)
        Z = (Y - self.mu) / self.sd
        lam, V = np.linalg.eigh(np.cov(Z, rowvar=False))
        o = np.argsort(lam)[::-1]
        lam, V = np.maximum(lam[o], 1e-12), V[:, o]
        self.k = int(np.searchsorted(np.cumsum(lam) / lam.sum(), cumvar) + 1)
        self.k = min(self.k, Y.shape[0] - 2)
        self.P, self.lam = V[:, :self.k], lam[:self.k]

    def t2q(self, Y):
        Z = (Y - self.mu) / self.sd
        T = Z @ self.P
        R = Z - T @ self.P.T
        return (T ** 2 / self.lam).sum(1), (R ** 2).sum(1)

    def contrib(self, y):
        z = (y - self.mu) / self.sd
        t = self.P.T @ z
        r = z - self.P @ t
        return z * (self.P @ (t / self.lam)), r ** 2


def _ewma(S, lam, init):
    out = np.empty_like(S)
    s = np.array(init, float)
    for i in range(len(S)):
        s = (1 - lam) * s + lam * S[i]
        out[i] = s
    return out


class PcaDual:
    def __init__(self, lags=2, cumvar=0.95, lam=0.1, q=0.99, margin=1.2, folds=5):
        self.L, self.cumvar, self.lam, self.q, self.margin, self.folds = lags, cumvar, lam, q, margin, folds

    def learn(self, X):
        Y = _lag(np.asarray(X, float), self.L)
        self.fit = _Fit(Y, self.cumvar)
        n = Y.shape[0]
        e = np.linspace(0, n, self.folds + 1).astype(int)
        raw, ew = [], []
        for i in range(self.folds):
            tr = np.vstack([Y[:e[i]], Y[e[i + 1]:]])
            f = _Fit(tr, self.cumvar)
            t2, q = f.t2q(Y[e[i]:e[i + 1]])
            S = np.stack([t2, q], 1)
            t2tr, qtr = f.t2q(tr)
            raw.append(S)
            ew.append(_ewma(S, self.lam, [t2tr.mean(), qtr.mean()]))
        raw, ew = np.vstack(raw), np.vstack(ew)
        self.lim_raw = np.quantile(raw, self.q, axis=0)
        self.lim_ew = np.quantile(ew, self.q, axis=0)
        t2, q = self.fit.t2q(Y)
        self.ew_init = np.array([t2.mean(), q.mean()])
        self.hist = np.asarray(X, float)[-self.L:] if self.L else None
        return self

    def score(self, X, continue_from_learning=True):
        """index u_t for a stream X (rows in order); lag history = end of the learning data
        if continue_from_learning else the first row repeated."""
        X = np.asarray(X, float)
        if self.L:
            h = self.hist if continue_from_learning else np.repeat(X[:1], self.L, 0)
            Y = _lag(np.vstack([h, X]), self.L)
        else:
            Y = X
        t2, q = self.fit.t2q(Y)
        S = np.stack([t2, q], 1)
        r = (S / self.lim_raw).max(1)
        e = (_ewma(S, self.lam, self.ew_init) / self.lim_ew).max(1)
        return np.maximum(r, e)

    def contributions(self, y_lagged, d):
        """per-signal shares for one lagged row: c_j = max(T2_j,0)/limT + Q_j/limQ summed over
        lags, normalised to sum 1."""
        cT, cQ = self.fit.contrib(y_lagged)
        c = np.maximum(cT, 0) / self.lim_raw[0] + cQ / self.lim_raw[1]
        c = c.reshape(self.L + 1, d).sum(0)
        return c / c.sum()
