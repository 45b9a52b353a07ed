"""Train the bearing-fault package: CWRU drive-end vibration at 12 kHz → normal / inner race /
ball / outer race.

    python models/train/bearing_fault.py --datasets ../shared/datasets --out models/bearing-fault

Data: cwru_bearing/ (Normal_0.mat, IR007_0.mat, B007_0.mat, OR007@6_0.mat; 0 hp, 0.007 in
faults), drive-end channel. The normal file is 48 kHz: resampled to 12 kHz with
scipy.signal.resample_poly(x, 1, 4) (polyphase FIR, Kaiser window beta 5, zero phase).

Split: each recording by time, the first 70 % for training and the last 30 % for test. Windows
never cross the cut. Training windows are 2048 samples with hop 256 (more, overlapping examples
of the training part), test windows 2048 with hop 1024, as the agent cuts them.

Model: a random forest (multi-class ai.onnx.ml TreeEnsembleClassifier, which tract runs) on
normalised window features; the agent reads its `probabilities` output.

Writes model.onnx, manifest.toml, README.md (model card), replay/ excerpts with their expected
alerts, and models/train/golden/bearing-fault.json (train/serve parity). Prints the metrics.
Deterministic: fixed seeds, single-threaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one thread: reproducible sums, and a shared machine

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import features  # noqa: E402

NAME = "bearing-fault"
VERSION = "1.0.0"
FS = 12_000.0
WIN, HOP, TRAIN_HOP = 2048, 1024, 256
SPLIT = 0.7
SEED = 20260105

FILES = [  # file, label, sha256 (datasets/cwru_bearing/README.md), sampling rate
    ("Normal_0.mat", "normal", "16bf48babcf1c7ac224bc1a81cd9eafdb27e42d5cf559761907e067e8eeadf3c", 48_000),
    ("IR007_0.mat", "inner_race", "f80b0ea04fd06b372a0eaec7c056543ea37e4bb4727a5b173d2a5bacd2aa9cab", 12_000),
    ("B007_0.mat", "ball", "b00628f8dd8d1d930af77fa465d1e5cdb385fe259489053f91f3680bda7f640e", 12_000),
    ("OR007@6_0.mat", "outer_race", "35a095307d0971477049b343a1b5981dde465a58fb7f233ad89b035068c1717d", 12_000),
]
LABELS = [f[1] for f in FILES]

# Drive-end SKF 6205 at ~1797 rpm (29.95 Hz shaft): BPFO 3.5848x = 107.4 Hz, rolling element
# 4.7135x = 141.2 Hz, BPFI 5.4152x = 162.2 Hz; second harmonics 214.7, 282.4, 324.4 Hz.
# Bin spacing at 2048 samples: 5.86 Hz.
FEATURES = (
    [f"vib.{k}" for k in ["rms", "std", "peak_to_peak", "crest_factor", "skewness", "kurtosis",
                          "spectral_centroid"]]
    + [f"vib.band_energy[{lo},{hi}]" for lo, hi in
       [(0, 500), (500, 1000), (1000, 1500), (1500, 2000), (2000, 2500), (2500, 3000),
        (3000, 3500), (3500, 4000), (4000, 5000), (5000, 6001)]]
    + [f"vib.env_band[{lo},{hi},2000,5000]" for lo, hi in
       [(25, 35), (100, 115), (135, 150), (150, 175), (205, 225), (275, 290), (315, 335)]]
)

ALERTS = [
    common.AlertRule("bearing-fault", "warning", "above", on=0.8, off=0.5, k=3, n=5),
    common.AlertRule("bearing-inner-race", "warning", "above", on=0.6, off=0.3, k=3, n=5, cls="inner_race"),
    common.AlertRule("bearing-ball", "warning", "above", on=0.6, off=0.3, k=3, n=5, cls="ball"),
    common.AlertRule("bearing-outer-race", "warning", "above", on=0.6, off=0.3, k=3, n=5, cls="outer_race"),
]

REPLAY_SECS = 1.5
REPLAY_T0_US = 1_767_600_000_000_000  # 2026-01-05T08:00:00Z, epoch microseconds
REPLAY_DIGITS = 6


def load_de(root: Path, file: str, sha: str, rate: int, verify: bool):
    from scipy.io import loadmat
    from scipy.signal import resample_poly

    path = root / "cwru_bearing" / file
    if verify and common.sha256_file(path) != sha:
        raise SystemExit(f"{path}: sha256 differs from the dataset README ({sha})")
    mat = loadmat(path)
    var = next(k for k in mat if k.endswith("_DE_time"))
    x = np.asarray(mat[var][:, 0], dtype=np.float64)
    if rate == 48_000:
        x = resample_poly(x, 1, 4)
    return x, var


def window_features(x: np.ndarray, hop: int):
    spans = common.sample_windows(len(x), WIN, hop)
    F = np.array([features.extract(FEATURES, {"vib": (x[s:e], FS)}) for s, e in spans])
    return F, spans


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--no-verify", action="store_true", help="skip the sha256 check of the data")
    args = ap.parse_args()
    t_start = time.time()

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, confusion_matrix
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    signals, Xtr, ytr, Xte, yte, te_hop256, meta = {}, [], [], [], [], [], []
    for ci, (file, label, sha, rate) in enumerate(FILES):
        x, var = load_de(args.datasets, file, sha, rate, not args.no_verify)
        cut = int(SPLIT * len(x))
        signals[label] = (x, cut)
        f_tr, _ = window_features(x[:cut], TRAIN_HOP)
        f_te, _ = window_features(x[cut:], HOP)
        f_te2, _ = window_features(x[cut:], TRAIN_HOP)
        Xtr.append(f_tr), ytr.append(np.full(len(f_tr), ci))
        Xte.append(f_te), yte.append(np.full(len(f_te), ci))
        te_hop256.append((f_te2, np.full(len(f_te2), ci)))
        meta.append({"file": f"cwru_bearing/{file}", "variable": var, "sha256": sha,
                     "rate_in_hz": rate, "samples_12k": len(x), "train_samples": cut,
                     "test_samples": len(x) - cut, "train_windows": len(f_tr), "test_windows": len(f_te)})
    Xtr, ytr = np.concatenate(Xtr), np.concatenate(ytr)
    Xte, yte = np.concatenate(Xte), np.concatenate(yte)

    # Normalisation (float32, as the agent applies it) and training statistics.
    mean32 = Xtr.mean(0).astype(np.float32)
    std32 = Xtr.std(0).astype(np.float32)
    assert np.all(std32 > 0)
    norm = (mean32, std32)
    Ztr = common.normalize_f32(Xtr.astype(np.float32), *norm)
    Zte = common.normalize_f32(Xte.astype(np.float32), *norm)

    rf = RandomForestClassifier(n_estimators=60, max_depth=10, min_samples_leaf=2,
                                random_state=SEED, n_jobs=1)
    rf.fit(Ztr, ytr)

    onx = convert_sklearn(rf, initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
                          options={id(rf): {"zipmap": False}},
                          target_opset={"": 17, "ai.onnx.ml": 3})
    onx.doc_string = f"{NAME} {VERSION}: random forest on {len(FEATURES)} normalised window features"
    onx.producer_name = "forewarn-models-train"
    onx.producer_version = ""
    onx.graph.name = "bearing_fault"  # skl2onnx names it with a random UUID

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "model.onnx"
    common.save_onnx(onx, onnx_path)
    sess = common.ort_session(onnx_path)
    P = common.ort_run(sess, Zte, "probabilities")
    assert np.max(np.abs(P - rf.predict_proba(Zte))) < 1e-5, "onnxruntime differs from sklearn"
    pred = P.argmax(1)
    acc = accuracy_score(yte, pred)
    cm = confusion_matrix(yte, pred, labels=range(4))
    Xte2 = np.concatenate([a for a, _ in te_hop256]); yte2 = np.concatenate([b for _, b in te_hop256])
    P2 = common.ort_run(sess, common.normalize_f32(Xte2.astype(np.float32), *norm), "probabilities")
    acc2 = accuracy_score(yte2, P2.argmax(1))
    cm2 = confusion_matrix(yte2, P2.argmax(1), labels=range(4))
    p_true = P[np.arange(len(yte)), yte]
    imp = sorted(zip(rf.feature_importances_, FEATURES), reverse=True)

    # Golden vectors: one test window per class, away from tree thresholds.
    rng = np.random.default_rng(SEED)
    golden, golden_idx = [], []
    for ci in range(4):
        for i in rng.permutation(np.where(yte == ci)[0]):
            x32 = Xte[i].astype(np.float32)
            if common.robust_golden(sess, "probabilities", x32, norm):
                golden.append((x32, common.ort_run(sess, common.normalize_f32(x32, *norm), "probabilities")[0]))
                golden_idx.append(int(i))
                break
    assert len(golden) == 4

    pkg = common.Package(
        name=NAME, version=VERSION,
        description="CWRU drive-end bearing fault classifier (12 kHz vibration, 2048-sample windows): "
                    "normal / inner race / ball / outer race",
        signals=["vib"], features=FEATURES,
        window={"samples": WIN, "hop": HOP, "sample_rate_hz": FS},
        normalize=norm, output_kind="classes", output_name="probabilities",
        labels=LABELS, normal="normal", alerts=ALERTS, golden=golden,
        train_stats={"mean": Xtr.mean(0), "std": Xtr.std(0), "min": Xtr.min(0), "max": Xtr.max(0)},
        header=[f"Written by models/train/bearing_fault.py (do not edit by hand).",
                "vib: drive-end accelerometer, 12 kHz, the CWRU files' units (no unit metadata)."])
    pkg.write(args.out, onx)
    size = onnx_path.stat().st_size

    # Train/serve parity file: raw windows as the agent receives them (rounded to 6 digits, the
    # replay CSV's precision) → features → normalised → probabilities.
    cases = []
    for ci, label in enumerate(LABELS):
        x, cut = signals[label]
        start = cut + 2 * HOP  # a test window
        w = common.rounded(x[start:start + WIN], REPLAY_DIGITS)
        cases.append(common.parity_case(
            f"cwru_{label}_test_window", {"vib": (w, FS)}, FEATURES, norm, sess, "probabilities",
            {**{k: meta[ci][k] for k in ("file", "variable", "sha256")},
             "first_sample_12k": int(start), "rounded_to_significant_digits": REPLAY_DIGITS,
             "resampled": "resample_poly(x, 1, 4) from 48 kHz" if FILES[ci][3] == 48_000 else None}))
    common.write_parity(common.HERE / "golden" / f"{NAME}.json", NAME,
                        "Raw 12 kHz windows → features.py → (x - mean)/std in f32 → onnxruntime "
                        "probabilities. Made by models/train/bearing_fault.py.", cases,
                        {"labels": LABELS, "window": {"samples": WIN, "hop": HOP, "sample_rate_hz": FS}})

    # Replay excerpts: the first REPLAY_SECS of each recording's test part, as `ts,vib`.
    replay = write_replay(args.out / "replay", signals, sess, norm)

    metrics = {
        "accuracy_test_hop1024": acc, "test_windows": int(len(yte)),
        "confusion_hop1024": cm.tolist(),
        "accuracy_test_hop256": acc2, "test_windows_hop256": int(len(yte2)),
        "confusion_hop256": cm2.tolist(),
        "min_true_class_probability": float(p_true.min()),
        "train_windows": int(len(ytr)), "onnx_bytes": size,
    }
    write_card(args.out, metrics, meta, imp, replay)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")

    print(f"{NAME}: {len(FEATURES)} features, window {WIN} hop {HOP} at {FS:g} Hz, "
          f"{len(ytr)} training windows (hop {TRAIN_HOP}), {len(yte)} test windows")
    print(f"test accuracy {acc:.4f} (hop {HOP}, {len(yte)} windows); {acc2:.4f} (hop {TRAIN_HOP}, {len(yte2)} windows)")
    print("confusion matrix (rows true, columns predicted):", LABELS)
    for label, row in zip(LABELS, cm):
        print(f"  {label:<11}", " ".join(f"{v:4d}" for v in row))
    print(f"lowest probability of the true class on a test window: {p_true.min():.3f}")
    print(f"model.onnx {size} bytes; ops {common.ops_of(onnx_path)}")
    for r in replay:
        print(f"replay {r['file']}: {r['windows']} windows, alerts raised: "
              f"{[e['rule'] for e in r['events'] if e['event'] == 'raised'] or 'none'}")
    print(f"done in {time.time() - t_start:.0f} s")


def write_replay(out: Path, signals, sess, norm):
    out.mkdir(parents=True, exist_ok=True)
    n = int(REPLAY_SECS * FS)
    results = []
    for label in LABELS:
        x, cut = signals[label]
        seg = x[cut:cut + n]
        ts = REPLAY_T0_US + np.round(np.arange(n) * 1e6 / FS).astype(np.int64)
        vals = [f"{v:.{REPLAY_DIGITS}g}" for v in seg]
        path = out / f"{label}.csv"
        path.write_text("ts,vib\n" + "".join(f"{t},{v}\n" for t, v in zip(ts, vals)))
        # Verify from the file as written: the agent's windows, features, model and rules.
        rows = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
        t_us, v = rows[:, 0].astype(np.int64), rows[:, 1]
        spans = common.sample_windows(len(v), WIN, HOP)
        outs = []
        for s, e in spans:
            _, x32 = common.extract_f32(FEATURES, {"vib": (v[s:e], FS)})
            outs.append(common.ort_run(sess, common.normalize_f32(x32, *norm), "probabilities")[0])
        ends = [int(t_us[e - 1]) * 1000 for _, e in spans]
        events = common.run_alerts(ALERTS, outs, ends, LABELS, "normal")
        margin = common.threshold_margin(ALERTS, outs, LABELS, "normal")
        assert margin > 1e-3, (label, margin)
        P = np.array(outs)
        results.append({
            "file": f"replay/{label}.csv", "class": label, "samples": n,
            "source_first_sample_12k": int(cut), "windows": len(spans),
            "predicted": [LABELS[i] for i in P.argmax(1)],
            "min_probability_of_class": float(P[:, LABELS.index(label)].min()),
            "threshold_margin": margin,
            "events": events,
            "expect": ("silence" if label == "normal" else
                       f"bearing-fault and bearing-{label.replace('_', '-')} raised, no other class alert"),
        })
        ok_events = {e["rule"] for e in events if e["event"] == "raised"}
        want = set() if label == "normal" else {"bearing-fault", f"bearing-{label.replace('_', '-')}"}
        assert ok_events == want, (label, events)
    (out / "expected.json").write_text(json.dumps({
        "about": "Expected model output and alerts for each excerpt, computed by replaying the CSV "
                 "as written through the agent's windowing (samples 2048, hop 1024), features.py, "
                 "f32 normalisation, onnxruntime and the manifest's alert rules. ts: epoch "
                 "microseconds, 12 kHz. Made by models/train/bearing_fault.py.",
        "window": {"samples": WIN, "hop": HOP, "sample_rate_hz": FS},
        "excerpts": results}, indent=1) + "\n")
    return results


def write_card(out: Path, m: dict, meta, imp, replay):
    cm = m["confusion_hop1024"]
    rows = "\n".join(f"| {LABELS[i]} | " + " | ".join(str(v) for v in cm[i]) + " |" for i in range(4))
    data_rows = "\n".join(
        f"| `{d['file']}` | {LABELS[i]} | {d['rate_in_hz'] // 1000} kHz | {d['samples_12k']} | "
        f"{d['train_windows']} | {d['test_windows']} |" for i, d in enumerate(meta))
    top = ", ".join(f"`{n}` ({v:.3f})" for v, n in imp[:6])
    text = f"""# bearing-fault {VERSION}

