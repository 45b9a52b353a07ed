"""Checks of features.py against scipy and analytic values.

    python models/train/test_features.py        (or: python -m pytest models/train)

The Rust side checks the same definitions against golden/features.json; these tests pin the
reference itself to the textbook definitions its docstrings name.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.signal
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
import features  # noqa: E402

RNG = np.random.default_rng(7)


def close(a, b, tol=1e-12):
    return abs(a - b) <= tol * max(1.0, abs(b))


def test_moments_are_the_population_ones_scipy_names():
    x = RNG.standard_normal(999) ** 3 + 5.0
    s = features.time_stats(x, 1.0)
    assert close(s["std"], np.std(x, ddof=0))
    assert close(s["skewness"], scipy.stats.skew(x, bias=True))
    assert close(s["kurtosis"], scipy.stats.kurtosis(x, fisher=True, bias=True))
    assert close(s["rms"], np.sqrt(np.mean(x * x)))


def test_slope_is_the_least_squares_fit_per_second():
    fs = 50.0
    t = np.arange(200) / fs
    x = 1400.0 + 0.25 * t + 0.01 * RNG.standard_normal(t.size)
    assert close(features.time_stats(x, fs)["slope"], np.polyfit(t, x, 1)[0], 1e-9)


def test_window_is_scipys_periodic_hann():
    assert np.allclose(features.hann(64), scipy.signal.get_window("hann", 64), atol=1e-15)


def test_envelope_without_a_band_is_scipys_hilbert():
    for n in (1000, 1001):
        x = RNG.standard_normal(n)
        y = x - np.mean(x)
        assert np.allclose(features.envelope(x, 1000.0), np.abs(scipy.signal.hilbert(y)), atol=1e-12)


def test_power_spectrum_keeps_a_sines_mean_square():
    n, fs, a = 1024, 12_000.0, 2.0
    i = np.arange(n)
    p = features.power_spectrum(a * np.sin(2 * np.pi * 37 * i / n) + 0.5)
    assert close(p[37], a * a / 3) and close(p[36], a * a / 12) and close(np.sum(p), a * a / 2)
    assert features.peak_freq(p, n, fs) == 37 * fs / n


def test_names_parse_and_print_like_the_rust_side():
    for s in ["vib.rms", "vib.band_energy[100,500]", "de.vib.env_band[100.5,115,2000,5000]"]:
        assert str(features.parse_name(s)) == s
    for bad in ["vib.variance", "vib.band_energy[500,100]", "vib.rms[1,2]", "rms"]:
        try:
            features.parse_name(bad)
        except features.FeatureNameError:
            continue
        raise AssertionError(bad)


def test_constant_window_gives_zero_shape_and_spectrum():
    names = ["x.std", "x.skewness", "x.kurtosis", "x.slope", "x.peak_freq", "x.band_energy[0,50]"]
    v = features.extract(names, {"x": (np.full(64, 0.1), 100.0)})
    assert np.all(v == 0.0), v


if __name__ == "__main__":
    tests = [f for name, f in sorted(globals().items()) if name.startswith("test_")]
    for t in tests:
        t()
    print(f"{len(tests)} passed, 0 failed")
