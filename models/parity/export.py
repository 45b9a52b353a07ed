"""The export matrix: train small models on synthetic data, export them the way users do, and
record onnxruntime's outputs as the reference that tract must reproduce (tests/parity.rs).
Plus hand-written tree ensembles (synthetic_tree_cases) for forewarn's own tree op.

Writes, next to this file:
  onnx/<case>.onnx   the file forewarn loads (for a workaround: the rewritten / re-exported one)
  cases.json         per case: exporter, model, status (supported | workaround | unsupported),
                     the workaround or the reason, input vectors, onnxruntime's outputs, and
                     which outputs the parity test compares (and how)

Reference outputs always come from onnxruntime running the *plain* export (what a user of the
exporter gets), also when forewarn runs a rewritten file: the rewrite has to reproduce it.

Run:  /var/cache/forewarn-ci/venv/bin/python models/parity/export.py
(venv: models/requirements.txt, plus models/parity/requirements-torch.txt for the torch.onnx
cases; without torch the script stops, unless run with --without-torch.)
Deterministic: fixed seeds, single-threaded training.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import sklearn  # noqa: E402
import skl2onnx  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ beside the committed files
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from onnx_rewrite import rewrite_for_tract  # noqa: E402

warnings.filterwarnings("ignore")
HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "onnx"
F = 6  # features per vector (normalised PdM features: rms, kurtosis, crest, band energies...)
CNN_F = 64  # the 1-D CNN reads a short raw window instead of features
SKL_OPSET = {"": 17, "ai.onnx.ml": 3}  # what tract is tested against; IsolationForest needs ml 3

ZIPMAP = "skl2onnx option zipmap=False: probabilities as a float tensor (tract has no ZipMap)"
REWRITE = "graph rewritten by models/parity/onnx_rewrite.py: "


def data(seed=0, n=600):
    """Three health states with shifted feature means; a wear-like regression target."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centers = np.array([[0, 0, 0, 0, 0, 0], [1.5, 1, 0, -0.5, 0.5, 0], [0, -1, 1.5, 1, 0, 0.5]])
    X = (rng.normal(size=(n, F)) + centers[y]).astype(np.float32)
    wear = (0.8 * X[:, 0] - 0.5 * X[:, 2] + 0.3 * X[:, 1] * X[:, 3]
            + 0.1 * rng.normal(size=n)).astype(np.float32)
    return X, y, wear


def probe_inputs(X, extra=()):
    """Vectors the parity test feeds: training rows of every class, zeros, far-out values."""
    rows = [X[i] for i in (0, 1, 2, 3, 5, 8, 13, 21)]
    rows += [np.zeros(X.shape[1], np.float32), np.full(X.shape[1], 4.0, np.float32),
             np.full(X.shape[1], -4.0, np.float32)]
    rows += list(extra)
    return np.stack(rows).astype(np.float32)


