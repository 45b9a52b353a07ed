"""TEP: the chosen multivariate detector, full per-fault table, learning-length sensitivity,
margin sensitivity and a contribution check.
Run: python3 (numpy, scipy: models/requirements.txt) tep_final.py

Chosen: dynamic PCA (2 lags -> 156 inputs), components by cumulative variance >= 95%,
index = max(raw, EWMA(lambda=0.1) of T2 and Q), each normalised by the 99% quantile of its
OUT-OF-FOLD learning scores (5 contiguous blocks), alarm when index > 1.2.
"""
import numpy as np
from teplib import load_tep, lagged, lagged_stream, ewma_rows
import tep

CHOSEN = dict(lags=2, cumvar=0.95, smooth="dual", lam=0.1, thr="cv", q=0.99, margin=1.2)

learn, tests = load_tep()
tep.ref_exact(learn, tests)
print("## reference (README PCA, margin calibrated on d00_te)")
m, res, margin, _ = tep.run(dict(k=20), learn, tests, calibrate_on_test=True)
tep.summary("reference PCA20", m, res, margin)
tep.table("reference PCA20 (margin from d00_te)", res)

print("\n## chosen")
m, res, margin, idx = tep.run(CHOSEN, learn, tests)
tep.summary("chosen", m, res, margin)
tep.table("chosen: DPCA L2 cum95, dual raw+EWMA0.1, 1.2 x q99 out-of-fold", res)

print("\n## margin sensitivity (same detector)")
for mg in (1.0, 1.1, 1.15, 1.2, 1.25, 1.3, 1.4):
    m2, r2, g2, _ = tep.run({**CHOSEN, "margin": mg}, learn, tests)
    tep.summary(f"margin {mg}", m2, r2, g2)

print("\n## learning-phase length (first N rows of d00.dat)")
for N in (160, 240, 320, 400, 480):
    for L in (0, 1, 2):
        cfg = {**CHOSEN, "lags": L}
        m2, r2, g2, _ = tep.run(cfg, learn[:N], tests)
        tep.summary(f"N={N} lags={L}", m2, r2, g2)

print("\n## contributions (top 5 signals, EWMA-branch contribution shares, mean over rows 161-960"
      " that alarm); signal numbers 1..41 = XMEAS, 42..52 = XMV(1..11)")
cfg = {**CHOSEN, "smooth": "stat"}
mm, Xlag = tep.fit_stats(learn, cfg)
t2l, ql = tep.cv_limits(learn, cfg)
limT, limQ = np.quantile(t2l, .99), np.quantile(ql, .99)
d = 52
for f in (1, 4, 6, 11, 14, 21):
    X = tests[f]
    Xs = lagged_stream(X, 2, np.repeat(X[:1], 2, 0))
    Z, T, R = mm.project(Xs)
    cT = Z * ((T / mm.lam) @ mm.P.T)          # per lagged input, sums to T2
    cQ = R ** 2                               # per lagged input, sums to Q
    c = np.maximum(cT, 0) / limT + cQ / limQ
    c = c.reshape(len(X), 3, d).sum(1)        # sum over lags -> per signal
    c = ewma_rows(c, 0.1, c[:160].mean(0))
    rows = np.flatnonzero(idx[f][160:] > 1.2) + 160
    if len(rows) == 0:
        continue
    share = (c[rows] / c[rows].sum(1, keepdims=True)).mean(0)
    top = np.argsort(share)[::-1][:5]
    print(f"fault {f:2d}: " + ", ".join(f"{j+1}({share[j]:.2f})" for j in top))
