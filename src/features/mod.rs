//! Feature extraction: a window of samples per signal → an ordered vector of `f32` features, the
//! input of a model.
//!
//! Place in the flow: a window stage assembles, per asset and model, one slice of samples per
//! signal; a [`FeatureExtractor`] built once for that model's [`FeatureSet`] and window shapes
//! turns them into the feature vector the model runs on. Everything here is pure computation:
//! no I/O, no logging, and no allocation after construction (window functions, FFT plans and
//! scratch buffers are made once in [`FeatureExtractor::new`] / [`SpectrumAnalyzer::new`]).
//!
//! # Names
//!
//! A model manifest lists its features as strings, parsed by [`FeatureName`]'s `FromStr`:
//!
//! ```text
//! feature-name = signal "." kind [ "[" number "," number [ "," number "," number ] "]" ]
//! signal       = letters, digits, "_", "-", "." (the last "." before any "[" ends the signal)
//! kind         = mean | std | min | max | rms | peak_to_peak | crest_factor | skewness
//!              | kurtosis | slope | peak_freq | spectral_centroid          (no arguments)
//!              | band_energy "[" lo "," hi "]"
//!              | env_band "[" lo "," hi [ "," demod_lo "," demod_hi ] "]"
//! number       = a finite decimal ≥ 0 in Hz, spaces around it allowed; lo < hi
//! ```
//!
//! e.g. `vib.rms`, `vib.band_energy[100,500]`, `vib.env_band[150,170]`,
//! `de.vib.env_band[100,115,2000,5000]`. [`FeatureName`]'s `Display` gives the canonical form.
//!
//! # Definitions
//!
//! The Python reference `models/train/features.py` implements exactly these; the golden file
//! `models/train/golden/features.json` (made by `models/train/make_feature_golden.py`) is
//! replayed here in a test. For a window `x[0..N)` sampled at `fs` Hz, with `Σ` over all `i`:
//!
//! | feature | formula |
//! |---|---|
//! | `mean` | `μ = Σ x[i] / N` |
//! | `std` | population standard deviation `σ = sqrt(m2)`, `mk = Σ (x[i] − μ)^k / N` (divisor N, not N − 1) |
//! | `min`, `max` | smallest, largest sample |
//! | `rms` | `sqrt(Σ x[i]² / N)` (about zero, not about the mean) |
//! | `peak_to_peak` | `max − min` |
//! | `crest_factor` | `max_i abs(x[i]) / rms`; 0 when rms is 0 |
//! | `skewness` | population (biased) `m3 / m2^1.5` (scipy `skew(bias=True)`) |
//! | `kurtosis` | **excess**, population: `m4 / m2² − 3` (scipy `kurtosis(fisher=True, bias=True)`; a normal distribution gives 0) |
//! | `slope` | least-squares slope against the sample times `t[i] = i / fs`, per second: `fs · Σ (i − c)(x[i] − μ) / Σ (i − c)²`, `c = (N − 1)/2`, `Σ (i − c)² = N(N² − 1)/12` |
//! | `band_energy[lo,hi]` | `Σ P[k]` over the bins with `lo ≤ f[k] < hi` of the power spectrum below |
//! | `peak_freq` | `f[k*]`, `k* = argmax P[k]` over `k ≥ 1` (first on ties); resolution `fs/N`, no interpolation |
//! | `spectral_centroid` | `Σ f[k] P[k] / Σ P[k]` over `k ≥ 1` |
//! | `env_band[lo,hi(,dlo,dhi)]` | `Σ E[k]` over the bins with `lo ≤ f[k] < hi` of the envelope spectrum below |
//!
//! **Zero variance.** When `σ ≤ 1e-12 · max |x[i]|` (every constant window, whose computed mean
//! may be off by a rounding error, and the all-zero window) the window counts as constant: `std`,
//! `skewness`, `kurtosis` and `slope` are 0, and so are both spectra, hence every spectral
//! feature (left to the FFT, the rounding residue of `x − μ` would pick a random peak). The rule
//! is applied by [`FeatureExtractor`]; a [`SpectrumAnalyzer`] on its own transforms what it gets.
//!
//! **Power spectrum `P`.** Mean removed, periodic Hann window `w[i] = 0.5 − 0.5 cos(2πi/N)`,
//! one-sided: `X[k] = Σ w[i](x[i] − μ) e^{−2πjik/N}` for `k = 0..=⌊N/2⌋`, `f[k] = k · fs / N`
//! (computed in that order: `(k · fs) / N`), and
//! `P[k] = c[k] |X[k]|² / (N · Σ w[i]²)` with `c[k] = 1` for `k = 0` and for `k = N/2` (even N),
//! else 2. Then `Σ_k P[k] = Σ (w[i](x[i] − μ))² / Σ w[i]²` exactly (Parseval): a band's energy is
//! its share of the window-weighted mean square, in signal units². A sine of amplitude `a` gives
//! `Σ P = a²/2`, at a bin centre `a²/3` in its bin and `a²/12` in each neighbour. The DC bin holds
//! only `Σ w[i](x[i] − μ)`, what the window makes of the removed mean; `peak_freq` and
//! `spectral_centroid` skip it, a band from 0 Hz includes it. A band (or demodulation band) that
//! holds no bin at its signal's window length and rate is refused when the extractor is built
//! ([`FeatureError::EmptyBand`]): with 256 samples at 12 kHz, bins are 46.875 Hz apart. When `Σ P[k≥1] = 0` (constant window, N = 1), `peak_freq` and
//! `spectral_centroid` are 0. N = 1 has `Σ w² = 0`: its spectrum is all 0.
//!
//! **Envelope spectrum `E`** (bearing defects: energy at the ball-pass frequencies). `Y = rfft(x −
//! μ)` (no window). Without a demodulation band every bin is kept; with `[dlo,dhi)` only bins with
//! `dlo ≤ f[k] < dhi` (mask `m`). The analytic signal is `z = re + j·im` with `re = x − μ`
//! without a band, `re = irfft(Y·m)` with one, and `im = irfft(−j·Y·m·g)`, `g[k] = 0` for `k = 0`
//! and `k = N/2` (even N), else 1 (`irfft` includes the 1/N); without a band this is
//! `scipy.signal.hilbert`. The envelope is `e[i] = sqrt(re[i]² + im[i]²)`, and `E` is the power
//! spectrum `P` above of `e` (its mean removed, Hann, same scaling).
//!
//! **Bad input.** A window holding NaN or ±inf is refused: [`FeatureExtractor::extract`] returns
//! [`FeatureError::NonFinite`] with the count and leaves the output untouched (ingest already
//! rejects non-finite values, so this is a second line). Wrong window or output lengths are
//! refused the same way. Nothing here panics on any input, and `extract` allocates only to
//! build an error.
//!
//! **Precision.** Windows are `f64` (what [`crate::record::Sample`] carries) and all arithmetic is
//! `f64`: sums of fourth powers over thousands of samples of a signal offset like a turbine
//! temperature (1400 °R) lose the kurtosis in `f32`. Only the finished features are rounded to
//! `f32`, the type models take ([`FeatureExtractor::extract_f64`] skips that rounding).