def ort_outputs(model: onnx.ModelProto, inputs: np.ndarray):
    """onnxruntime's outputs, one dict per input vector, each fed alone as a [1, F] batch."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out_names = [o.name for o in sess.get_outputs()]
    results = []
    for x in inputs:
        res = sess.run(None, {name: x.reshape(1, -1)})
        row = {}
        for n, v in zip(out_names, res):
            v = np.asarray(v)
            row[n] = {"shape": list(v.shape), "values": [_num(e) for e in v.ravel()]}
        results.append(row)
    return results


def _num(e):
    if isinstance(e, (np.integer, int)):
        return int(e)
    if isinstance(e, (np.bool_, bool)):
        return int(e)
    if isinstance(e, (np.floating, float)):
        return float(e)  # exact: an f32 widened to f64 prints back to the same f32
    return str(e)  # string labels (the unsupported case)


def max_diff(a, b, outputs):
    worst = 0.0
    for ra, rb in zip(a, b):
        for o in outputs:
            va = np.asarray(ra[o]["values"], dtype=np.float64)
            vb = np.asarray(rb[o]["values"], dtype=np.float64)
            worst = max(worst, float(np.max(np.abs(va - vb))) if va.size else 0.0)
    return worst


CASES = []


def case(name, exporter, model_desc, plain, *, inputs, status, compare, n_features=F,
         shipped=None, workaround=None, reason=None, expect_error=None, not_compared=None,
         known_wrong=None):
    """Record one case. `plain` is the exporter's output; `shipped` what forewarn loads."""
    shipped = plain if shipped is None else shipped
    # skl2onnx lists opset imports in set order, which varies between runs: sort them so a
    # re-export writes identical files.
    imports = sorted(shipped.opset_import, key=lambda o: o.domain)
    del shipped.opset_import[:]
    shipped.opset_import.extend(imports)
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.onnx"
    onnx.save(shipped, path)
    # Unsupported cases only check that loading fails: no reference values.
    expected = None if status == "unsupported" else ort_outputs(plain, inputs)
    entry = {
        "name": name,
        "exporter": exporter,
        "model": model_desc,
        "file": f"onnx/{name}.onnx",
        "bytes": path.stat().st_size,
        "n_features": n_features,
        "status": status,
        "workaround": workaround,
        "reason": reason,
        "expect_error": expect_error or [],
        "compare": compare,
        "not_compared": not_compared or {},
        "known_wrong": known_wrong or {},
        # JSON has no NaN: a missing feature value is null.
        "inputs": [[None if np.isnan(v) else float(v) for v in x] for x in inputs],
        "expected": expected,
    }
    if shipped is not plain and expected is not None:
        entry["ort_shipped_vs_plain_max_abs_diff"] = max_diff(
            ort_outputs(shipped, inputs), expected, [o for o in compare])
    CASES.append(entry)
    print(f"  {name:34s} {status:12s} {entry['bytes']:7d} B  {model_desc}")


def skl(model, X, **options):
    return to_onnx(model, X[:1], target_opset=SKL_OPSET, options=options or None)