Classifies 2048-sample windows (0.17 s) of drive-end vibration at 12 kHz into **normal**,
**inner_race**, **ball** or **outer_race** fault. Written by `models/train/bearing_fault.py`
(`python models/train/bearing_fault.py --datasets DATASETS --out models/bearing-fault`); do not
edit the package by hand.

## Input

- signal `vib`: one accelerometer at the bearing, sampled at 12 kHz, in the units of the CWRU
  files (the files carry no unit metadata; their drive-end RMS is 0.07 (normal) to 0.67).
- window: `samples = {WIN}, hop = {HOP}`, `sample_rate_hz = {FS:g}` (a window every 85 ms).
- {len(FEATURES)} features (`manifest.toml` lists them): RMS, std, peak-to-peak, crest factor,
  skewness, kurtosis, spectral centroid, ten band energies 0–6 kHz, and seven envelope-spectrum
  bands (demodulated in 2–5 kHz) at the shaft frequency and around the defect frequencies of the
  SKF 6205 at 1797 rpm (BPFO 107.4 Hz, rolling element 141.2 Hz, BPFI 162.2 Hz and second
  harmonics). Normalised with the training mean and std.

## Model

Random forest, 60 trees, depth ≤ 10 (scikit-learn, exported with skl2onnx as
`ai.onnx.ml:TreeEnsembleClassifier`, `zipmap=False`; read `probabilities`, not `label`).
`model.onnx` is {m['onnx_bytes'] / 1024:.0f} KiB. Most used features: {top}.

