"""Shared pieces of the training scripts: what the agent does to a stream (windows, features,
normalisation, alert rules) replayed in Python, ONNX building and checking, and the writers of a
model package (manifest.toml, golden vectors, parity file).

Everything the agent computes is mirrored here with the agent's own rules, so that expected
outputs written next to a package are what the agent will produce:

- features: `features.extract` (the reference twin of src/features/), rounded to float32;
- normalisation: `(x - mean) / std` in float32, as src/model/package.rs `normalize` does;
- sample windows (`samples = N, hop = H`): the first window when N samples are in, then every H
  new samples (src/window/mod.rs);
- time windows (`secs = T, hop_secs = S, sample_rate_hz = R`): windows `[s, s + T)` with `s` a
  multiple of S, grid `s + k/R`, sample and hold, closed when a later sample's event time reaches
  `s + T` (lateness 0), gaps longer than `max_gap_secs` skipped;
- alert rules: k of the last n windows past `on` raises, one window past `off` clears
  (src/model/rule.rs).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import features  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


# ---------------------------------------------------------------------------------------------
# Numbers as text


def f32(v) -> float:
    """The float32 nearest v, as a Python float (exact)."""
    return float(np.float32(v))


def f32_text(v) -> str:
    """Shortest text that parses back to the same float32 (Rust `f32::from_str`, numpy)."""
    v = np.float32(v)
    if not np.isfinite(v):
        raise ValueError(f"non-finite value {v}")
    s = str(v)
    return s if any(c in s for c in ".en") else s + ".0"


def f64_text(v) -> str:
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"non-finite value {v}")
    return repr(v)


def toml_list(values, fmt=f64_text, per_line: int = 8, indent: str = "  ") -> str:
    vals = [fmt(v) for v in values]
    if len(vals) <= per_line:
        return "[" + ", ".join(vals) + "]"
    lines = [indent + ", ".join(vals[i:i + per_line]) + "," for i in range(0, len(vals), per_line)]
    return "[\n" + "\n".join(lines) + "\n]"


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Scores


def phm08_score(pred: np.ndarray, true: np.ndarray) -> float:
    """PHM08 challenge score: sum of exp(-d/13) - 1 for early (d < 0), exp(d/10) - 1 for late
    predictions, d = predicted - true RUL. Lower is better."""
    d = np.asarray(pred, float) - np.asarray(true, float)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def rmse(pred, true) -> float:
    d = np.asarray(pred, float) - np.asarray(true, float)
    return float(np.sqrt(np.mean(d * d)))


# ---------------------------------------------------------------------------------------------
# Features and normalisation, as the agent computes them


def extract_f32(names: Sequence[str], signals: Dict[str, Tuple[np.ndarray, float]]):
    """(float64 features per features.py, the float32 vector the model is given)."""
    v = features.extract(names, signals)
    return v, v.astype(np.float32)


def normalize_f32(x32: np.ndarray, mean32: np.ndarray, std32: np.ndarray) -> np.ndarray:
    """(x - mean) / std in float32 arithmetic (src/model/package.rs `normalize`)."""
    x32 = np.asarray(x32, dtype=np.float32)
    return ((x32 - mean32) / std32).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Windows, as src/window/mod.rs cuts them


def sample_windows(n_samples: int, size: int, hop: int) -> List[Tuple[int, int]]:
    """[start, end) sample indices of the sample windows of a gapless stream: the first when
    `size` samples are in, then every `hop` new samples."""
    return [(e - size, e) for e in range(size, n_samples + 1, hop)]


def time_windows(ts_ns: np.ndarray, values: np.ndarray, secs: float, hop_secs: float,
                 rate_hz: float, max_gap_secs: Optional[float] = None,
                 lateness_secs: float = 0.0):
    """Time windows of one asset whose signals all arrive together, in event-time order.

    ts_ns: (M,) int64 event times; values: (M, S) one column per signal. Returns a list of
    (start_ns, end_ns, window (N, S) float64, index of the row whose arrival closed it). Rows
    after the last closing row leave the last windows open, as in the agent.
    """
    NS = 1_000_000_000
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    n = int(round(secs * rate_hz))
    len_ns = int(round(secs * NS))
    hop_ns = int(round(hop_secs * NS))
    period = NS / rate_hz
    max_gap_ns = int(round(2 * period)) if max_gap_secs is None else int(round(max_gap_secs * NS))
    lateness_ns = int(round(lateness_secs * NS))
    t0 = int(ts_ns[0])
    start = (t0 // hop_ns) * hop_ns + (0 if t0 % hop_ns == 0 else hop_ns)
    out = []
    for i, t in enumerate(ts_ns):
        # The watermark moves with this row; close every window it passed. Samples at or
        # before the close are all in (rows arrive in order), the closing row is after `end`.
        while int(t) - lateness_ns >= start + len_ns:
            grid = start + np.round(np.arange(n) * period).astype(np.int64)
            # latest row at or before each grid point, among rows 0..i-1 and row i when t <= g
            idx = np.searchsorted(ts_ns[: i + 1], grid, side="right") - 1
            ok = (idx >= 0) & (grid - ts_ns[np.clip(idx, 0, None)] <= max_gap_ns)
            if np.all(ok):
                out.append((start, start + len_ns, values[idx].astype(np.float64), i))
            start += hop_ns
    return out


# ---------------------------------------------------------------------------------------------
# Alert rules, as src/model/rule.rs evaluates them


@dataclass
class AlertRule:
    name: str
    severity: str
    direction: str  # "above" | "below"
    on: float
    off: float
    k: int = 1
    n: int = 1
    cls: Optional[str] = None  # classes only; None: 1 - P(normal)

    def toml(self) -> str:
        lines = ["[[alerts]]", f"name = {toml_str(self.name)}", f"severity = {toml_str(self.severity)}"]
        if self.cls is not None:
            lines.append(f"class = {toml_str(self.cls)}")
        lines += [f"direction = {toml_str(self.direction)}", f"on = {f64_text(self.on)}",
                  f"off = {f64_text(self.off)}", f"debounce = {{ k = {self.k}, n = {self.n} }}"]
        return "\n".join(lines)


def rule_score(rule: AlertRule, output: np.ndarray, labels: Optional[List[str]], normal: Optional[str]) -> float:
    # As src/model/rule.rs `score`: f32 arithmetic, then widened to f64.
    out = np.asarray(output, dtype=np.float32).ravel()
    if labels is None:
        return float(out[0])
    if rule.cls is not None:
        return float(out[labels.index(rule.cls)])
    return float(np.float32(1.0) - out[labels.index(normal)])


def run_alerts(rules: List[AlertRule], outputs: Sequence[np.ndarray], ends_ns: Sequence[int],
               labels: Optional[List[str]] = None, normal: Optional[str] = None):
    """Raised / updated / cleared events per window, as the agent's rule states produce them."""
    events = []
    for r in rules:
        history: List[bool] = []
        raised = None  # score last reported
        for w, (o, end) in enumerate(zip(outputs, ends_ns)):
            s = rule_score(r, o, labels, normal)
            if not math.isfinite(s):
                continue
            past_on = s >= r.on if r.direction == "above" else s <= r.on
            past_off = s < r.off if r.direction == "above" else s > r.off
            if raised is None:
                history.append(past_on)
                if len(history) > r.n:
                    history.pop(0)
                if sum(history) >= r.k:
                    raised = s
                    events.append({"window": w, "end_ns": int(end), "rule": r.name, "event": "raised", "score": s})
            else:
                if past_off:
                    raised = None
                    history = []
                    events.append({"window": w, "end_ns": int(end), "rule": r.name, "event": "cleared", "score": s})
                    continue
                step = max(abs(r.on - r.off) / 10.0, sys.float_info.epsilon)
                worse = s - raised if r.direction == "above" else raised - s
                if worse >= step:
                    raised = s
                    events.append({"window": w, "end_ns": int(end), "rule": r.name, "event": "updated", "score": s})
    events.sort(key=lambda e: (e["window"], e["rule"]))
    return events