def sklearn_cases():
    X, y, wear = data()
    y_bin = (y > 0).astype(np.int64)  # healthy vs faulty
    probes = probe_inputs(X)
    vals_probs = {"probabilities": "values", "label": "exact"}

    m = LogisticRegression(max_iter=500).fit(X, y_bin)
    case("skl_logreg_binary", "skl2onnx", "LogisticRegression, 2 classes",
         skl(m, X, zipmap=False), inputs=probes, status="workaround", workaround=ZIPMAP,
         compare=vals_probs)
    case("skl_logreg_zipmap", "skl2onnx", "LogisticRegression, default export (ZipMap)",
         skl(m, X), inputs=probes, status="unsupported", compare={},
         reason="the default classifier export ends in ZipMap (a sequence of maps); tract has "
                "no ZipMap and forewarn reads tensors: export with zipmap=False",
         expect_error=["ZipMap"])

    m = LogisticRegression(max_iter=500).fit(X, y)
    case("skl_logreg_multiclass", "skl2onnx", "LogisticRegression, 3 classes",
         skl(m, X, zipmap=False), inputs=probes, status="workaround", workaround=ZIPMAP,
         compare=vals_probs)

    names = np.array(["normal", "inner_race", "outer_race"])[y]
    m = LogisticRegression(max_iter=500).fit(X, names)
    case("skl_logreg_string_labels", "skl2onnx", "LogisticRegression trained on string classes",
         skl(m, X, zipmap=False), inputs=probes, status="unsupported", compare={},
         reason="the label output is a string tensor: tract 0.23 cannot type LinearClassifier "
                "with string classes, and forewarn reads numeric outputs only; train on integer "
                "class ids and put the names in the manifest's `labels`",
         expect_error=["String", "integer class ids"])

    m = LinearRegression().fit(X, wear)
    case("skl_linreg", "skl2onnx", "LinearRegression", skl(m, X), inputs=probes,
         status="supported", compare={"variable": "values"})

    m = MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=400, random_state=0).fit(X, y_bin)
    case("skl_mlp_classifier_binary", "skl2onnx", "MLPClassifier (16, 8), 2 classes",
         skl(m, X, zipmap=False), inputs=probes, status="workaround", workaround=ZIPMAP,
         compare=vals_probs)
    m = MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=400, random_state=0).fit(X, y)
    case("skl_mlp_classifier_multiclass", "skl2onnx", "MLPClassifier (16, 8), 3 classes",
         skl(m, X, zipmap=False), inputs=probes, status="workaround", workaround=ZIPMAP,
         compare=vals_probs)

    m = MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=600, random_state=0).fit(X, wear)
    case("skl_mlp_regressor", "skl2onnx", "MLPRegressor (16, 8)", skl(m, X), inputs=probes,
         status="supported", compare={"variable": "values"})

    # Scaler + MLP: the features arrive un-normalised (rms in g, kurtosis, ...).
    raw_scale = np.array([0.07, 3.1, 0.0004, 12.0, 250.0, 1.0], np.float32)
    raw_shift = np.array([0.2, 3.0, 0.001, 40.0, 1000.0, 0.0], np.float32)
    Xr = (X * raw_scale + raw_shift).astype(np.float32)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=400,
                                                         random_state=0)).fit(Xr, y)
    raw_probes = probe_inputs(Xr, extra=[raw_shift])[[*range(8), 11]]
    plain = skl(pipe, Xr, zipmap=False)
    case("skl_scaler_mlp_plain", "skl2onnx", "StandardScaler + MLPClassifier pipeline, default export",
         plain, inputs=raw_probes, status="unsupported", compare={},
         reason="skl2onnx exports StandardScaler as ai.onnx.ml Scaler, which tract lacks",
         expect_error=["Scaler"])
    div = to_onnx(pipe, Xr[:1], target_opset=SKL_OPSET,
                  options={StandardScaler: {"div": "div_cast"}, id(pipe): {"zipmap": False},
                           MLPClassifier: {"zipmap": False}})
    case("skl_scaler_mlp_div_cast", "skl2onnx", "StandardScaler + MLPClassifier pipeline",
         plain, shipped=div, inputs=raw_probes, status="workaround",
         workaround='skl2onnx options {StandardScaler: {"div": "div_cast"}} (Sub/Div instead of '
                    "Scaler) + zipmap=False", compare=vals_probs)
    rewritten, _ = rewrite_for_tract(plain)
    case("skl_scaler_mlp_rewritten", "skl2onnx", "StandardScaler + MLPClassifier pipeline",
         plain, shipped=rewritten, inputs=raw_probes, status="workaround",
         workaround=REWRITE + "Scaler -> Sub, Mul (+ zipmap=False)", compare=vals_probs)

    # Trees: few and shallow, to keep the files small.
    m = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y_bin)
    case("skl_rf_classifier_binary", "skl2onnx", "RandomForestClassifier, 2 classes (10 trees, depth 4)",
         skl(m, X, zipmap=False), inputs=probes, status="workaround", workaround=ZIPMAP,
         compare=vals_probs)
    m = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    case("skl_rf_classifier_multiclass", "skl2onnx",
         "RandomForestClassifier, 3 classes (10 trees, depth 4)",
         skl(m, X, zipmap=False), inputs=probes, status="workaround", workaround=ZIPMAP,
         compare=vals_probs)
    m = GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y_bin)
    plain = skl(m, X, zipmap=False)
    case("skl_gb_classifier_binary_plain", "skl2onnx",
         "GradientBoostingClassifier, 2 classes (10 trees, depth 3), plain export", plain,
         inputs=probes, status="workaround", workaround=ZIPMAP, compare=vals_probs)
    rewritten, _ = rewrite_for_tract(plain)
    case("skl_gb_classifier_binary_rewritten", "skl2onnx",
         "GradientBoostingClassifier, 2 classes (10 trees, depth 3)", plain, shipped=rewritten,
         inputs=probes, status="workaround",
         workaround=ZIPMAP + "; " + REWRITE + "base value folded into the first tree's leaves "
                    "(not needed since forewarn's own tree op; kept as a regression case)",
         compare=vals_probs)
    m = GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y)
    case("skl_gb_classifier_multiclass", "skl2onnx",
         "GradientBoostingClassifier, 3 classes (10 trees per class, depth 3)",
         skl(m, X, zipmap=False), inputs=probes, status="workaround", workaround=ZIPMAP,
         compare=vals_probs)

    regressors = [
        ("rf_regressor", "RandomForestRegressor (10 trees, depth 4)",
         RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)),
        ("gb_regressor", "GradientBoostingRegressor (20 trees, depth 3)",
         GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0)),
    ]
    for short, desc, m in regressors:
        m.fit(X, wear)
        plain = skl(m, X)
        case(f"skl_{short}_plain", "skl2onnx", desc + ", plain export", plain, inputs=probes,
             status="supported", compare={"variable": "values"})
        rewritten, _ = rewrite_for_tract(plain)
        case(f"skl_{short}_rewritten", "skl2onnx", desc, plain, shipped=rewritten, inputs=probes,
             status="workaround",
             workaround=REWRITE + "TreeEnsembleRegressor -> TreeEnsembleClassifier (leaf weights "
                        "as class-0 scores) + Slice (+ Div by tree count for AVERAGE, + Add base)",
             compare={"variable": "values"})

    m = IsolationForest(n_estimators=10, max_samples=64, random_state=0).fit(X)
    plain = skl(m, X)
    case("skl_isolation_forest_plain", "skl2onnx", "IsolationForest (10 trees, 64 samples), plain export",
         plain, inputs=probes, status="unsupported", compare={},
         reason="uses ai.onnx.ml LabelEncoder, which tract 0.23 does not implement",
         expect_error=["LabelEncoder"])
    rewritten, _ = rewrite_for_tract(plain)
    case("skl_isolation_forest_rewritten", "skl2onnx", "IsolationForest (10 trees, 64 samples)",
         plain, shipped=rewritten, inputs=probes, status="workaround",
         workaround=REWRITE + "TreeEnsembleRegressor -> TreeEnsembleClassifier + Slice; "
                    "LabelEncoder -> Gather from a dense table",
         compare={"scores": "values", "label": "exact"})

