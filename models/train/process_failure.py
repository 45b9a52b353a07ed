"""Train the process-failure package: AI4I 2020 (milling machine, synthetic) → normal or one of
four failure modes, per reading.

    python models/train/process_failure.py --datasets ../shared/datasets --out models/process-failure

Data: ai4i2020/ai4i2020.csv. Rows are independent readings, not a time series: the agent sees
each row as one sample of six signals at one timestamp, so the window is one sample
(`samples = 1, hop = 1`) and each feature is that sample (`SIGNAL.mean` of a one-sample window is
the value itself). Signals: air_temp [K], process_temp [K], speed [rpm], torque [N·m],
tool_wear [min], type (product quality L/M/H as 0/1/2). The failure-mode flags are never inputs.

Physics features are computed inside the ONNX graph from the raw inputs with Slice/Sub/Mul/
Concat (exact float32 operations, the same in onnxruntime and tract): temperature difference
process − air [K], power proxy torque × speed [N·m·rpm] (× 2π/60 = W) and overstrain
tool_wear × torque [min·N·m]. They feed a random forest (multi-class ai.onnx.ml
TreeEnsembleClassifier). Trees need no scaling, and float32 normalisation would blur the
engineered products, so the manifest has no [input.normalize] (it is optional); [training]
still gives the feature statistics for drift.

Classes: normal, tool_wear (TWF), heat_dissipation (HDF), power (PWF), overstrain (OSF). A row
flagged with several modes takes the first of HDF, PWF, OSF, TWF. Random failures (RNF) and the 9
failures without a mode flag cannot be learned from the inputs and are labelled normal for
training; they still count as failures in the metrics.

Split: stratified on `Machine failure`, 20 % held out (random_state 42). Metrics: F1, precision
and recall of machine failure (1 − P(normal) ≥ 0.5) on the held-out rows, recall per failure mode,
5-fold cross-validated F1 on the training rows, and the F1 of the dataset's own generating
rules (the ceiling for any model that cannot predict random failures).
"""

from __future__ import annotations

import argparse
import csv
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

NAME = "process-failure"
VERSION = "1.0.0"
SEED = 20260105
SPLIT_SEED = 42
SHA256 = "dc6630cd9b1f0f853922fad78a1b6436570d3f1ec863f1dd5c4340ac56bc8a8e"

SIGNALS = ["air_temp", "process_temp", "speed", "torque", "tool_wear", "type"]
COLUMNS = ["Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]",
           "Torque [Nm]", "Tool wear [min]", "Type"]
TYPES = {"L": 0.0, "M": 1.0, "H": 2.0}
FEATURES = [f"{s}.mean" for s in SIGNALS]
MODES = ["TWF", "HDF", "PWF", "OSF", "RNF"]
LABELS = ["normal", "tool_wear", "heat_dissipation", "power", "overstrain"]
MODE_CLASS = {"TWF": "tool_wear", "HDF": "heat_dissipation", "PWF": "power", "OSF": "overstrain"}
PRIORITY = ["HDF", "PWF", "OSF", "TWF"]
ENGINEERED = ["speed", "tool_wear", "type", "temp_diff = process_temp - air_temp",
              "power = torque * speed", "overstrain = tool_wear * torque"]

ALERTS = [common.AlertRule("machine-failure", "critical", "above", on=0.5, off=0.5)] + [
    common.AlertRule(f"{c.replace('_', '-')}-failure", "warning", "above", on=0.5, off=0.5, cls=c)
    for c in LABELS[1:]
]

REPLAY_T0 = 1_767_600_000  # 2026-01-05T08:00:00Z, epoch seconds; one row per second


def load(root: Path, verify: bool):
    path = root / "ai4i2020" / "ai4i2020.csv"
    if verify and common.sha256_file(path) != SHA256:
        raise SystemExit(f"{path}: sha256 differs from the dataset README ({SHA256})")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    raw = np.array([[TYPES[r[c]] if c == "Type" else float(r[c]) for c in COLUMNS] for r in rows])
    failure = np.array([int(r["Machine failure"]) for r in rows])
    modes = np.array([[int(r[m]) for m in MODES] for r in rows])
    udi = np.array([int(r["UDI"]) for r in rows])
    label = np.zeros(len(rows), dtype=int)
    for m in reversed(PRIORITY):  # the first in PRIORITY wins
        label[(modes[:, MODES.index(m)] == 1) & (failure == 1)] = LABELS.index(MODE_CLASS[m])
    return raw, failure, modes, label, udi