## Data and split

CWRU Bearing Data Center, drive-end accelerometer, 0 hp (~1797 rpm), faults of 0.007 in seeded
by EDM (see `shared/datasets/cwru_bearing/README.md`):

| file | class | recorded at | samples at 12 kHz | training windows (hop {TRAIN_HOP}) | test windows (hop {HOP}) |
|---|---|---|---:|---:|---:|
{data_rows}

The normal recording is 48 kHz: it is resampled to 12 kHz with `scipy.signal.resample_poly(x,
1, 4)` (polyphase FIR low-pass, Kaiser window β = 5). Each recording is split **by time**: the
first {SPLIT:.0%} for training, the last {1 - SPLIT:.0%} for test; no window crosses the cut,
so no test window overlaps a training window.

## Metrics (test part, windows as the agent cuts them)

Accuracy **{m['accuracy_test_hop1024']:.4f}** on {m['test_windows']} windows (hop {HOP}); {m['accuracy_test_hop256']:.4f}
on {m['test_windows_hop256']} overlapping windows (hop {TRAIN_HOP}). Goal: ≥ 0.995. Lowest probability
given to the true class on a test window: {m['min_true_class_probability']:.3f}.

Confusion matrix (hop {HOP}; rows: true class, columns: predicted):

| true \\ predicted | {' | '.join(LABELS)} |
|---|---|---|---|---|
{rows}