# Synthetic tree ensembles, written node by node with onnx.helper: what the exporters above never
# emit (BRANCH_LT/GTE/GT/EQ/NEQ, nodes_missing_value_tracks_true, SOFTMAX / SOFTMAX_ZERO /
# LOGISTIC, base values, MIN/MAX/AVERAGE) for forewarn's own tree op (src/model/trees/).
TREE_MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
TREE_GRID = [-1.0, -0.5, 0.0, 0.5, 1.0]  # most thresholds, and the probe values that hit them
NODE_ATTRS = ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
              "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true"]


def random_trees(rng, n_trees, depth, n_out, *, signed, voters=None, missing=0.5, all_vote=False):
    """`n_trees` random trees (preorder node ids, every mode, mostly grid thresholds, NaN sent
    to the true child at about `missing` of the branches); leaves vote for all of `voters`
    (default: every output) or, unless `all_vote`, for one of them, sometimes twice.

    Kept clear of onnxruntime quirks forewarn does not reproduce (models/parity/README.md):
    with one output only the first vote of a leaf counts, so no leaf votes twice then; with
    two or more, an output no reached leaf voted for is written as 0 whatever its base value,
    so ensembles with base values use `all_vote`."""
    voters = list(range(n_out)) if voters is None else voters
    nodes = {k: [] for k in NODE_ATTRS}
    votes = {k: [] for k in ("treeids", "nodeids", "ids", "weights")}
    for t in range(n_trees):
        next_id = [0]

        def grow(d):
            me = next_id[0]
            next_id[0] += 1
            ix = len(nodes["nodes_treeids"])
            for k in NODE_ATTRS:
                nodes[k].append(0)
            nodes["nodes_treeids"][ix] = t
            nodes["nodes_nodeids"][ix] = me
            if d == depth or (d >= 2 and rng.random() < 0.25):
                nodes["nodes_modes"][ix] = "LEAF"
                nodes["nodes_values"][ix] = 0.0
                if all_vote or rng.random() < 0.5:
                    ids = voters
                else:
                    ids = [voters[int(rng.integers(len(voters)))]] * int(rng.integers(1, 3))
                    ids = ids[:1] if n_out == 1 else ids
                for c in ids:
                    w = rng.normal() if signed else rng.random()
                    votes["treeids"].append(t)
                    votes["nodeids"].append(me)
                    votes["ids"].append(int(c))
                    votes["weights"].append(float(np.float32(w)))
                return me
            nodes["nodes_modes"][ix] = TREE_MODES[int(rng.integers(len(TREE_MODES)))]
            nodes["nodes_featureids"][ix] = int(rng.integers(F))
            value = TREE_GRID[int(rng.integers(len(TREE_GRID)))] if rng.random() < 0.8 \
                else rng.normal()
            nodes["nodes_values"][ix] = float(np.float32(value))
            nodes["nodes_missing_value_tracks_true"][ix] = int(rng.random() < missing)
            nodes["nodes_truenodeids"][ix] = grow(d + 1)
            nodes["nodes_falsenodeids"][ix] = grow(d + 1)
            return me

        grow(0)
    return nodes, votes