def engineered(raw32: np.ndarray) -> np.ndarray:
    """The graph's preprocessing in float32 numpy (IEEE, same as onnxruntime and tract)."""
    x = np.asarray(raw32, dtype=np.float32)
    air, proc, speed, torque, wear, typ = (x[:, i:i + 1] for i in range(6))
    return np.concatenate([speed, wear, typ, proc - air, torque * speed, wear * torque], axis=1)


def preprocess_graph(rf_model):
    """Prepend raw → engineered features to the skl2onnx forest (whose input is `eng`)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    g = rf_model.graph
    assert len(g.input) == 1 and g.input[0].name == "eng"
    inits, nodes = [], []
    for i, s in enumerate(SIGNALS):
        for nm, v in ((f"start_{i}", i), (f"end_{i}", i + 1)):
            inits.append(numpy_helper.from_array(np.array([v], dtype=np.int64), nm))
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_1"))
    for i, s in enumerate(SIGNALS):
        nodes.append(helper.make_node("Slice", ["input", f"start_{i}", f"end_{i}", "axis_1"], [s]))
    nodes += [
        helper.make_node("Sub", ["process_temp", "air_temp"], ["temp_diff"]),
        helper.make_node("Mul", ["torque", "speed"], ["power"]),
        helper.make_node("Mul", ["tool_wear", "torque"], ["overstrain"]),
        helper.make_node("Concat", ["speed", "tool_wear", "type", "temp_diff", "power", "overstrain"],
                         ["eng"], axis=1),
    ]
    old_nodes = list(g.node)
    del g.node[:]
    g.node.extend(nodes + old_nodes)
    g.initializer.extend(inits)
    del g.input[:]
    g.input.extend([helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", len(SIGNALS)])])
    onnx.checker.check_model(rf_model)
    return rf_model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--no-verify", action="store_true", help="skip the sha256 check of the data")
    args = ap.parse_args()
    t_start = time.time()

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    raw, failure, modes, label, udi = load(args.datasets, not args.no_verify)
    idx = np.arange(len(raw))
    tr, te = train_test_split(idx, test_size=0.2, stratify=failure, random_state=SPLIT_SEED)
    tr, te = np.sort(tr), np.sort(te)
    raw32 = raw.astype(np.float32)
    E = engineered(raw32)

    def make(seed=SEED):
        # max_features=None (every split sees all six inputs): best 5-fold CV F1 on the training
        # rows among sqrt / 4 / all features, min_samples_leaf 1-3, depth limits.
        return RandomForestClassifier(n_estimators=100, max_features=None, min_samples_leaf=1,
                                      random_state=seed, n_jobs=1)

    cv_f1 = []
    for a, b in StratifiedKFold(5, shuffle=True, random_state=SEED).split(tr, failure[tr]):
        m = make().fit(E[tr[a]], label[tr[a]])
        cv_f1.append(f1_score(failure[tr[b]], 1 - m.predict_proba(E[tr[b]])[:, 0] >= 0.5))
    rf = make().fit(E[tr], label[tr])
    # How much the held-out F1 moves with the forest's seed alone (one row is 0.01 of F1).
    seed_f1 = []
    for s in range(1, 6):
        m = make(s).fit(E[tr], label[tr])
        seed_f1.append(float(f1_score(failure[te], 1 - m.predict_proba(E[te])[:, 0] >= 0.5)))

    onx = convert_sklearn(rf, initial_types=[("eng", FloatTensorType([None, E.shape[1]]))],
                          options={id(rf): {"zipmap": False}},
                          target_opset={"": 17, "ai.onnx.ml": 3})
    onx = preprocess_graph(onx)
    onx.doc_string = (f"{NAME} {VERSION}: raw [air_temp, process_temp, speed, torque, tool_wear, type] → "
                      "temp_diff, power, overstrain (Sub/Mul) → random forest")
    onx.producer_name = "forewarn-models-train"
    onx.producer_version = ""
    onx.graph.name = "process_failure"  # skl2onnx names it with a random UUID
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "model.onnx"
    common.save_onnx(onx, onnx_path)
    sess = common.ort_session(onnx_path)

    P_all = common.ort_run(sess, raw32, "probabilities")
    assert np.max(np.abs(P_all - rf.predict_proba(E))) < 1e-5, "onnxruntime differs from sklearn"
    P = P_all[te]
    pred = 1 - P[:, 0] >= 0.5
    f1 = f1_score(failure[te], pred)
    prec = precision_score(failure[te], pred)
    rec = recall_score(failure[te], pred)
    mode_recall = {m: (int((pred & (modes[te, j] == 1)).sum()), int((modes[te, j] == 1).sum()))
                   for j, m in enumerate(MODES)}
    mode_recall_failed = {m: (int((pred & (modes[te, j] == 1) & (failure[te] == 1)).sum()),
                              int(((modes[te, j] == 1) & (failure[te] == 1)).sum())) for j, m in enumerate(MODES)}
    no_mode = (failure[te] == 1) & (modes[te].sum(1) == 0)
    cm = confusion_matrix(label[te], P.argmax(1), labels=range(len(LABELS)))
    oracle = rules_oracle(raw[te])
    oracle_f1 = f1_score(failure[te], oracle)
    fp_rows = [int(udi[te][i]) for i in np.where(pred & (failure[te] == 0))[0]]
    fn_rows = [(int(udi[te][i]), [MODES[j] for j in np.where(modes[te][i] == 1)[0]] or ["none"])
               for i in np.where(~pred & (failure[te] == 1))[0]]

    # Golden vectors: a healthy row and one of each learned mode, robust to last-bit changes.
    golden, picked = [], []
    for cls in range(len(LABELS)):
        cand = [i for i in te if label[i] == cls and P_all[i].argmax() == cls]
        # (few rows are predicted as tool wear: fall back to the rows where it scores highest)
        cand += [int(i) for i in np.argsort(-P_all[:, cls])[:50] if i not in cand]
        for i in cand:
            if common.robust_golden(sess, "probabilities", raw32[i], None):
                golden.append((raw32[i], P_all[i])); picked.append(int(i)); break
    assert len(golden) == len(LABELS), picked

    train_X = raw[tr]
    pkg = common.Package(
        name=NAME, version=VERSION,
        description="AI4I 2020 milling-machine failure classifier per reading (temperatures, speed, "
                    "torque, tool wear, type) with the failure mode",
        signals=SIGNALS, features=FEATURES,
        window={"samples": 1, "hop": 1, "sample_rate_hz": 1.0},
        normalize=None, output_kind="classes", output_name="probabilities",
        labels=LABELS, normal="normal", alerts=ALERTS, golden=golden,
        train_stats={"mean": train_X.mean(0), "std": train_X.std(0), "min": train_X.min(0), "max": train_X.max(0)},
        header=["Written by models/train/process_failure.py (do not edit by hand).",
                "Signals: air_temp [K], process_temp [K], speed [rpm], torque [N m], tool_wear [min],",
                "type = product quality L/M/H as 0/1/2. One window = one reading of all six.",
                "No [input.normalize]: the ONNX graph takes the raw values (trees need no scaling and",
                "computes process-air, torque*speed and wear*torque itself)."])
    pkg.write(args.out, onx)
    size = onnx_path.stat().st_size

    # Parity file: readings → features → model output (no normalisation).
    cases = []
    sel = picked + [int(i) for i in te[:3]]
    for i in sel:
        signals = {s: (np.array([raw[i, j]]), 1.0) for j, s in enumerate(SIGNALS)}
        cases.append(common.parity_case(f"ai4i_udi_{udi[i]}", signals, FEATURES, None, sess,
                                        "probabilities", {"file": "ai4i2020/ai4i2020.csv", "sha256": SHA256,
                                                          "udi": int(udi[i]), "class": LABELS[label[i]]}))
    common.write_parity(common.HERE / "golden" / f"{NAME}.json", NAME,
                        "AI4I readings (one sample per signal) → features.py → onnxruntime probabilities "
                        "(no normalisation). Made by models/train/process_failure.py.", cases,
                        {"labels": LABELS, "window": {"samples": 1, "hop": 1, "sample_rate_hz": 1.0}})

    replay = write_replay(args.out / "replay", raw, failure, modes, label, udi, te, sess, P_all)

    metrics = {
        "test_rows": int(len(te)), "test_failures": int(failure[te].sum()),
        "f1": f1, "precision": prec, "recall": rec, "cv5_f1_train_mean": float(np.mean(cv_f1)),
        "cv5_f1_train": [float(v) for v in cv_f1],
        "test_f1_other_seeds_1_to_5": seed_f1,
        "recall_per_mode_flag": mode_recall, "recall_per_mode_failed_rows": mode_recall_failed,
        "failures_without_mode_caught": [int((pred & no_mode).sum()), int(no_mode.sum())],
        "rules_oracle_f1": oracle_f1, "confusion_classes": cm.tolist(),
        "false_positive_udi": fp_rows, "missed_failures_udi_modes": fn_rows,
        "onnx_bytes": size,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    write_card(args.out, metrics, replay, raw, failure, modes, tr, te)

    print(f"{NAME}: {len(tr)} training rows, {len(te)} held-out rows ({failure[te].sum()} failures)")
    print(f"machine failure on the held-out 20%: F1 {f1:.3f} (precision {prec:.3f}, recall {rec:.3f}); "
          f"goal F1 >= 0.90; 5-fold CV F1 on the training rows {np.mean(cv_f1):.3f}")
    print(f"held-out F1 with forest seeds 1-5 instead: {', '.join(f'{v:.3f}' for v in seed_f1)}")
    print(f"ceiling: the dataset's generating rules (HDF/PWF/OSF in float64) score F1 {oracle_f1:.3f} here")
    print("recall per failure mode (held-out rows with the flag that are predicted as failures):")
    for m in MODES:
        c, n = mode_recall_failed[m]
        print(f"  {m}: {c}/{n}" + ("  (random by construction)" if m in ("TWF", "RNF") else ""))
    print(f"  failures without a mode flag: {int((pred & no_mode).sum())}/{int(no_mode.sum())}")
    print(f"false positives (UDI): {fp_rows}; missed failures (UDI, modes): {fn_rows}")
    print(f"model.onnx {size} bytes; ops {common.ops_of(onnx_path)}")
    print(f"replay {replay['file']}: {replay['rows']} rows, {replay['failures']} failures, "
          f"{sum(e['event'] == 'raised' for e in replay['events'])} alerts raised")
    print(f"done in {time.time() - t_start:.0f} s")


def rules_oracle(raw: np.ndarray) -> np.ndarray:
    """The AI4I generating rules for HDF, PWF and OSF (dataset README), in float64."""
    air, proc, speed, torque, wear, typ = raw.T
    hdf = ((proc - air) < 8.6) & (speed < 1380)
    p = torque * speed * 2 * np.pi / 60
    pwf = (p < 3500) | (p > 9000)
    osf = wear * torque > np.array([11000, 12000, 13000])[typ.astype(int)]
    return hdf | pwf | osf


def write_replay(out: Path, raw, failure, modes, label, udi, te, sess, P_all):
    """40 held-out readings, 8 of them failures of the learnable modes, one per second."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    # Only readings whose scores are clear of the 0.5 thresholds (a forest's vote sum can land on
    # 0.5 exactly, where summation order decides).
    clear = np.all(np.abs(P_all - 0.5) > 0.02, axis=1) & (np.abs(P_all[:, 0] - 0.5) > 0.02)
    te = [i for i in te if clear[i]]
    fails = [i for i in te if failure[i] == 1 and label[i] != 0]
    by_class = {c: [i for i in fails if label[i] == c] for c in range(1, len(LABELS))}
    chosen = []
    for c in (2, 3, 4, 2, 3, 4, 1, 1):  # HDF, PWF, OSF twice, TWF twice
        pool = [i for i in by_class[c] if i not in chosen]
        chosen.append(int(rng.choice(pool)))
    normal = [i for i in te if failure[i] == 0]
    chosen += [int(i) for i in rng.choice(normal, 32, replace=False)]
    chosen = [chosen[i] for i in rng.permutation(len(chosen))]
    fmt = ["{:.1f}", "{:.1f}", "{:.0f}", "{:.1f}", "{:.0f}", "{:.0f}"]
    lines = ["ts," + ",".join(SIGNALS)]
    for k, i in enumerate(chosen):
        lines.append(f"{REPLAY_T0 + k}," + ",".join(f.format(v) for f, v in zip(fmt, raw[i])))
    path = out / "ai4i_rows.csv"
    path.write_text("\n".join(lines) + "\n")
    # Verify from the file as written: one window per row (all six signals), features, model, rules.
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    assert np.array_equal(rows[:, 1:], raw[chosen])
    outs = []
    for r in rows:
        x64 = np.array([r[1 + j] for j in range(6)])
        _, x32 = common.extract_f32([f"{s}.mean" for s in SIGNALS],
                                   {s: (np.array([x64[j]]), 1.0) for j, s in enumerate(SIGNALS)})
        outs.append(common.ort_run(sess, x32, "probabilities")[0])
    ends = [int(t) * 1_000_000_000 for t in rows[:, 0]]
    events = common.run_alerts(ALERTS, outs, ends, LABELS, "normal")
    margin = common.threshold_margin(ALERTS, outs, LABELS, "normal")
    assert margin > 1e-3, margin
    P = np.array(outs)
    per_row = []
    for k, i in enumerate(chosen):
        per_row.append({"row": k, "ts": int(rows[k, 0]), "udi": int(udi[i]), "machine_failure": int(failure[i]),
                        "modes": [MODES[j] for j in np.where(modes[i] == 1)[0]],
                        "predicted": LABELS[int(P[k].argmax())], "p_failure": round(float(1 - P[k, 0]), 4)})
    doc = {
        "about": "40 held-out AI4I readings (8 failures: HDF, PWF, OSF twice each, TWF twice), one row "
                 "per second. Expected per row and the alert events, computed by replaying the CSV "
                 "as written (window samples = 1: one reading of all six signals) through "
                 "features.py, onnxruntime and the manifest's alert rules. Made by "
                 "models/train/process_failure.py.",
        "file": "replay/ai4i_rows.csv", "rows": len(chosen), "threshold_margin": margin, "failures": int(failure[chosen].sum()),
        "per_row": per_row, "events": events,
    }
    (out / "expected.json").write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def write_card(out: Path, m: dict, replay, raw, failure, modes, tr, te):
    mr = m["recall_per_mode_failed_rows"]
    mode_rows = "\n".join(
        f"| {k} | {mr[k][0]}/{mr[k][1]} | " + {
            "TWF": "tool replaced or failing at a random wear of 200–240 min: not predictable from one reading",
            "HDF": "process − air temperature < 8.6 K and speed < 1380 rpm",
            "PWF": "power < 3500 W or > 9000 W",
            "OSF": "tool wear × torque above 11,000 (L) / 12,000 (M) / 13,000 (H) min·N·m",
            "RNF": "0.1 % random: not predictable",
        }[k] + " |" for k in MODES)
    cm = m["confusion_classes"]
    cm_rows = "\n".join(f"| {LABELS[i]} | " + " | ".join(str(v) for v in cm[i]) + " |" for i in range(len(LABELS)))
    text = f"""# process-failure {VERSION}

Predicts, for one reading of a milling machine (AI4I 2020), whether it is a failure and of which
kind: **normal**, **tool_wear**, **heat_dissipation**, **power** or **overstrain**. Written by
`models/train/process_failure.py` (`python models/train/process_failure.py --datasets DATASETS
--out models/process-failure`); do not edit the package by hand.

## Input

Six signals, one reading each per window (`samples = 1, hop = 1`): `air_temp` [K],
`process_temp` [K], `speed` [rpm], `torque` [N·m], `tool_wear` [min] and `type` (product
quality L/M/H sent as 0/1/2). Features `SIGNAL.mean`, i.e. the reading itself. The failure-mode
flags of the data set are not inputs.

The ONNX graph computes the physics features from the raw values itself (Slice, Sub, Mul,
Concat: single float32 operations, identical in onnxruntime and tract): temperature difference
`process_temp − air_temp`, power proxy `torque × speed` (× 2π/60 = W) and overstrain
`tool_wear × torque`; with `speed`, `tool_wear` and `type` they feed the forest. No
`[input.normalize]`: trees need no scaling.

## Model

Random forest, 100 trees, every split choosing among all six inputs (scikit-learn, `ai.onnx.ml:TreeEnsembleClassifier` via skl2onnx,
`zipmap=False`; read `probabilities`). `model.onnx` is {m['onnx_bytes'] / 1024:.0f} KiB.

## Data and split

AI4I 2020 Predictive Maintenance Dataset (S. Matzka, UCI; synthetic data modelled on a milling
machine), 10,000 rows, 339 machine failures. Stratified on `Machine failure`: 8,000 rows for
training, **2,000 held out** ({m['test_failures']} failures), `random_state = 42`.
Training labels: the failure mode (a row with several takes the first of HDF, PWF, OSF, TWF);
random failures (RNF) and the 9 failures with no mode flag are labelled normal (nothing in
the reading explains them) but count as failures in every metric below.

## Metrics (held-out 20 %)

| metric | value |
|---|---|
| F1, machine failure (1 − P(normal) ≥ 0.5) | **{m['f1']:.3f}** (goal ≥ 0.90) |
| precision / recall | {m['precision']:.3f} / {m['recall']:.3f} |
| 5-fold cross-validated F1 on the training rows | {m['cv5_f1_train_mean']:.3f} |
| held-out F1 with forest seeds 1–5 instead of the shipped one | {min(m['test_f1_other_seeds_1_to_5']):.3f}–{max(m['test_f1_other_seeds_1_to_5']):.3f} |
| F1 of the data set's own generating rules (HDF, PWF, OSF in float64) | {m['rules_oracle_f1']:.3f} |

Recall per failure mode (held-out failures carrying the flag, predicted as failures):

| mode | recall | rule in the data generator |
|---|---|---|
{mode_rows}

Failures without any mode flag caught: {m['failures_without_mode_caught'][0]}/{m['failures_without_mode_caught'][1]}.

Confusion of the classes (rows: training label, columns: predicted):

| label \\ predicted | {' | '.join(LABELS)} |
|---|---|---|---|---|---|
{cm_rows}

**Why F1 stays near 0.9.** About a sixth of the failures cannot be predicted from one reading:
tool-wear failures happen at a random wear between 200 and 240 min (a tool at 220 min fails in
well under a fifth of the rows), random failures are random, and 9 failures carry no mode. Even
the generating rules themselves reach only F1 {m['rules_oracle_f1']:.3f} on these rows. The rest of
the gap is at the HDF boundary: 27 rows of the data set have a temperature difference of exactly
8.6 K at low speed, and whether the generator flagged them depends on the float64 rounding of
`process − air` (8.599999… or 8.600000…), which no float32 model can see.
Missed failures (UDI, modes): {m['missed_failures_udi_modes']}; false alarms (UDI): {m['false_positive_udi']}.

## Alerts

`machine-failure` (critical: 1 − P(normal) ≥ 0.5) and one per mode (`tool-wear-failure`,
`heat-dissipation-failure`, `power-failure`, `overstrain-failure`: P(mode) ≥ 0.5), each raised
by a single reading (readings are independent) and cleared by the next one below 0.5.

## Replay excerpt

`replay/ai4i_rows.csv` (`ts,air_temp,process_temp,speed,torque,tool_wear,type`, one held-out
reading per second from 2026-01-05T08:00:00Z): {replay['rows']} readings, {replay['failures']} of them failures (HDF, PWF and OSF
twice each, TWF twice). `replay/expected.json` lists the predicted class per row and the alert
events the agent must produce, computed from the file as written.

## Limits

- Synthetic data: the failure modes follow simple published rules, which the forest learns
  approximately; real machines have other failure physics, sensors and ranges. Retrain on
  the target machine's data.
- Tool-wear failures are mostly missed (see above): an alert on `tool_wear` approaching
  200 min is better served by a threshold rule.
- Outside the training ranges (air 295–305 K, process 305–314 K, 1168–2886 rpm, 3.8–76.6 N·m,
  0–253 min) the forest extrapolates flat.

## Licence of the data

AI4I 2020 Predictive Maintenance Dataset, UCI Machine Learning Repository (S. Matzka, 2020),
commonly cited as CC BY 4.0 (not confirmed from the UCI page here; see
`shared/datasets/ai4i2020/README.md`). Attribution: S. Matzka, "Explainable Artificial
Intelligence for Predictive Maintenance Applications", AI4I 2020.
"""
    (out / "README.md").write_text(text)


if __name__ == "__main__":
    main()