def threshold_margin(rules: List[AlertRule], outputs: Sequence[np.ndarray],
                     labels: Optional[List[str]] = None, normal: Optional[str] = None) -> float:
    """Smallest distance of any window's score from any rule's `on` or `off`: expected alerts
    are only meaningful when no score sits on a threshold (last-bit differences between
    runtimes could tip it)."""
    m = math.inf
    for r in rules:
        for o in outputs:
            s = rule_score(r, o, labels, normal)
            m = min(m, abs(s - r.on), abs(s - r.off))
    return m


# ---------------------------------------------------------------------------------------------
# ONNX


def mlp_onnx(layers: List[Tuple[np.ndarray, np.ndarray]], n_in: int, out_name: str,
             hidden_act: str = "Relu", out_act: Optional[str] = None, doc: str = ""):
    """A plain MLP graph: input `input` [N, n_in] float32 → (MatMul, Add, act)* → `out_name`.
    Only MatMul/Add/Relu/Tanh: what tract runs bit-identically to onnxruntime."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    x = "input"
    for i, (w, b) in enumerate(layers):
        last = i == len(layers) - 1
        wn, bn = f"W{i}", f"B{i}"
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), wn),
                  numpy_helper.from_array(np.asarray(b, np.float32).reshape(-1), bn)]
        nodes.append(helper.make_node("MatMul", [x, wn], [f"mm{i}"]))
        act = out_act if last else hidden_act
        y = out_name if last and act is None else f"z{i}"
        nodes.append(helper.make_node("Add", [f"mm{i}", bn], [y]))
        if act is not None:
            y2 = out_name if last else f"h{i}"
            nodes.append(helper.make_node(act, [y], [y2]))
            y = y2
        x = y
    n_out = np.asarray(layers[-1][0]).shape[1]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", n_out])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="forewarn-models-train")
    model.ir_version = 8
    model.doc_string = doc
    onnx.checker.check_model(model)
    return model


def save_onnx(model, path: Path) -> None:
    """Write deterministically (no producer version, no timestamps in the bytes)."""
    Path(path).write_bytes(model.SerializeToString(deterministic=True))


def ort_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_run(sess, x: np.ndarray, output: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    name = sess.get_inputs()[0].name
    return np.asarray(sess.run([output], {name: x})[0], dtype=np.float32)


def ops_of(path: Path) -> List[str]:
    import onnx

    m = onnx.load(str(path))
    return sorted({f"{n.domain + ':' if n.domain else ''}{n.op_type}" for n in m.graph.node})


# ---------------------------------------------------------------------------------------------
# Package writing


@dataclass
class Package:
    name: str
    version: str
    description: str
    signals: List[str]
    features: List[str]
    window: Dict[str, float]  # e.g. {"samples": 2048, "hop": 1024, "sample_rate_hz": 12000.0}
    output_kind: str
    output_name: str
    alerts: List[AlertRule]
    golden: List[Tuple[np.ndarray, np.ndarray]]  # (raw float32 features, output)
    train_stats: Dict[str, np.ndarray]  # mean, std, min, max of the training features (float64)
    normalize: Optional[Tuple[np.ndarray, np.ndarray]] = None  # float32 mean, std
    labels: Optional[List[str]] = None
    normal: Optional[str] = None
    unit: Optional[str] = None
    golden_tolerance: float = 1e-4
    header: List[str] = field(default_factory=list)

    def manifest(self, sha256: str) -> str:
        out = [f"# {line}" if line else "#" for line in self.header]
        if out:
            out.append("")
        out += ["[model]", f"name = {toml_str(self.name)}", f"version = {toml_str(self.version)}",
                f"description = {toml_str(self.description)}", 'onnx = "model.onnx"',
                f"sha256 = {toml_str(sha256)}", ""]
        out += ["[input]", f"signals = {toml_list(self.signals, toml_str)}",
                f"features = {toml_list(self.features, toml_str, per_line=4)}"]
        w = self.window

        def num(k):
            v = w[k]
            return str(int(v)) if k in ("samples", "hop") else f64_text(v)

        out.append("window = { " + ", ".join(f"{k} = {num(k)}" for k in w) + " }")
        out.append("")
        if self.normalize is not None:
            m, s = self.normalize
            out += ["[input.normalize]", f"mean = {toml_list(m, f32_text)}",
                    f"std = {toml_list(s, f32_text)}", ""]
        out += ["[output]", f"kind = {toml_str(self.output_kind)}", f"name = {toml_str(self.output_name)}"]
        if self.labels is not None:
            out += [f"labels = {toml_list(self.labels, toml_str)}", f"normal = {toml_str(self.normal)}"]
        if self.unit is not None:
            out.append(f"unit = {toml_str(self.unit)}")
        out.append("")
        for a in self.alerts:
            out += [a.toml(), ""]
        for x, y in self.golden:
            out += ["[[golden]]", f"features = {toml_list(x, f32_text)}",
                    f"output = {toml_list(np.ravel(y), f32_text)}",
                    f"tolerance = {f64_text(self.golden_tolerance)}", ""]
        t = self.train_stats
        out += ["[training]"] + [f"{k} = {toml_list(t[k])}" for k in ("mean", "std", "min", "max")]
        return "\n".join(out) + "\n"

    def write(self, out_dir: Path, onnx_model) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "model.onnx"
        save_onnx(onnx_model, path)
        text = self.manifest(sha256_file(path))
        check_manifest_text(text, self)
        (out_dir / "manifest.toml").write_text(text)
        return path


def check_manifest_text(text: str, pkg: Package) -> None:
    """Parse the TOML back (tomllib) and compare the numbers that matter."""
    import tomllib

    m = tomllib.loads(text)
    assert m["input"]["features"] == pkg.features
    assert len(m["golden"]) == len(pkg.golden)
    for g, (x, y) in zip(m["golden"], pkg.golden):
        assert np.array_equal(np.float32(g["features"]), np.float32(x))
        assert np.array_equal(np.float32(g["output"]), np.float32(np.ravel(y)))
    if pkg.normalize is not None:
        assert np.array_equal(np.float32(m["input"]["normalize"]["mean"]), np.float32(pkg.normalize[0]))
        assert np.array_equal(np.float32(m["input"]["normalize"]["std"]), np.float32(pkg.normalize[1]))
        assert np.all(np.float32(m["input"]["normalize"]["std"]) > 0)


def robust_golden(sess, output: str, x32: np.ndarray, norm, rel: float = 1e-5,
                  tol: float = 1e-5) -> bool:
    """Whether the model output at x32 stays within `tol` when each feature moves by `rel`
    (both ways, one at a time): a golden vector must not sit on a tree threshold, where the
    last-bit differences between two runtimes could flip a tree."""
    def run(v):
        v = np.asarray(v, np.float32)
        if norm is not None:
            v = normalize_f32(v, *norm)
        return ort_run(sess, v, output)[0]

    base = run(x32)
    for i in range(len(x32)):
        for sgn in (-1.0, 1.0):
            v = np.array(x32, dtype=np.float32)
            d = abs(float(v[i])) * rel or rel
            v[i] = np.float32(float(v[i]) + sgn * d)
            if np.max(np.abs(run(v) - base)) > tol:
                return False
    return True


def write_parity(path: Path, model: str, about: str, cases: List[dict], extra: Optional[dict] = None) -> None:
    """golden/<model>.json: one case per line (small diffs)."""
    header = {"about": about, "model": model, "package": f"models/{model}",
              "tolerance": {"features_f32": 1e-4, "output": 1e-4},
              "numpy": np.__version__}
    if extra:
        header.update(extra)
    import onnxruntime

    header["onnxruntime"] = onnxruntime.__version__
    lines = ["{"]
    for k, v in header.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append('  "cases": [')
    lines.append(",\n".join("    " + json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases))
    lines.append("  ]")
    lines.append("}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n")


def parity_case(name: str, signals: Dict[str, Tuple[np.ndarray, float]], names: List[str],
                norm, sess, output: str, source: Optional[dict] = None) -> dict:
    """One raw window → features (features.py, f64 and the f32 the model gets) → normalised
    input → model output (onnxruntime)."""
    v64, v32 = extract_f32(names, signals)
    x = normalize_f32(v32, *norm) if norm is not None else v32
    y = ort_run(sess, x, output)[0]
    c = {
        "name": name,
        "signals": [{"name": s, "sample_rate_hz": float(fs), "samples": [float(t) for t in np.asarray(w)]}
                    for s, (w, fs) in signals.items()],
        "features": list(names),
        "values": [float(t) for t in v64],
        "values_f32": [f32(t) for t in v32],
        "normalized": [f32(t) for t in x],
        "output": [f32(t) for t in np.ravel(y)],
    }
    if source:
        c["source"] = source
    return c


def rounded(x: np.ndarray, digits: int) -> np.ndarray:
    """Round to `digits` significant digits through text, as a CSV or JSON writer would."""
    return np.array([float(f"{v:.{digits}g}") for v in np.asarray(x, float)], dtype=np.float64)


def git_describe_data(path: Path) -> dict:
    return {"file": str(path), "sha256": sha256_file(path)}