def tree_probes(rng, nodes):
    """Grid rows (values on the thresholds), rows on every non-grid threshold of a node,
    a few off-grid rows, and NaN in each feature, in pairs and everywhere."""
    grid = lambda: rng.choice(TREE_GRID, size=F).astype(np.float32)  # noqa: E731
    rows = [grid() for _ in range(12)]
    for f, v, m in zip(nodes["nodes_featureids"], nodes["nodes_values"], nodes["nodes_modes"]):
        if m != "LEAF" and v not in TREE_GRID:
            r = grid()
            r[f] = v
            rows.append(r)
    rows += [rng.normal(size=F).astype(np.float32) for _ in range(4)]
    for f in range(F):
        r = grid()
        r[f] = np.nan
        rows.append(r)
    for f in range(0, F, 2):
        r = grid()
        r[f] = r[(f + 3) % F] = np.nan
        rows.append(r)
    rows.append(np.full(F, np.nan, np.float32))
    return np.stack(rows).astype(np.float32)


def tree_model(name, op, outputs, attrs):
    node = onnx.helper.make_node(op, ["input"], [o.name for o in outputs], domain="ai.onnx.ml",
                                 **attrs)
    graph = onnx.helper.make_graph(
        [node], name, [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                                          ["N", F])], outputs)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17),
                                                         onnx.helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def synthetic_tree_cases():
    rng = np.random.default_rng(7)
    exporter = "onnx.helper"
    tensor = onnx.helper.make_tensor_value_info
    T = onnx.TensorProto
    # (name suffix, classes, voting classes, post_transform, base_values, signed weights, what)
    classifiers = [
        ("none", 4, None, "NONE", None, False, "4 classes, positive votes, NONE"),
        ("softmax_base", 4, None, "SOFTMAX", [0.1, -0.2, 0.3, 0.0], True,
         "4 classes, signed votes, SOFTMAX, 4 base values"),
        ("softmax_zero", 3, None, "SOFTMAX_ZERO", None, True,
         "3 classes, signed votes, SOFTMAX_ZERO"),
        ("logistic", 3, None, "LOGISTIC", None, True, "3 classes, signed votes, LOGISTIC"),
        ("binary_none", 2, [0], "NONE", None, False,
         "2 classes, only class 0 votes (positive), NONE: onnxruntime's binary case"),
        ("binary_logistic", 2, [1], "LOGISTIC", None, True,
         "2 classes, only class 1 votes (signed), LOGISTIC: binary case"),
        ("binary_logistic_base", 2, [0], "LOGISTIC", [0.3], True,
         "2 classes, only class 0 votes (signed), LOGISTIC, 1 base value: binary case"),
        ("two_voters_base", 2, None, "NONE", [0.25, -0.25], True,
         "2 classes, both vote in every leaf (signed), NONE, 2 base values"),
    ]
    for suffix, n, voters, post, base, signed, what in classifiers:
        # Base values for two voting classes: every leaf votes for both (see random_trees).
        both = n == 2 and voters is None
        nodes, votes = random_trees(rng, 4, 4, n, signed=signed, voters=voters, all_vote=both)
        # Two voting classes: onnxruntime's label is 1 or 0, not classlabels_int64s[1] or [0].
        labels = [0, 1] if both else list(range(10, 10 + n))
        attrs = dict(nodes, post_transform=post, classlabels_int64s=labels)
        attrs.update({"class_" + k: v for k, v in votes.items()})
        if base is not None:
            attrs["base_values"] = base
        name = f"trees_clf{n}_{suffix}"
        model = tree_model(name, "TreeEnsembleClassifier", [tensor("label", T.INT64, ["N"]),
                           tensor("probabilities", T.FLOAT, ["N", n])], attrs)
        case(name, exporter, f"TreeEnsembleClassifier, 4 random trees (all 6 branch modes, NaN "
             f"tracking), {what}, int labels {labels[0]}..{labels[-1]}", model,
             inputs=tree_probes(rng, nodes),
             status="supported", compare={"probabilities": "exact", "label": "exact"})

    nodes, votes = random_trees(rng, 3, 3, 3, signed=True)
    attrs = dict(nodes, post_transform="LOGISTIC",
                 classlabels_strings=["normal", "inner_race", "outer_race"])
    attrs.update({"class_" + k: v for k, v in votes.items()})
    name = "trees_clf3_string_labels"
    model = tree_model(name, "TreeEnsembleClassifier", [tensor("label", T.STRING, ["N"]),
                       tensor("probabilities", T.FLOAT, ["N", 3])], attrs)
    case(name, exporter, "TreeEnsembleClassifier, 3 random trees, 3 string class labels", model,
         inputs=tree_probes(rng, nodes), status="unsupported", compare={},
         reason="the label output is a string tensor; forewarn reads numeric outputs only: use "
                "classlabels_int64s and put the names in the manifest's `labels`",
         expect_error=["`label`", "String"])

    # (aggregate, targets, base_values, post_transform, missing attribute written)
    regressors = [("SUM", 1, [0.5], "NONE", True), ("AVERAGE", 2, [1.0, -1.0], "NONE", True),
                  ("MIN", 3, None, "NONE", True), ("MAX", 2, None, "NONE", False)]
    for agg, n, base, post, with_missing in regressors:
        nodes, votes = random_trees(rng, 4, 3, n, signed=True, missing=0.5 if with_missing else 0,
                                    all_vote=base is not None and n > 1)
        if not with_missing:
            del nodes["nodes_missing_value_tracks_true"]
        attrs = dict(nodes, n_targets=n, aggregate_function=agg, post_transform=post)
        attrs.update({"target_" + k: v for k, v in votes.items()})
        if base is not None:
            attrs["base_values"] = base
        name = f"trees_reg{n}_{agg.lower()}"
        what = f"{agg}, {n} target{'s' if n > 1 else ''}"
        what += f", {len(base)} base value{'s' if len(base) > 1 else ''}" if base else ""
        what += ", every leaf votes for every target" if base is not None and n > 1 else ""
        what += "" if with_missing else ", no nodes_missing_value_tracks_true (NaN compares false)"
        model = tree_model(name, "TreeEnsembleRegressor", [tensor("variable", T.FLOAT, ["N", n])],
                           attrs)
        case(name, exporter, f"TreeEnsembleRegressor, 4 random trees (all 6 branch modes), {what}",
             model, inputs=tree_probes(rng, nodes), status="supported",
             compare={"variable": "exact"})


