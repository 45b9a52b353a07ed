"""Write golden/features.json: raw windows and the features features.py computes for them.

The Rust test src/features/golden.rs replays every window through the agent's feature code and
requires the same values (1e-9 in f64, 1e-4 in the f32 a model gets). Regenerate after changing a
definition on both sides:

    python models/train/make_feature_golden.py --datasets ../shared/datasets

--datasets is the folder holding cwru_bearing/ (CWRU drive-end .mat files) and cmapss/
(train_FD001.txt). Synthetic windows use a fixed seed; real excerpts are rounded to 6
significant digits to keep the file small (the features are computed on the rounded values).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import features  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "golden" / "features.json"
DEFAULT_DATASETS = HERE.parents[2] / "shared" / "datasets"

TIME = ["mean", "std", "min", "max", "rms", "peak_to_peak", "crest_factor", "skewness",
        "kurtosis", "slope"]
SPECTRAL = ["peak_freq", "spectral_centroid"]

# CWRU drive-end bearing (SKF 6205) at ~1797 rpm (29.95 Hz): BPFI 5.4152x = 162.2 Hz,
# BPFO 3.5848x = 107.3 Hz, rolling element 4.7135x = 141.2 Hz.
VIB_FEATURES = (
    [f"vib.{k}" for k in TIME + SPECTRAL]
    + [f"vib.band_energy[{lo},{hi}]" for lo, hi in
       [(0, 500), (500, 1500), (1500, 3000), (3000, 6001)]]
    + [f"vib.env_band[{lo},{hi}]" for lo, hi in [(100, 115), (135, 150), (150, 175), (315, 335)]]
    + [f"vib.env_band[{lo},{hi},2000,5000]" for lo, hi in [(100, 115), (135, 150), (150, 175)]]
)

CMAPSS_SENSORS = {  # 0-based column of train_FDxxx.txt (sensor k is column 4 + k) → signal name
    6: "T24", 7: "T30", 8: "T50", 11: "P30", 13: "Nc", 15: "Ps30", 16: "phi", 19: "BPR", 24: "W31",
}


def rounded(x: np.ndarray, digits: int) -> np.ndarray:
    return np.array([float(f"{v:.{digits}g}") for v in x], dtype=np.float64)


def case(name, signals, names, source=None):
    """signals: {name: (samples, fs)}; features computed by the reference."""
    values = features.extract(names, signals)
    for fn in map(features.parse_name, names):
        if fn.kind == "peak_freq":  # a near-tie could flip between FFT libraries
            top = np.sort(features.power_spectrum(signals[fn.signal][0])[1:])[-2:]
            assert top.size < 2 or top[1] == 0 or top[1] - top[0] > 1e-6 * top[1], (name, fn)
    c = {
        "name": name,
        "signals": [
            {"name": s, "sample_rate_hz": float(fs), "samples": [float(v) for v in x]}
            for s, (x, fs) in signals.items()
        ],
        "features": list(names),
        "values": [float(v) for v in values],
    }
    if source:
        c["source"] = source
    return c


def synthetic_cases():
    rng = np.random.default_rng(20260105)
    cases = []

    n, fs = 1024, 12_000.0
    i = np.arange(n)
    x = rounded(0.5 + 2.0 * np.sin(2 * np.pi * 37 * i / n), 9)
    cases.append(case("sine_at_bin_37_plus_offset", {"vib": (x, fs)},
                      VIB_FEATURES[:16] + ["vib.env_band[0,100]"]))

    # Bearing-like: a 3 kHz resonance struck at 162 Hz, a 30 Hz shaft tone, noise.
    n = 2048
    t = np.arange(n) / fs
    x = 0.3 * np.sin(2 * np.pi * 29.95 * t) + 0.05 * rng.standard_normal(n)
    for t0 in np.arange(0.002, t[-1], 1 / 162.2):
        dt = t - t0
        x += np.where(dt >= 0, np.exp(-np.clip(dt, 0, None) * 900) * np.sin(2 * np.pi * 3000 * dt), 0)
    cases.append(case("impacts_162hz_on_3khz_resonance", {"vib": (rounded(x, 7), fs)}, VIB_FEATURES))

    # Odd length, slow rate, trend.
    n, fs = 1001, 1000.0
    t = np.arange(n) / fs
    x = 20.0 + 3.0 * t + np.sin(2 * np.pi * 50 * t) + 0.2 * rng.standard_normal(n) ** 3
    names = [f"temp.{k}" for k in TIME + SPECTRAL] + [
        "temp.band_energy[45,55]", "temp.band_energy[0,500.5]", "temp.env_band[0,20]",
        "temp.env_band[0,20,30,70]"]
    cases.append(case("odd_length_ramp_tone_heavy_tails", {"temp": (rounded(x, 7), fs)}, names))

    all_kinds = [f"x.{k}" for k in TIME + SPECTRAL] + ["x.band_energy[0,1]", "x.env_band[0,1]"]
    cases.append(case("constant_window", {"x": (np.full(64, 0.1), 100.0)}, all_kinds))
    cases.append(case("all_zero_window", {"x": (np.zeros(16), 100.0)}, all_kinds))
    cases.append(case("one_sample", {"x": (np.array([-2.5]), 10.0)}, all_kinds))
    return cases


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cwru_cases(root: Path):
    from scipy.io import loadmat

    cases = []
    for file, label in [("IR007_0.mat", "inner_race"), ("B007_0.mat", "ball"),
                        ("OR007@6_0.mat", "outer_race")]:
        path = root / "cwru_bearing" / file
        mat = loadmat(path)
        var = next(k for k in mat if k.endswith("_DE_time"))
        start = 20_000
        x = rounded(mat[var][start:start + 2048, 0], 6)
        cases.append(case(f"cwru_{label}_de_2048", {"vib": (x, 12_000.0)}, VIB_FEATURES, {
            "file": f"cwru_bearing/{file}", "sha256": sha256(path), "variable": var,
            "first_sample": start, "rounded_to_significant_digits": 6}))
    return cases


def cmapss_case(root: Path):
    path = root / "cmapss" / "train_FD001.txt"
    rows = np.loadtxt(path)
    unit = rows[rows[:, 0] == 1]
    window = unit[-30:]  # the last 30 cycles before failure
    signals = {name: (window[:, col], 1.0) for col, name in CMAPSS_SENSORS.items()}
    names = []
    for s in signals:
        names += [f"{s}.{k}" for k in ["mean", "std", "min", "max", "slope", "skewness", "kurtosis"]]
    names += ["T50.peak_freq", "T50.spectral_centroid", "T50.band_energy[0,0.1]",
              "T50.band_energy[0.1,0.51]", "T50.rms", "T50.crest_factor", "T50.peak_to_peak"]
    return case("cmapss_fd001_unit1_last30", signals, names, {
        "file": "cmapss/train_FD001.txt", "sha256": sha256(path), "unit": 1,
        "cycles": [int(window[0, 1]), int(window[-1, 1])], "sample_rate_hz": "1 per cycle"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS,
                    help="folder with cwru_bearing/ and cmapss/ (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    args = ap.parse_args()

    cases = synthetic_cases() + cwru_cases(args.datasets) + [cmapss_case(args.datasets)]
    header = {
        "about": "Raw windows and their features per models/train/features.py; replayed by "
                 "src/features/golden.rs. Made by models/train/make_feature_golden.py.",
        "numpy": np.__version__,
    }
    # One case per line: small diffs when a definition changes.
    lines = ["{"]
    for k, v in header.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append('  "cases": [')
    body = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
    lines.append(",\n".join("    " + b for b in body))
    lines.append("  ]")
    lines.append("}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    total = sum(len(c["values"]) for c in cases)
    print(f"wrote {args.out}: {len(cases)} cases, {total} features, "
          f"{args.out.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