mod extract;
mod name;
mod spectrum;
mod time;

#[cfg(test)]
mod golden;

pub use extract::{FeatureExtractor, SignalShape};
pub use name::{Band, Feature, FeatureName, FeatureSet};
pub use spectrum::{BinRange, SpectrumAnalyzer};
pub use time::TimeStats;

/// Why a feature list, a window shape or a window was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    /// The part after the signal is not a known feature kind.
    #[error(
        "unknown feature `{name}`: expected SIGNAL.KIND with KIND one of mean, std, min, max, \
         rms, peak_to_peak, crest_factor, skewness, kurtosis, slope, peak_freq, \
         spectral_centroid, band_energy[LO,HI], env_band[LO,HI] or env_band[LO,HI,DEMOD_LO,DEMOD_HI] (Hz)"
    )]
    UnknownFeature {
        /// The name as given.
        name: String,
    },
    /// A known kind with a malformed name or arguments.
    #[error("bad feature name `{name}`: {reason}")]
    BadFeatureName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The same feature twice in one set.
    #[error("feature `{name}` is listed twice")]
    DuplicateFeature {
        /// The canonical name.
        name: String,
    },
    /// The number of window shapes differs from the number of signals in the set.
    #[error("{got} window shapes given for {expected} signals")]
    ShapeCount {
        /// Signals in the feature set.
        expected: usize,
        /// Shapes given.
        got: usize,
    },
    /// A window shape that no feature can be computed on.
    #[error("signal `{signal}`: {reason}")]
    BadShape {
        /// The signal.
        signal: String,
        /// What is wrong with its shape.
        reason: String,
    },
    /// A band (or demodulation band) that holds no FFT bin at this window length and rate.
    #[error("feature `{feature}`: no FFT bin lies in [{lo_hz}, {hi_hz}) Hz at bin spacing {bin_hz} Hz (window {len} samples at {sample_rate_hz} Hz)")]
    EmptyBand {
        /// The canonical feature name.
        feature: String,
        /// Lower edge, Hz.
        lo_hz: f64,
        /// Upper edge, Hz.
        hi_hz: f64,
        /// `fs / N`.
        bin_hz: f64,
        /// Window length N.
        len: usize,
        /// Sample rate fs.
        sample_rate_hz: f64,
    },
    /// The number of windows differs from the number of signals.
    #[error("{got} windows given for {expected} signals")]
    WindowCount {
        /// Signals in the feature set.
        expected: usize,
        /// Windows given.
        got: usize,
    },
    /// A window of another length than the extractor was built for.
    #[error("signal `{signal}`: window of {got} samples, expected {expected}")]
    WindowLength {
        /// The signal.
        signal: String,
        /// Length the extractor was built for.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// The output slice does not hold exactly one value per feature.
    #[error("output of {got} values for {expected} features")]
    OutputLength {
        /// Features in the set.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// The window holds NaN or infinite samples; no feature was computed.
    #[error("signal `{signal}`: {count} non-finite samples in the window")]
    NonFinite {
        /// The signal.
        signal: String,
        /// How many samples are NaN or ±inf.
        count: usize,
    },
}