## Alerts

`bearing-fault` (1 − P(normal) ≥ 0.8, cleared below 0.5) and one alert per fault class
(`bearing-inner-race`, `bearing-ball`, `bearing-outer-race`: P(class) ≥ 0.6, cleared below
0.3), each raised when 3 of the last 5 windows are past `on` (about 0.4 s of fault).

## Replay excerpts

`replay/<class>.csv` (`ts,vib`; `ts` in epoch microseconds, 12 kHz, values to 6 significant
digits): the first {REPLAY_SECS:g} s of each recording's **test** part. `replay/expected.json` lists
the windows, predicted classes and the alert events the agent must produce, computed from the
files as written: normal stays silent; each fault raises `bearing-fault` and its own class
alert.

## Limits

- One rig, one bearing type (SKF 6205), one load (0 hp, 1797 rpm), one fault size (0.007 in),
  one recording per class, and seeded (EDM) faults rather than grown ones. The four classes are
  separable by level alone (RMS differs by up to 9x between the files), so the near-perfect
  score says little about other machines, loads, sensor mountings or fault sizes: retrain on
  data from the target machine before trusting the class, and treat `bearing-fault` as
  "different from this rig's healthy baseline".
- The normal class comes from one 5 s recording (about 1.5 s of it for test).
- Band and envelope features assume 12 kHz sampling and a shaft near 30 Hz; other speeds move
  the defect frequencies out of the envelope bands.

## Licence of the data

The CWRU Bearing Data Center publishes the files for download without a stated licence (none
found in the source repositories either); the replay excerpts and parity windows are short
extracts for testing. Confirm the terms before redistributing.
"""
    (out / "README.md").write_text(text)


if __name__ == "__main__":
    main()