def torch_cases():
    try:
        import torch
    except ImportError:
        if "--without-torch" in sys.argv:
            print("  torch is not installed: torch.onnx cases left out (--without-torch)")
            return
        sys.exit("torch is not installed: pip install -r models/parity/requirements-torch.txt, "
                 "or pass --without-torch to write a matrix without the torch.onnx cases")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    X, y, _ = data()
    Xt, yt = torch.tensor(X), torch.tensor(y)

    class Mlp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(F, 16), torch.nn.ReLU(),
                                           torch.nn.Linear(16, 16), torch.nn.Tanh(),
                                           torch.nn.Linear(16, 3))

        def forward(self, x):
            return torch.softmax(self.net(x), dim=1)

    class Cnn1d(torch.nn.Module):
        """[N, L] raw window -> unsqueeze to [N, 1, L] inside the model, so the ONNX input is
        forewarn's [1, F] with F = L."""

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Sequential(
                torch.nn.Conv1d(1, 8, kernel_size=5, padding=2), torch.nn.ReLU(),
                torch.nn.MaxPool1d(2),
                torch.nn.Conv1d(8, 8, kernel_size=3, padding=1), torch.nn.ReLU(),
                torch.nn.AdaptiveAvgPool1d(1))
            self.head = torch.nn.Linear(8, 3)

        def forward(self, x):
            z = self.conv(x.unsqueeze(1)).flatten(1)
            return torch.softmax(self.head(z), dim=1)

    def train(model, inputs, labels, epochs):
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(epochs):
            opt.zero_grad()
            loss = torch.nn.functional.nll_loss(torch.log(model(inputs) + 1e-9), labels)
            loss.backward()
            opt.step()
        return model.eval()

    # Raw windows: a tone whose frequency depends on the class, plus noise.
    rng = np.random.default_rng(1)
    t = np.arange(CNN_F, dtype=np.float32)
    freqs = np.array([2.0, 5.0, 11.0])[y]
    W = (np.sin(2 * np.pi * freqs[:, None] * t / CNN_F) + 0.3 * rng.normal(size=(len(y), CNN_F))
         ).astype(np.float32)

    mlp = train(Mlp(), Xt, yt, 200)
    cnn = train(Cnn1d(), torch.tensor(W), yt, 120)
    version = f"torch.onnx {torch.__version__}"

    def export(model, example, dynamo, dynamic):
        path = OUT / "_tmp.onnx"
        kwargs = {"input_names": ["features"], "output_names": ["probabilities"],
                  "dynamo": dynamo, "opset_version": 18}
        if dynamic and dynamo:
            kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
        elif dynamic:
            kwargs["dynamic_axes"] = {"features": {0: "batch"}, "probabilities": {0: "batch"}}
        if dynamo:
            kwargs["verbose"] = False
        torch.onnx.export(model, (example,), str(path), **kwargs)
        m = onnx.load(str(path))  # the dynamo exporter may write weights beside the file: inline
        path.unlink()
        data_file = OUT / "_tmp.onnx.data"
        if data_file.exists():
            data_file.unlink()
        return m

    probes = probe_inputs(X)
    wprobes = probe_inputs(W)
    for dynamo, tag in ((True, "dynamo"), (False, "torchscript")):
        kind = "dynamo=True (default)" if dynamo else "dynamo=False (TorchScript exporter)"
        case(f"torch_mlp_{tag}", version, f"MLP 6-16-16-3, ReLU/Tanh/Softmax, {kind}, batch axis dynamic",
             export(mlp, Xt[:1], dynamo, True), inputs=probes, status="supported",
             compare={"probabilities": "values"})
        case(f"torch_cnn1d_{tag}", version,
             f"1-D CNN (Conv1d, ReLU, MaxPool, GlobalAvgPool, Linear, Softmax) on a 64-sample "
             f"window, {kind}, batch fixed to 1",
             export(cnn, torch.tensor(W[:1]), dynamo, False), inputs=wprobes, n_features=CNN_F,
             status="supported", compare={"probabilities": "values"})


def main():
    OUT.mkdir(exist_ok=True)
    for f in OUT.glob("*.onnx"):
        f.unlink()
    print("exporting:")
    sklearn_cases()
    synthetic_tree_cases()
    torch_cases()
    versions = {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__,
                "onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__}
    try:
        import torch
        versions["torch"] = torch.__version__
    except ImportError:
        pass
    doc = {
        "about": "tract-vs-onnxruntime parity matrix; written by models/parity/export.py, "
                 "checked by tests/parity.rs. expected = onnxruntime on the plain export, "
                 "one [1, F] input at a time.",
        "tolerance": 1e-5,
        "versions": versions,
        "cases": CASES,
    }
    with open(HERE / "cases.json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    total = sum(c["bytes"] for c in CASES)
    print(f"{len(CASES)} cases, {total} bytes of ONNX")


if __name__ == "__main__":
    main()
