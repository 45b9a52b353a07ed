"""TEP prototypes: plain PCA reference and gateway-affordable variants.

Run:  python3 (numpy, scipy: models/requirements.txt) tep.py [--table]

Learn on d00.dat only (480 rows); score d00_te.dat and d01..d21_te.dat (fault after row 160).
Thresholds come from the learning data (quantile x margin), except the 'ref' row that reproduces
the README's reference (margin calibrated on d00_te, marked as such).
"""
import sys
import numpy as np
from teplib import (load_tep, PCAModel, lagged, lagged_stream, ewma_rows, kofn, metrics,
                    PCA_REF)

np.set_printoptions(precision=3, suppress=True)


def fit_stats(Xl, cfg):
    L = cfg.get("lags", 0)
    Xlag = lagged(Xl, L)
    m = PCAModel(Xlag, n_comp=cfg.get("k"), cumvar=cfg.get("cumvar"),
                 robust=cfg.get("robust", False), kaiser=cfg.get("kaiser", False))
    return m, Xlag


def raw_stats(m, Xlag, cfg, ewma_init=None):
    """T2, Q per row, after the configured smoothing (causal)."""
    sm = cfg.get("smooth", "none")
    lam = cfg.get("lam", 0.2)
    if sm == "vec":
        # MEWMA-style: EWMA of the standardised vector, then T2/Q of the smoothed vector
        Z = (Xlag - m.mu) / m.sd
        Zs = ewma_rows(Z, lam, np.zeros(Z.shape[1]))
        T = Zs @ m.P
        R = Zs - T @ m.P.T
        t2 = (T ** 2 / m.lam).sum(1)
        q = (R ** 2).sum(1)
        return t2, q
    t2, q = m.t2q(Xlag)
    if sm == "stat":
        S = np.stack([t2, q], 1)
        init = ewma_init if ewma_init is not None else S.mean(0)
        S = ewma_rows(S, lam, init)
        return S[:, 0], S[:, 1]
    return t2, q


def cv_limits(Xl, cfg, folds=5):
    """Out-of-fold T2/Q on the learning data (blocked folds, contiguous): each block is scored
    by a model learned on the other blocks. Removes the in-sample optimism of Q."""
    n = Xl.shape[0]
    edges = np.linspace(0, n, folds + 1).astype(int)
    T2, Q = [], []
    for i in range(folds):
        a, b = edges[i], edges[i + 1]
        train = np.vstack([Xl[:a], Xl[b:]])
        m, _ = fit_stats(train, {**cfg, "k": None if cfg.get("k") is None else cfg["k"]})
        if cfg.get("k") is None:
            # keep the same k as the full model for comparability
            pass
        L = cfg.get("lags", 0)
        hist = Xl[max(0, a - L):a] if a >= L else np.repeat(Xl[:1], L, 0)
        Xb = lagged_stream(Xl[a:b], L, hist) if L else Xl[a:b]
        t2, q = raw_stats(m, Xb, cfg)
        T2.append(t2)
        Q.append(q)
    return np.concatenate(T2), np.concatenate(Q)


def norm_index(cfg, learn, tests):
    """Per test file, the index max(T2/limT, Q/limQ) normalised by the learning-data limits.
    smooth='dual': max of the raw index and the stat-EWMA index (each with its own limits)."""
    if cfg.get("smooth") == "dual":
        a = norm_index({**cfg, "smooth": "none"}, learn, tests)
        b = norm_index({**cfg, "smooth": "stat"}, learn, tests)
        return a[0], {f: np.maximum(a[1][f], b[1][f]) for f in tests}
    m, Xlag = fit_stats(learn, cfg)
    qq = cfg.get("q", 0.99)
    if cfg.get("thr", "insample") == "cv":
        t2l, ql = cv_limits(learn, cfg)
    else:
        t2l, ql = raw_stats(m, Xlag, cfg)
    limT, limQ = np.quantile(t2l, qq), np.quantile(ql, qq)
    L = cfg.get("lags", 0)
    ewma_init = np.array([t2l.mean(), ql.mean()])
    idx = {}
    for f, X in tests.items():
        Xs = lagged_stream(X, L, np.repeat(X[:1], L, 0)) if L else X
        t2, q = raw_stats(m, Xs, cfg, ewma_init)
        idx[f] = np.maximum(t2 / limT, q / limQ)
    return m, idx


def run(cfg, learn, tests, calibrate_on_test=False):
    m, idx = norm_index(cfg, learn, tests)
    if calibrate_on_test:
        margin = np.quantile(idx[0], 0.99)
    else:
        margin = cfg.get("margin", 1.0)
    k, n = cfg.get("kofn", (1, 1))
    alarms = {f: kofn(v > margin, k, n) for f, v in idx.items()}
    return m, metrics(alarms), margin, idx


