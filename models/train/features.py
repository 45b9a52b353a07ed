"""Reference implementation of forewarn's window features, for training.

The agent computes these in Rust (src/features/); a model trained on features from this file sees
the same numbers in service. The formulas are documented in the header of src/features/mod.rs and
repeated on each function here. The golden file golden/features.json, made by
make_feature_golden.py from this module, is replayed by a Rust test that requires agreement to
1e-9 (f64) and 1e-4 (the f32 the model gets).

Feature names: ``SIGNAL.KIND`` or ``SIGNAL.KIND[ARGS]``, e.g. ``vib.rms``,
``vib.band_energy[100,500]``, ``vib.env_band[150,170]``, ``vib.env_band[100,115,2000,5000]``.

Only numpy is needed. All arithmetic is float64; cast the result to float32 for the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

PLAIN_KINDS = (
    "mean",
    "std",
    "min",
    "max",
    "rms",
    "peak_to_peak",
    "crest_factor",
    "skewness",
    "kurtosis",
    "slope",
    "peak_freq",
    "spectral_centroid",
)
BAND_KINDS = ("band_energy", "env_band")

# sigma <= this * max|x| counts as zero variance (a constant window's mean is off by rounding).
ZERO_VARIANCE_REL = 1e-12

Band = Tuple[float, float]


class FeatureNameError(ValueError):
    """A feature name that is not SIGNAL.KIND[ARGS] with a known KIND and valid arguments."""


@dataclass(frozen=True)
class FeatureName:
    """One parsed feature name."""

    signal: str
    kind: str
    band: Optional[Band] = None
    demod: Optional[Band] = None

    def __str__(self) -> str:
        def num(v: float) -> str:
            # Rust's f64 Display: integral values without ".0".
            return str(int(v)) if v == int(v) and abs(v) < 1e16 else repr(v)

        if self.band is None:
            return f"{self.signal}.{self.kind}"
        args = [self.band[0], self.band[1]]
        if self.demod is not None:
            args += [self.demod[0], self.demod[1]]
        return f"{self.signal}.{self.kind}[{','.join(num(a) for a in args)}]"


def parse_name(name: str) -> FeatureName:
    """Parse ``SIGNAL.KIND[ARGS]`` exactly as the Rust side does (same errors, same grammar)."""
    if "[" in name:
        open_ = name.index("[")
        if not name.endswith("]"):
            raise FeatureNameError(f"bad feature name `{name}`: arguments must end with `]`")
        head, args = name[:open_], name[open_ + 1 : -1]
    else:
        head, args = name, None
    if "." not in head:
        raise FeatureNameError(f"bad feature name `{name}`: expected SIGNAL.KIND")
    signal, kind = head.rsplit(".", 1)
    if not signal or not all(c.isascii() and (c.isalnum() or c in "_-.") for c in signal):
        raise FeatureNameError(f"bad feature name `{name}`: bad signal `{signal}`")
    if kind in BAND_KINDS:
        if args is None:
            raise FeatureNameError(f"bad feature name `{name}`: {kind} needs [LO,HI] in Hz")
        nums = []
        for a in args.split(","):
            try:
                v = float(a.strip())
            except ValueError:
                raise FeatureNameError(f"bad feature name `{name}`: `{a}` is not a number") from None
            if not (math.isfinite(v) and v >= 0.0):
                raise FeatureNameError(f"bad feature name `{name}`: `{a}` is not a finite frequency >= 0")
            nums.append(v)
        if len(nums) not in ((2,) if kind == "band_energy" else (2, 4)):
            raise FeatureNameError(f"bad feature name `{name}`: wrong number of arguments")
        for lo, hi in zip(nums[::2], nums[1::2]):
            if not lo < hi:
                raise FeatureNameError(f"bad feature name `{name}`: LO must be below HI")
        band = (nums[0], nums[1])
        demod = (nums[2], nums[3]) if len(nums) == 4 else None
        return FeatureName(signal, kind, band, demod)
    if kind in PLAIN_KINDS:
        if args is not None:
            raise FeatureNameError(f"bad feature name `{name}`: {kind} takes no arguments")
        return FeatureName(signal, kind)
    raise FeatureNameError(
        f"unknown feature `{name}`: KIND must be one of {', '.join(PLAIN_KINDS)}, "
        "band_energy[LO,HI], env_band[LO,HI] or env_band[LO,HI,DEMOD_LO,DEMOD_HI]"
    )


def time_stats(x: np.ndarray, fs: float) -> dict:
    """Time-domain features of one window.

    mean = sum(x)/N; std = sqrt(m2) with mk = sum((x-mean)**k)/N (population, divisor N);
    min, max; rms = sqrt(sum(x**2)/N); peak_to_peak = max-min;
    crest_factor = max|x|/rms (0 when rms is 0); skewness = m3/m2**1.5 (population);
    kurtosis = m4/m2**2 - 3 (excess, population);
    slope = fs * sum((i-c)*(x-mean)) / (N*(N**2-1)/12), c=(N-1)/2: least squares against i/fs.
    Zero variance (std <= 1e-12*max|x|): std, skewness, kurtosis and slope are 0 (and extract()
    gives every spectral feature of such a window 0).
    An empty window gives all zeros; a non-finite sample raises ValueError.
    """
    x = np.asarray(x, dtype=np.float64)
    keys = ("mean", "std", "min", "max", "rms", "peak_to_peak", "crest_factor",
            "skewness", "kurtosis", "slope")
    if x.size == 0:
        return dict.fromkeys(keys, 0.0)
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise ValueError(f"{bad} non-finite samples in the window")
    n = float(x.size)
    mean = float(np.sum(x)) / n
    rms = math.sqrt(float(np.sum(x * x)) / n)
    mn, mx = float(np.min(x)), float(np.max(x))
    peak = max(abs(mn), abs(mx))
    d = x - mean
    d2 = d * d
    m2 = float(np.sum(d2)) / n
    m3 = float(np.sum(d2 * d)) / n
    m4 = float(np.sum(d2 * d2)) / n
    std = math.sqrt(m2)
    if std <= ZERO_VARIANCE_REL * peak:
        std = skew = kurt = slope = 0.0
    else:
        skew = m3 / (m2 * std)
        kurt = m4 / (m2 * m2) - 3.0
        sxx = n * (n * n - 1.0) / 12.0
        centre = (n - 1.0) / 2.0
        sxy = float(np.sum((np.arange(x.size, dtype=np.float64) - centre) * d))
        slope = fs * sxy / sxx if sxx > 0.0 else 0.0
    return {
        "mean": mean,
        "std": std,
        "min": mn,
        "max": mx,
        "rms": rms,
        "peak_to_peak": mx - mn,
        "crest_factor": peak / rms if rms > 0.0 else 0.0,
        "skewness": skew,
        "kurtosis": kurt,
        "slope": slope,
    }


def hann(n: int) -> np.ndarray:
    """Periodic Hann window w[i] = 0.5 - 0.5*cos(2*pi*i/N) (scipy get_window('hann', N))."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n, dtype=np.float64) / n)


