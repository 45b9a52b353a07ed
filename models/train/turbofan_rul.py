"""Train the turbofan-rul package: NASA C-MAPSS FD001 → remaining useful life in cycles.

    python models/train/turbofan_rul.py --datasets ../shared/datasets --out models/turbofan-rul

Data: cmapss/train_FD001.txt (100 engines run to failure), test_FD001.txt (100 engines cut
before failure) and RUL_FD001.txt (their true remaining life). Fourteen informative sensors
(the seven constant ones of FD001 and the operating settings are left out).

How the agent sees it: one sample per cycle and sensor, event timestamps one cycle = one second
apart. Window: a time window of the last W = 30 cycles, `secs = 30, hop_secs = 1,
sample_rate_hz = 1.0` (a window per cycle). W = 30 is the longest window every official test
engine fills (the shortest has 31 cycles). Features per sensor: `mean` (the level, denoised)
and `slope` (the trend per cycle) of the window, normalised with the training mean and std.

Target: piece-wise linear RUL, capped at 125 cycles (early life counts as "healthy", the usual
convention). Model: an ensemble of 5 one-hidden-layer MLPs (16 ReLU units each, L2 alpha 1,
L-BFGS, seeds 0-4), exported as one MLP of 80 hidden units whose output weights are divided by 5
(the average of the five), then a ReLU to keep the RUL >= 0: ONNX MatMul/Add/Relu only.
Hyperparameters were chosen on training engines 81-100 held out (validation RMSE), not on the
test set; the shipped model is trained on all 100 training engines.

Metrics on the official test set (last window of each test engine against RUL_FD001.txt):
RMSE against the true RUL (primary), the PHM08 score, and RMSE against the true RUL capped at
125 (as some papers report).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one thread: reproducible sums, and a shared machine

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import features  # noqa: E402

NAME = "turbofan-rul"
VERSION = "1.0.0"
W = 30
CAP = 125.0
HIDDEN = 16
ALPHA = 1.0
MAX_ITER = 400
SEEDS = [0, 1, 2, 3, 4]
VAL_UNITS = range(81, 101)

SHA256 = {
    "train_FD001.txt": "963b5e22825b34d8b21c69e1aeb4af3e647050eb672ee8834ba4b5d91d2de0f8",
    "test_FD001.txt": "3cda7109ce17bafb5443f2ac926cfcf88154b941b8c4cf95eb55d1ddd6f52851",
    "RUL_FD001.txt": "a19c8ec94931949d0485bdc35118206e9c81c4547b422efb9cf86f4ceddbceca",
}
# sensor number → signal name (Saxena et al. 2008, Table 2); column 5 + sensor (1-based cols)
SENSORS = {2: "T24", 3: "T30", 4: "T50", 7: "P30", 8: "Nf", 9: "Nc", 11: "Ps30", 12: "phi",
           13: "NRf", 14: "NRc", 15: "BPR", 17: "htBleed", 20: "W31", 21: "W32"}
UNITS = {"T24": "°R", "T30": "°R", "T50": "°R", "P30": "psia", "Nf": "rpm", "Nc": "rpm",
         "Ps30": "psia", "phi": "pps/psi", "NRf": "rpm", "NRc": "rpm", "BPR": "-", "htBleed": "-",
         "W31": "lbm/s", "W32": "lbm/s"}
SIGNALS = list(SENSORS.values())
COLS = [4 + k for k in SENSORS]  # 0-based column in the files
FEATURES = [f"{s}.{k}" for s in SIGNALS for k in ("mean", "slope")]
WINDOW = {"secs": float(W), "hop_secs": 1.0, "sample_rate_hz": 1.0, "max_gap_secs": 2.0,
          "lateness_secs": 0.0}

ALERTS = [common.AlertRule("low-rul", "warning", "below", on=30.0, off=45.0, k=3, n=5)]

T0 = 1_767_600_000  # 2026-01-05T08:00:00Z: cycle c has event time T0 + c seconds

REFERENCES = [  # FD001 test RMSE / PHM08 score as published
    ("Random forest (reported in Babu et al. 2016)", "≈ 17–18", ""),
    ("CNN, Babu et al. 2016", "18.45", "1287"),
    ("LSTM, Zheng et al. 2017", "16.14", "338"),
    ("Deep CNN, Li et al. 2018", "12.61", "274"),
]


def load(root: Path, name: str, verify: bool) -> np.ndarray:
    path = root / "cmapss" / name
    if verify and common.sha256_file(path) != SHA256[name]:
        raise SystemExit(f"{path}: sha256 differs from the dataset README ({SHA256[name]})")
    return np.loadtxt(path)


def window_features(block: np.ndarray) -> np.ndarray:
    """block: (W, 14) sensor values of W consecutive cycles."""
    return features.extract(FEATURES, {s: (block[:, j], 1.0) for j, s in enumerate(SIGNALS)})


def train_set(tr: np.ndarray):
    X, y, unit = [], [], []
    for u in np.unique(tr[:, 0]).astype(int):
        r = tr[tr[:, 0] == u][:, COLS]
        n = len(r)
        for e in range(W, n + 1):  # window of cycles e-W+1 .. e; RUL after cycle e is n - e
            X.append(window_features(r[e - W:e]))
            y.append(min(n - e, CAP))
            unit.append(u)
    return np.array(X), np.array(y, dtype=float), np.array(unit)


def fit_ensemble(Z: np.ndarray, y: np.ndarray):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    models = []
    for seed in SEEDS:
        m = MLPRegressor(hidden_layer_sizes=(HIDDEN,), activation="relu", solver="lbfgs",
                         alpha=ALPHA, max_iter=MAX_ITER, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the early stop
            m.fit(Z, y)
        models.append(m)
    return models


def ensemble_layers(models):
    """K one-hidden-layer MLPs → one MLP: hidden units side by side, output weights / K."""
    k = len(models)
    w1 = np.concatenate([m.coefs_[0] for m in models], axis=1)
    b1 = np.concatenate([m.intercepts_[0] for m in models])
    w2 = np.concatenate([m.coefs_[1] for m in models], axis=0) / k
    b2 = np.array([np.mean([m.intercepts_[1][0] for m in models])])
    return [(w1, b1), (w2, b2)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--no-verify", action="store_true", help="skip the sha256 check of the data")
    ap.add_argument("--skip-validation", action="store_true",
                    help="do not refit on engines 1-80 to report the validation RMSE (faster)")
    args = ap.parse_args()
    t_start = time.time()
    verify = not args.no_verify
    tr = load(args.datasets, "train_FD001.txt", verify)
    te = load(args.datasets, "test_FD001.txt", verify)
    rul = load(args.datasets, "RUL_FD001.txt", verify)

    X, y, unit = train_set(tr)
    mean32 = X.mean(0).astype(np.float32)
    std32 = X.std(0).astype(np.float32)
    norm = (mean32, std32)
    Z = common.normalize_f32(X.astype(np.float32), *norm)

    # Validation (how the hyperparameters were chosen): engines 81-100 held out.
    val = None
    if not args.skip_validation:
        va = np.isin(unit, list(VAL_UNITS))
        vm = fit_ensemble(Z[~va], y[~va])
        pv = np.mean([m.predict(Z[va]) for m in vm], axis=0)
        val = common.rmse(np.clip(pv, 0, None), y[va])

    models = fit_ensemble(Z, y)
    onx = common.mlp_onnx(ensemble_layers(models), len(FEATURES), "rul", out_act="Relu",
                          doc=f"{NAME} {VERSION}: mean of {len(models)} MLPs ({HIDDEN} ReLU each) on "
                              f"{len(FEATURES)} normalised window features; output RUL in cycles")
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "model.onnx"
    common.save_onnx(onx, onnx_path)
    sess = common.ort_session(onnx_path)

    # Official test set: the last W cycles of each test engine.
    Xt, lengths = [], []
    for u in np.unique(te[:, 0]).astype(int):
        r = te[te[:, 0] == u][:, COLS]
        lengths.append(len(r))
        Xt.append(window_features(r[-W:]))
    Xt = np.array(Xt)
    Zt = common.normalize_f32(Xt.astype(np.float32), *norm)
    pred = common.ort_run(sess, Zt, "rul")[:, 0].astype(float)
    sk = np.clip(np.mean([m.predict(Zt) for m in models], axis=0), 0, None)
    assert np.max(np.abs(pred - sk)) < 1e-3, "onnxruntime differs from sklearn"
    test_rmse = common.rmse(pred, rul)
    score = common.phm08_score(pred, rul)
    rmse_capped = common.rmse(pred, np.minimum(rul, CAP))
    mae = float(np.mean(np.abs(pred - rul)))
    single = [common.rmse(np.clip(m.predict(Zt), 0, None), rul) for m in models]
    bins = {}
    for lo, hi in [(0, 50), (50, 100), (100, 200)]:
        s = (rul >= lo) & (rul < hi)
        bins[f"{lo}-{hi}"] = {"engines": int(s.sum()), "rmse": common.rmse(pred[s], rul[s]),
                              "mean_error": float(np.mean(pred[s] - rul[s]))}
    train_rmse = common.rmse(common.ort_run(sess, Z, "rul")[:, 0], y)

    # Golden vectors: test engines spanning the RUL range.
    order = np.argsort(rul)
    gidx = [int(order[i]) for i in (0, 25, 50, 75, 99)]
    golden = [(Xt[i].astype(np.float32), common.ort_run(sess, Zt[i], "rul")[0]) for i in gidx]

    pkg = common.Package(
        name=NAME, version=VERSION,
        description="Turbofan remaining useful life (NASA C-MAPSS FD001, HPC degradation) from the "
                    "last 30 cycles of 14 sensors",
        signals=SIGNALS, features=FEATURES, window=WINDOW, normalize=norm,
        output_kind="regression", output_name="rul", unit="cycles", alerts=ALERTS, golden=golden,
        train_stats={"mean": X.mean(0), "std": X.std(0), "min": X.min(0), "max": X.max(0)},
        header=["Written by models/train/turbofan_rul.py (do not edit by hand).",
                "One sample per cycle and sensor, event times one cycle = one second apart",
                "(sample_rate_hz = 1.0): a window is the last 30 cycles, one per cycle.",
                "Units: " + ", ".join(f"{s} {u}" for s, u in UNITS.items())])
    pkg.write(args.out, onx)
    size = onnx_path.stat().st_size

    # Parity file: raw 30-cycle windows of test engines → features → normalised → RUL.
    cases = []
    for i in gidx:
        u = i + 1
        r = te[te[:, 0] == u]
        block = r[-W:][:, COLS]
        signals = {s: (block[:, j], 1.0) for j, s in enumerate(SIGNALS)}
        cases.append(common.parity_case(
            f"fd001_test_unit{u}_last{W}", signals, FEATURES, norm, sess, "rul",
            {"file": "cmapss/test_FD001.txt", "sha256": SHA256["test_FD001.txt"], "unit": u,
             "cycles": [int(r[-W, 1]), int(r[-1, 1])], "true_rul": int(rul[i])}))
    common.write_parity(common.HERE / "golden" / f"{NAME}.json", NAME,
                        "Raw windows of the last 30 cycles (one value per cycle and sensor, grid "
                        "sample_rate_hz 1.0) → features.py → (x - mean)/std in f32 → onnxruntime "
                        "RUL. Made by models/train/turbofan_rul.py.", cases,
                        {"window": WINDOW})

    replay = write_replay(args.out / "replay", args.datasets, te, rul, sess, norm)

    metrics = {
        "test_engines": int(len(rul)), "test_rmse": test_rmse, "phm08_score": score,
        "test_rmse_vs_capped_truth": rmse_capped, "test_mae": mae,
        "test_rmse_single_mlps": single, "test_by_true_rul": bins,
        "validation_rmse_engines_81_100": val, "train_rmse_capped": train_rmse,
        "train_windows": int(len(y)), "onnx_bytes": size,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    write_card(args.out, metrics, replay)

    print(f"{NAME}: {len(FEATURES)} features (mean, slope of {len(SIGNALS)} sensors over {W} cycles), "
          f"{len(y)} training windows, target capped at {CAP:g}")
    if val is not None:
        print(f"validation RMSE (engines 81-100 held out, capped target): {val:.2f}")
    print(f"official test set ({len(rul)} engines, last window vs RUL_FD001.txt): RMSE {test_rmse:.2f}, "
          f"PHM08 score {score:.0f}; RMSE vs truth capped at {CAP:g}: {rmse_capped:.2f}; MAE {mae:.2f}")
    print(f"  single MLPs: RMSE {', '.join(f'{v:.2f}' for v in single)}")
    print("  by true RUL: " + "; ".join(f"{k}: {v['engines']} engines, RMSE {v['rmse']:.1f}, "
                                        f"mean error {v['mean_error']:+.1f}" for k, v in bins.items()))
    print("  references (RMSE): RF ≈ 17-18, CNN 18.45, LSTM 16.14, deep CNN 12.61; goal <= 12.5")
    print(f"model.onnx {size} bytes; ops {common.ops_of(onnx_path)}")
    for r in replay:
        first = next((e for e in r["events"] if e["event"] == "raised"), None)
        print(f"replay {r['file']}: {r['cycles']} cycles, true RUL at end {r['true_rul_at_end']}, "
              f"{r['windows']} windows, last predicted RUL {r['last_predicted_rul']:.1f}, "
              f"low-rul raised: {'cycle ' + str(first['cycle']) if first else 'no'}")
    print(f"done in {time.time() - t_start:.0f} s")


def write_replay(out: Path, root: Path, te, rul, sess, norm):
    """Whole sensor histories of a few test engines as CSV (ts, one column per signal), values as
    in the source file, and what the agent must make of them."""
    out.mkdir(parents=True, exist_ok=True)
    units = np.unique(te[:, 0]).astype(int)
    lengths = {u: int(np.sum(te[:, 0] == u)) for u in units}
    # degrading: the longest histories among engines ending with true RUL <= 20;
    # healthy: the longest histories among engines ending with true RUL >= 100.
    low = sorted([u for u in units if rul[u - 1] <= 20], key=lambda u: -lengths[u])[:2]
    high = sorted([u for u in units if rul[u - 1] >= 100], key=lambda u: -lengths[u])[:2]
    # The source text of each row, so the CSV carries the values exactly as published.
    text_rows = {}
    with open(root / "cmapss" / "test_FD001.txt") as f:
        for line in f:
            tok = line.split()
            text_rows[(int(tok[0]), int(tok[1]))] = tok
    results = []
    for u in low + high:
        cycles = sorted(c for (uu, c) in text_rows if uu == u)
        lines = ["ts," + ",".join(SIGNALS)]
        for c in cycles:
            tok = text_rows[(u, c)]
            lines.append(f"{T0 + c}," + ",".join(tok[col] for col in COLS))
        name = f"fd001_test_unit{u}.csv"
        path = out / name
        path.write_text("\n".join(lines) + "\n")
        # Verify from the file as written, with the agent's time windows.
        data = np.loadtxt(path, delimiter=",", skiprows=1)
        ts_ns = data[:, 0].astype(np.int64) * 1_000_000_000
        wins = common.time_windows(ts_ns, data[:, 1:], WINDOW["secs"], WINDOW["hop_secs"],
                                   WINDOW["sample_rate_hz"], WINDOW["max_gap_secs"],
                                   WINDOW["lateness_secs"])
        outs, ends, last_cycles = [], [], []
        for start, end, block, _ in wins:
            _, x32 = common.extract_f32(FEATURES, {s: (block[:, j], 1.0) for j, s in enumerate(SIGNALS)})
            outs.append(common.ort_run(sess, common.normalize_f32(x32, *norm), "rul")[0])
            ends.append(end)
            last_cycles.append(int((end // 1_000_000_000) - 1 - T0))
        events = common.run_alerts(ALERTS, outs, ends)
        margin = common.threshold_margin(ALERTS, outs)
        assert margin > 1e-3, (u, margin)
        for e in events:
            e["cycle"] = last_cycles[e["window"]]
        preds = [float(o[0]) for o in outs]
        n = len(cycles)
        true_end = int(rul[u - 1])
        raised = [e for e in events if e["event"] == "raised"]
        degrading = true_end <= 20
        if degrading:
            assert raised, f"unit {u}: no low-rul alert"
        else:
            assert not raised, f"unit {u}: unexpected alert {raised}"
        results.append({
            "file": f"replay/{name}", "unit": int(u), "cycles": n,
            "true_rul_at_end": true_end, "end_of_life_cycle": n + true_end,
            "windows": len(wins),
            "first_window_cycles": [last_cycles[0] - W + 1, last_cycles[0]] if wins else None,
            "last_window_cycles": [last_cycles[-1] - W + 1, last_cycles[-1]] if wins else None,
            "predicted_rul_by_window_end_cycle": {str(c): round(p, 2) for c, p in zip(last_cycles, preds)},
            "last_predicted_rul": preds[-1],
            "events": events, "threshold_margin": margin,
            "expect": (f"low-rul raised (first at cycle {raised[0]['cycle']}, "
                       f"{n + true_end - raised[0]['cycle']} cycles before the end of life)"
                       if degrading else "silence: no low-rul alert"),
        })
    (out / "expected.json").write_text(json.dumps({
        "about": "Test engines of C-MAPSS FD001 (cut before failure; true RUL after the last row in "
                 "RUL_FD001.txt). Columns: ts (epoch seconds, cycle c at 1767600000 + c), then the "
                 "14 sensors as in the source file. Expected windows, predicted RUL and alert "
                 "events, computed by replaying the CSV as written through the agent's time "
                 "windows (secs 30, hop_secs 1, sample_rate_hz 1, max_gap_secs 2, lateness 0), "
                 "features.py, f32 normalisation, onnxruntime and the manifest's alert rule. A "
                 "window [s, s+30) closes when a sample at or after s+30 arrives: the window "
                 "ending with a file's last row never closes (no later event time), so the last "
                 "prediction is for the window ending one cycle before the last row. Made by "
                 "models/train/turbofan_rul.py.",
        "window": WINDOW, "excerpts": results}, indent=1) + "\n")
    return results


def write_card(out: Path, m: dict, replay):
    refs = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in REFERENCES)
    bins = "\n".join(f"| {k} | {v['engines']} | {v['rmse']:.1f} | {v['mean_error']:+.1f} |"
                     for k, v in m["test_by_true_rul"].items())
    val = m["validation_rmse_engines_81_100"]
    rep = "\n".join(f"| `{r['file']}` | {r['unit']} | {r['cycles']} | {r['true_rul_at_end']} | "
                    f"{r['last_predicted_rul']:.1f} | {r['expect']} |" for r in replay)
    text = f"""# turbofan-rul {VERSION}