def run_old(cfg, learn, tests, calibrate_on_test=False):
    m, Xlag = fit_stats(learn, cfg)
    qq = cfg.get("q", 0.99)
    if cfg.get("thr", "insample") == "cv":
        t2l, ql = cv_limits(learn, cfg)
    else:
        t2l, ql = raw_stats(m, Xlag, cfg)
    limT, limQ = np.quantile(t2l, qq), np.quantile(ql, qq)
    L = cfg.get("lags", 0)
    ewma_init = np.array([t2l.mean(), ql.mean()])
    idx = {}
    for f, X in tests.items():
        Xs = lagged_stream(X, L, np.repeat(X[:1], L, 0)) if L else X
        t2, q = raw_stats(m, Xs, cfg, ewma_init)
        idx[f] = np.maximum(t2 / limT, q / limQ)
    if calibrate_on_test:
        margin = np.quantile(idx[0], 0.99)
    else:
        margin = cfg.get("margin", 1.0)
    k, n = cfg.get("kofn", (1, 1))
    alarms = {f: kofn(v > margin, k, n) for f, v in idx.items()}
    return m, metrics(alarms), margin, idx


# reference detection rates of the reproduced README reference (PCA20, margin calibrated on
# d00_te), unrounded; filled by ref_exact() at import
REF_EXACT = {}


def ref_exact(learn, tests):
    _, res, _, _ = run(dict(k=20), learn, tests, calibrate_on_test=True)
    for f in range(1, 22):
        REF_EXACT[f] = res[f]["det"]


def summary(name, m, res, margin):
    dets = np.array([res[f]["det"] for f in range(1, 22)])
    pre = np.mean([res[f]["far_pre"] for f in range(1, 22)])
    worse = [(f, round(res[f]["det"] - REF_EXACT[f], 3)) for f in range(1, 22)
             if PCA_REF[f] >= 0.9 and res[f]["det"] < REF_EXACT[f]]
    print(f"{name:44s} k={m.k:3d} margin={margin:5.2f} mean_det={dets.mean():.3f} "
          f"FAR_d00te={res[0]['far']:.4f} FAR_pre={pre:.4f} worse_than_ref={worse}", flush=True)
    return dets.mean()


def table(name, res):
    print(f"\n### {name}\n")
    print("| fault | ref | det | delay (rows) | FAR rows 1-160 |")
    print("|---|---|---|---|---|")
    for f in range(1, 22):
        r = res[f]
        print(f"| {f} | {PCA_REF[f]:.2f} | {r['det']:.3f} | {r['delay']} | {r['far_pre']:.3f} |")
    dets = np.mean([res[f]["det"] for f in range(1, 22)])
    pre = np.mean([res[f]["far_pre"] for f in range(1, 22)])
    print(f"| mean | 0.64 | {dets:.3f} | | {pre:.4f} |")
    print(f"\nFAR on d00_te.dat: {res[0]['far']:.4f}")


CONFIGS = {
    # name: cfg
    "ref: PCA20, margin calibrated on d00_te": dict(k=20, calib=True),
    "PCA20, q99 insample, margin 1": dict(k=20),
    "PCA20, q99 cv5, margin 1": dict(k=20, thr="cv"),
    "PCA cum90, q99 cv5": dict(cumvar=0.90, thr="cv"),
    "PCA cum95, q99 cv5": dict(cumvar=0.95, thr="cv"),
    "PCA kaiser, q99 cv5": dict(kaiser=True, thr="cv"),
    "PCA20 robust, q99 cv5": dict(k=20, thr="cv", robust=True),
    "PCA20 stat-EWMA .2, q99 cv5": dict(k=20, thr="cv", smooth="stat", lam=0.2),
    "PCA20 stat-EWMA .1, q99 cv5": dict(k=20, thr="cv", smooth="stat", lam=0.1),
    "PCA20 vec-EWMA .2, q99 cv5": dict(k=20, thr="cv", smooth="vec", lam=0.2),
    "PCA20 vec-EWMA .1, q99 cv5": dict(k=20, thr="cv", smooth="vec", lam=0.1),
    "PCA cum90 vec-EWMA .2, q99 cv5": dict(cumvar=0.90, thr="cv", smooth="vec", lam=0.2),
    "DPCA L1 cum90, q99 cv5": dict(lags=1, cumvar=0.90, thr="cv"),
    "DPCA L2 cum90, q99 cv5": dict(lags=2, cumvar=0.90, thr="cv"),
    "DPCA L2 cum90 vec-EWMA .2, q99 cv5": dict(lags=2, cumvar=0.90, thr="cv", smooth="vec", lam=0.2),
    "PCA20 q99 cv5 3-of-5": dict(k=20, thr="cv", kofn=(3, 5)),
}

if __name__ == "__main__":
    learn, tests = load_tep()
    ref_exact(learn, tests)
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    for name, cfg in CONFIGS.items():
        if only and not any(o in name for o in only):
            continue
        m, res, margin, _ = run(cfg, learn, tests, calibrate_on_test=cfg.get("calib", False))
        summary(name, m, res, margin)
        if "--table" in sys.argv:
            table(name, res)
