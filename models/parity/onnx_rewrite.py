"""Rewrite ONNX graphs so that tract 0.23 can run them, without changing what they compute.

tract 0.23's ai.onnx.ml set is CategoryMapper, LinearClassifier, LinearRegressor, Normalizer,
TreeEnsembleClassifier (and ArrayFeatureExtractor). skl2onnx also emits three operators tract
lacks; each has an exact equivalent made of operators tract has:

- Scaler (skl2onnx's default StandardScaler/MinMaxScaler): y = (x - offset) * scale
  -> Sub(x, offset) then Mul(., scale): the same two float32 operations onnxruntime performs.
- TreeEnsembleRegressor (RandomForestRegressor, GradientBoostingRegressor, the trees inside
  IsolationForest): a TreeEnsembleClassifier with the same trees, each leaf's target weight put
  on "class" = target id, post_transform NONE, so its score tensor is the per-target sum of leaf
  weights; then Slice to the targets, Div by the number of trees for AVERAGE, Add base_values.
  At least three classes are declared so tract does not take its two-class layout (which
  returns [1 - s, s]); the extra classes score 0 and are sliced away.
- TreeEnsembleClassifier with one base value for two classes (skl2onnx's two-class
  GradientBoostingClassifier: the log-odds prior): tract 0.23 refuses to load it (it wants one
  base value per class). The base value is added to the weight of every leaf of the first tree
  instead (each input reaches exactly one of them) and the attribute dropped: the same sum,
  rounded in a different order (a few 1e-8 on the probabilities).
- LabelEncoder with int64 keys and float or int64 values (IsolationForest maps leaf ids to
  sample counts and depths): Gather from a dense table indexed by key, keys outside the table
  mapped to the default value with Where.

Each rewrite is checked by the parity matrix (export.py): onnxruntime's outputs on the original
graph are the reference for tract running the rewritten one.

Usage as a tool:  python onnx_rewrite.py IN.onnx OUT.onnx
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

ML = "ai.onnx.ml"
# A dense LabelEncoder table larger than this would bloat the model: refuse instead.
MAX_TABLE = 1 << 20


class RewriteError(Exception):
    pass


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Ctx:
    def __init__(self, model):
        self.model = model
        self.graph = model.graph
        self.used = {n for node in self.graph.node for n in list(node.input) + list(node.output)}
        self.used |= {i.name for i in self.graph.initializer}
        self.used |= {i.name for i in self.graph.input}

    def name(self, base):
        n, i = base, 0
        while n in self.used:
            i += 1
            n = f"{base}_{i}"
        self.used.add(n)
        return n

    def const(self, base, array):
        name = self.name(base)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))
        return name


def _scaler(ctx, node):
    a = _attrs(node)
    offset = np.asarray(a.get("offset", [0.0]), dtype=np.float32)
    scale = np.asarray(a.get("scale", [1.0]), dtype=np.float32)
    p = node.name or node.output[0]
    off = ctx.const(f"{p}_offset", offset)
    sc = ctx.const(f"{p}_scale", scale)
    centered = ctx.name(f"{p}_centered")
    return [
        helper.make_node("Sub", [node.input[0], off], [centered], name=ctx.name(f"{p}_sub")),
        helper.make_node("Mul", [centered, sc], [node.output[0]], name=ctx.name(f"{p}_mul")),
    ]


def _tree_regressor(ctx, node):
    a = _attrs(node)
    p = node.name or node.output[0]
    post = a.get("post_transform", b"NONE")
    post = post.decode() if isinstance(post, bytes) else post
    if post != "NONE":
        raise RewriteError(f"{p}: TreeEnsembleRegressor post_transform {post} is not rewritten")
    agg = a.get("aggregate_function", b"SUM")
    agg = agg.decode() if isinstance(agg, bytes) else agg
    if agg not in ("SUM", "AVERAGE"):
        raise RewriteError(f"{p}: TreeEnsembleRegressor aggregate_function {agg} is not rewritten")
    if any(k.endswith("_as_tensor") for k in a):
        raise RewriteError(f"{p}: double-precision (*_as_tensor) tree attributes are not rewritten")
    n_targets = int(a.get("n_targets", 1))
    n_classes = max(n_targets, 3)
    n_trees = len(set(a["nodes_treeids"]))

    keep = [
        "nodes_falsenodeids", "nodes_featureids", "nodes_hitrates",
        "nodes_missing_value_tracks_true", "nodes_modes", "nodes_nodeids", "nodes_treeids",
        "nodes_truenodeids", "nodes_values",
    ]
    kwargs = {k: a[k] for k in keep if k in a}
    kwargs["class_ids"] = list(a["target_ids"])
    kwargs["class_nodeids"] = list(a["target_nodeids"])
    kwargs["class_treeids"] = list(a["target_treeids"])
    kwargs["class_weights"] = list(a["target_weights"])
    kwargs["classlabels_int64s"] = list(range(n_classes))
    kwargs["post_transform"] = "NONE"

    label = ctx.name(f"{p}_unused_label")
    scores = ctx.name(f"{p}_scores")
    nodes = [
        helper.make_node(
            "TreeEnsembleClassifier", [node.input[0]], [label, scores],
            name=ctx.name(f"{p}_as_classifier"), domain=ML, **kwargs,
        )
    ]
    starts = ctx.const(f"{p}_starts", np.array([0], dtype=np.int64))
    ends = ctx.const(f"{p}_ends", np.array([n_targets], dtype=np.int64))
    axes = ctx.const(f"{p}_axes", np.array([1], dtype=np.int64))
    base = a.get("base_values")
    steps = []
    if agg == "AVERAGE":
        steps.append(("Div", ctx.const(f"{p}_n_trees", np.array([n_trees], dtype=np.float32))))
    if base is not None and any(v != 0.0 for v in base):
        steps.append(("Add", ctx.const(f"{p}_base", np.asarray(base, dtype=np.float32))))
    current = ctx.name(f"{p}_sliced") if steps else node.output[0]
    nodes.append(helper.make_node("Slice", [scores, starts, ends, axes], [current],
                                  name=ctx.name(f"{p}_slice")))
    for i, (op, operand) in enumerate(steps):
        out = node.output[0] if i == len(steps) - 1 else ctx.name(f"{p}_{op.lower()}")
        nodes.append(helper.make_node(op, [current, operand], [out], name=ctx.name(f"{p}_{op.lower()}")))
        current = out
    return nodes


def _tree_classifier(ctx, node):
    a = _attrs(node)
    base = a.get("base_values")
    labels = a.get("classlabels_int64s") or a.get("classlabels_strings") or []
    if base is None or len(base) == len(labels):
        return [node]  # nothing tract refuses
    p = node.name or node.output[0]
    if not (len(labels) == 2 and len(base) == 1 and set(a["class_ids"]) == {0}):
        raise RewriteError(f"{p}: base_values of length {len(base)} for {len(labels)} classes")
    b = float(base[0])
    weights = list(a["class_weights"])
    trees, nodes = a["class_treeids"], a["class_nodeids"]
    leaves0 = {n for t, n, m in zip(a["nodes_treeids"], a["nodes_nodeids"], a["nodes_modes"])
               if t == 0 and m in (b"LEAF", "LEAF")}
    hit = set()
    for i, (t, n) in enumerate(zip(trees, nodes)):
        if t == 0:
            weights[i] = float(np.float32(weights[i]) + np.float32(b))
            hit.add(n)
    if hit != leaves0:
        raise RewriteError(f"{p}: some leaves of tree 0 carry no weight")
    new = helper.make_node(node.op_type, list(node.input), list(node.output), name=node.name,
                           domain=node.domain)
    for attr in node.attribute:
        if attr.name == "base_values":
            continue
        if attr.name == "class_weights":
            attr = helper.make_attribute("class_weights", weights)
        new.attribute.append(attr)
    return [new]


def _label_encoder(ctx, node):
    a = _attrs(node)
    p = node.name or node.output[0]
    if "keys_int64s" not in a:
        raise RewriteError(f"{p}: only LabelEncoders with int64 keys are rewritten")
    keys = np.asarray(a["keys_int64s"], dtype=np.int64)
    if "values_floats" in a:
        values = np.asarray(a["values_floats"], dtype=np.float32)
        default = np.float32(a.get("default_float", -0.0))
    elif "values_int64s" in a:
        values = np.asarray(a["values_int64s"], dtype=np.int64)
        default = np.int64(a.get("default_int64", -1))
    else:
        raise RewriteError(f"{p}: only LabelEncoders with float or int64 values are rewritten")
    if len(keys) == 0 or keys.min() < 0 or keys.max() >= MAX_TABLE:
        raise RewriteError(f"{p}: LabelEncoder keys must lie in [0, {MAX_TABLE})")
    size = int(keys.max()) + 2  # the last entry holds the default for keys outside the table
    table = np.full(size, default, dtype=values.dtype)
    table[keys] = values
    t = ctx.const(f"{p}_table", table)
    zero = ctx.const(f"{p}_zero", np.array(0, dtype=np.int64))
    hi = ctx.const(f"{p}_hi", np.array(size - 1, dtype=np.int64))
    x = node.input[0]
    below, above, outside, idx = (ctx.name(f"{p}_{s}") for s in ("below", "above", "outside", "idx"))
    return [
        helper.make_node("Less", [x, zero], [below], name=ctx.name(f"{p}_less")),
        helper.make_node("Greater", [x, hi], [above], name=ctx.name(f"{p}_greater")),
        helper.make_node("Or", [below, above], [outside], name=ctx.name(f"{p}_or")),
        helper.make_node("Where", [outside, hi, x], [idx], name=ctx.name(f"{p}_where")),
        helper.make_node("Gather", [t, idx], [node.output[0]], name=ctx.name(f"{p}_gather"), axis=0),
    ]


REWRITES = {
    (ML, "Scaler"): _scaler,
    (ML, "TreeEnsembleRegressor"): _tree_regressor,
    (ML, "LabelEncoder"): _label_encoder,
    (ML, "TreeEnsembleClassifier"): _tree_classifier,
}


def rewrite_for_tract(model: onnx.ModelProto):
    """Returns (rewritten copy of model, sorted list of the operator types rewritten)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    ctx = _Ctx(model)
    new_nodes, done = [], set()
    for node in model.graph.node:
        fn = REWRITES.get((node.domain or "ai.onnx", node.op_type))
        if fn is None:
            new_nodes.append(node)
        else:
            replaced = fn(ctx, node)
            new_nodes.extend(replaced)
            if replaced != [node]:
                done.add(node.op_type)
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    # Gather/Where/Or need opset >= 9; Slice with inputs >= 10; every exporter we use is newer.
    onnx.checker.check_model(model)
    return model, sorted(done)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: onnx_rewrite.py IN.onnx OUT.onnx")
    m, done = rewrite_for_tract(onnx.load(sys.argv[1]))
    onnx.save(m, sys.argv[2])
    print("rewrote:", ", ".join(done) or "nothing")