Estimates the remaining useful life (RUL, in cycles) of a turbofan engine from the last
{W} cycles of 14 sensors. Trained on NASA C-MAPSS FD001 (one operating condition, HPC
degradation). Written by `models/train/turbofan_rul.py` (`python models/train/turbofan_rul.py
--datasets DATASETS --out models/turbofan-rul`); do not edit the package by hand.

## Input

- 14 signals, one value per cycle each: {', '.join(f'`{s}`' for s in SIGNALS)}
  (sensors 2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21; names and units after Saxena et
  al. 2008, Table 2). FD001's seven constant sensors and the operating settings are not used.
- **Time base: one cycle = one second of event time** (`sample_rate_hz = 1.0`). Send each
  cycle's values with timestamp `t0 + cycle` seconds.
- Window: `secs = {W}, hop_secs = 1, sample_rate_hz = 1.0, max_gap_secs = 2, lateness_secs =
  0`: the last {W} cycles, one window (and one prediction) per cycle. A window closes when the
  next cycle arrives, so the prediction for the window ending at cycle c comes with cycle c + 1.
  An engine with fewer than {W} cycles gets no prediction.
- Features: `mean` and `slope` (per cycle) of each sensor over the window ({len(FEATURES)}),
  normalised with the training mean and std.

## Model