def bin_freqs(n: int, fs: float) -> np.ndarray:
    """f[k] = (k*fs)/N for the one-sided bins k = 0..N//2."""
    return np.arange(n // 2 + 1, dtype=np.float64) * fs / n


def _power_of(y: np.ndarray) -> np.ndarray:
    """c[k]*|rfft(w*y)[k]|**2 / (N*sum(w**2)), c = 1 at DC and (even N) Nyquist, else 2."""
    n = y.size
    w = hann(n)
    w2 = float(np.sum(w * w))
    if w2 <= 0.0:
        return np.zeros(n // 2 + 1)
    p = np.abs(np.fft.rfft(w * y)) ** 2 / (n * w2)
    c = np.full(p.size, 2.0)
    c[0] = 1.0
    if n % 2 == 0:
        c[-1] = 1.0
    return c * p


def power_spectrum(x: np.ndarray) -> np.ndarray:
    """One-sided power spectrum P of the mean-removed, Hann-windowed window.

    sum(P) == sum((w*(x-mean))**2)/sum(w**2): a sine of amplitude a gives a**2/2.
    """
    x = np.asarray(x, dtype=np.float64)
    return _power_of(x - np.sum(x) / x.size)


def bin_range(n: int, fs: float, band: Band) -> Tuple[int, int]:
    """Bins k with lo <= f[k] < hi, as (start, end); ValueError when empty."""
    f = bin_freqs(n, fs)
    ks = np.nonzero((f >= band[0]) & (f < band[1]))[0]
    if ks.size == 0:
        raise ValueError(
            f"no FFT bin lies in [{band[0]}, {band[1]}) Hz at bin spacing {fs / n} Hz "
            f"(window {n} samples at {fs} Hz)"
        )
    return int(ks[0]), int(ks[-1]) + 1


def envelope(x: np.ndarray, fs: float, demod: Optional[Band] = None) -> np.ndarray:
    """|analytic signal| of x - mean, restricted to the bins in demod when given.

    re = x - mean (no band) or irfft(Y*m); im = irfft(-1j*Y*m*g), Y = rfft(x - mean),
    m the band mask, g = 0 at DC and (even N) Nyquist, else 1. Without a band this equals
    numpy.abs(scipy.signal.hilbert(x - mean)).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    y = x - np.sum(x) / n
    Y = np.fft.rfft(y)
    m = np.ones(Y.size)
    if demod is not None:
        s, e = bin_range(n, fs, demod)
        m[:] = 0.0
        m[s:e] = 1.0
    g = np.ones(Y.size)
    g[0] = 0.0
    if n % 2 == 0:
        g[-1] = 0.0
    im = np.fft.irfft(-1j * Y * m * g, n)
    re = y if demod is None else np.fft.irfft(Y * m, n)
    return np.sqrt(re * re + im * im)


def envelope_spectrum(x: np.ndarray, fs: float, demod: Optional[Band] = None) -> np.ndarray:
    """Power spectrum P (as power_spectrum) of the envelope."""
    e = envelope(x, fs, demod)
    return _power_of(e - np.sum(e) / e.size)


def peak_freq(p: np.ndarray, n: int, fs: float) -> float:
    """f[argmax P[k>=1]] (first on ties); 0 when every bin above DC is 0."""
    if p.size < 2 or not np.any(p[1:] > 0.0):
        return 0.0
    k = 1 + int(np.argmax(p[1:]))
    return float(k * fs / n)


def spectral_centroid(p: np.ndarray, n: int, fs: float) -> float:
    """sum(f[k]*P[k]) / sum(P[k]) over k >= 1; 0 when the denominator is 0."""
    f = bin_freqs(n, fs)[1:]
    den = float(np.sum(p[1:]))
    return float(np.sum(f * p[1:])) / den if den > 0.0 else 0.0


def extract(names: Sequence[str], windows: Mapping[str, Tuple[np.ndarray, float]]) -> np.ndarray:
    """The feature vector (float64, in `names` order) of one window per signal.

    `windows` maps a signal name to (samples, sample_rate_hz). Raises FeatureNameError for a bad
    name, ValueError for a duplicate name, a band without bins, or a non-finite sample.
    """
    parsed = [parse_name(s) for s in names]
    canon = [str(p) for p in parsed]
    if len(set(canon)) != len(canon):
        raise ValueError("a feature is listed twice")
    cache: dict = {}
    out = np.empty(len(parsed), dtype=np.float64)
    for i, fn in enumerate(parsed):
        x, fs = windows[fn.signal]
        x = np.asarray(x, dtype=np.float64)
        n = x.size
        if n == 0 or not (math.isfinite(fs) and fs > 0.0):
            raise ValueError(f"signal `{fn.signal}`: bad window shape")
        key = (fn.signal, "time")
        if key not in cache:
            cache[key] = time_stats(x, fs)
        stats = cache[key]
        # Zero-variance rule: a constant window has all-zero spectra.
        constant = stats["std"] == 0.0
        if fn.kind in ("peak_freq", "spectral_centroid", "band_energy"):
            key = (fn.signal, "power")
            if key not in cache:
                cache[key] = np.zeros(n // 2 + 1) if constant else power_spectrum(x)
            p = cache[key]
            if fn.kind == "peak_freq":
                out[i] = peak_freq(p, n, fs)
            elif fn.kind == "spectral_centroid":
                out[i] = spectral_centroid(p, n, fs)
            else:
                s, e = bin_range(n, fs, fn.band)
                out[i] = float(np.sum(p[s:e]))
        elif fn.kind == "env_band":
            s, e = bin_range(n, fs, fn.band)
            if fn.demod is not None:
                bin_range(n, fs, fn.demod)
            key = (fn.signal, "env", fn.demod)
            if key not in cache:
                cache[key] = (np.zeros(n // 2 + 1) if constant
                              else envelope_spectrum(x, fs, fn.demod))
            out[i] = float(np.sum(cache[key][s:e]))
        else:
            out[i] = stats[fn.kind]
    return out