Five MLPs (one hidden layer of {HIDDEN} ReLU units, L2 α = {ALPHA:g}, L-BFGS, {MAX_ITER} iterations,
seeds 0–4; scikit-learn) averaged, exported as one MLP of {HIDDEN * len(SEEDS)} hidden units followed by a
ReLU (RUL ≥ 0): ONNX `MatMul`, `Add`, `Relu` only. Output `rul` in cycles.
`model.onnx` is {m['onnx_bytes'] / 1024:.1f} KiB (goal < 500 KB). Training target: RUL capped at {CAP:g}
cycles (piece-wise linear: early life is "healthy"), so predictions never exceed about {CAP:g}.

## Data and split

`train_FD001.txt`: 100 engines run to failure, every {W}-cycle window of each ({m['train_windows']}
windows). Hyperparameters (features, hidden units, α, cap, ensemble size) were chosen on
engines 81–100 held out from training (validation RMSE {val if val is None else f'{val:.2f}'} on all their windows,
capped target), not on the test set; the shipped model is refit on all 100.
Test: `test_FD001.txt` (100 engines cut before failure), the last {W} cycles of each engine
against `RUL_FD001.txt`.

## Metrics (official FD001 test set, 100 engines)

| metric | value |
|---|---|
| RMSE against the true RUL | **{m['test_rmse']:.2f}** cycles (goal ≤ 12.5) |
| PHM08 score (Σ e^(−d/13) − 1 early, e^(d/10) − 1 late) | **{m['phm08_score']:.0f}** |
| RMSE against the true RUL capped at {CAP:g} (as some papers report) | {m['test_rmse_vs_capped_truth']:.2f} |
| MAE | {m['test_mae']:.2f} |
| RMSE of each of the five MLPs alone | {', '.join(f'{v:.2f}' for v in m['test_rmse_single_mlps'])} |

By true RUL:

| true RUL | engines | RMSE | mean error (predicted − true) |
|---|---:|---:|---:|
{bins}

Published references on FD001 (RMSE, PHM08 score):

| model | RMSE | score |
|---|---|---|
{refs}
| **this package** (feature MLP ensemble, window {W}) | **{m['test_rmse']:.2f}** | **{m['phm08_score']:.0f}** |

The goal of 12.5 is not reached: the model is at the level of the deep CNN's score but about
half a cycle of RMSE above it. Engines in the middle of their life (true RUL 50–100) carry most
of the error: from {W} cycles, how fast an engine will degrade is only weakly visible.

## Alert

`low-rul` (warning): raised when 3 of the last 5 predictions are ≤ 30 cycles, cleared when one
is above 45.

## Replay excerpts

Whole histories of four test engines, `replay/fd001_test_unit<N>.csv` (`ts` in epoch seconds,
cycle c at 2026-01-05T08:00:00Z + c s; sensor values as in the source file).
`replay/expected.json` holds the predicted RUL per window and the alert events the agent must
produce, computed from the files as written with the agent's windowing.

| file | engine | cycles | true RUL after the last cycle | last prediction | expected |
|---|---:|---:|---:|---:|---|
{rep}

## Limits

- Simulated data (C-MAPSS), one operating condition and one fault mode (FD001): the model
  does not apply to FD002–FD004 (six operating conditions, fan degradation), let alone to a
  real engine, without retraining on its own data and sensor set.
- The sensors must be in FD001's units and ranges (the manifest's `[training]` statistics);
  the drift score in the status shows when they are not.
- Predictions are capped near {CAP:g} cycles by construction: "≥ 120" means "healthy", not a
  lifetime estimate.
- Errors of ±20 cycles are common for engines in mid-life; the alert threshold of 30 leaves
  that margin.

## Licence of the data

NASA Ames Prognostics Center of Excellence, "Turbofan Engine Degradation Simulation Data Set"
(A. Saxena, K. Goebel, D. Simon, N. Eklund, "Damage Propagation Modeling for Aircraft Engine
Run-to-Failure Simulation", PHM08). Distributed by NASA as a public data set of a U.S.
Government agency; the copy used here comes from a GitHub repository under Apache-2.0 without
data-specific terms (see `shared/datasets/cmapss/README.md`). Confirm the terms before
redistributing.
"""
    (out / "README.md").write_text(text)


if __name__ == "__main__":
    main()
