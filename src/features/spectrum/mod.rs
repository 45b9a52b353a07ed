//! One-sided power spectra and envelope spectra of fixed-length windows. A [`SpectrumAnalyzer`]
//! is built once per (window length, sample rate): the real-FFT plans (realfft over rustfft),
//! the Hann window and every scratch buffer are made there, so analysing a window allocates
//! nothing. Definitions (windowing, scaling, DC, the analytic signal): the module header of
//! [`crate::features`].

use std::f64::consts::PI;
use std::fmt;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::Band;

/// The bins `start..end` of a one-sided spectrum, the ones with `lo ≤ f[k] < hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinRange {
    /// First bin in the band.
    pub start: usize,
    /// One past the last bin in the band.
    pub end: usize,
}

impl BinRange {
    /// Whether no bin lies in the band.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Sum of `spectrum` over the range (0 where it runs past the spectrum's end).
    pub fn energy(&self, spectrum: &[f64]) -> f64 {
        spectrum
            .get(self.start..self.end.min(spectrum.len()))
            .map_or(0.0, |s| s.iter().sum())
    }
}

/// Power and envelope spectra of windows of one length and sample rate.
pub struct SpectrumAnalyzer {
    len: usize,
    sample_rate_hz: f64,
    forward: Arc<dyn RealToComplex<f64>>,
    inverse: Arc<dyn ComplexToReal<f64>>,
    /// Periodic Hann window.
    window: Vec<f64>,
    /// `1 / (N · Σ w²)`, 0 when `Σ w² = 0` (N = 1).
    scale: f64,
    real: Vec<f64>,
    real2: Vec<f64>,
    envelope: Vec<f64>,
    bins: Vec<Complex<f64>>,
    bins2: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl fmt::Debug for SpectrumAnalyzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpectrumAnalyzer")
            .field("len", &self.len)
            .field("sample_rate_hz", &self.sample_rate_hz)
            .finish_non_exhaustive()
    }
}

impl SpectrumAnalyzer {
    /// An analyzer for windows of `len ≥ 1` samples at `sample_rate_hz > 0`; `None` otherwise.
    pub fn new(len: usize, sample_rate_hz: f64) -> Option<SpectrumAnalyzer> {
        if len == 0 || !(sample_rate_hz.is_finite() && sample_rate_hz > 0.0) {
            return None;
        }
        let mut planner = RealFftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(len);
        let inverse = planner.plan_fft_inverse(len);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        let window: Vec<f64> = (0..len)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / len as f64).cos())
            .collect();
        let power: f64 = window.iter().map(|w| w * w).sum();
        let scale = if power > 0.0 {
            1.0 / (len as f64 * power)
        } else {
            0.0
        };
        Some(SpectrumAnalyzer {
            len,
            sample_rate_hz,
            forward,
            inverse,
            window,
            scale,
            real: vec![0.0; len],
            real2: vec![0.0; len],
            envelope: vec![0.0; len],
            bins: vec![Complex::default(); len / 2 + 1],
            bins2: vec![Complex::default(); len / 2 + 1],
            scratch: vec![Complex::default(); scratch_len],
        })
    }

    /// Window length N.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: an analyzer has N ≥ 1.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Sample rate fs, Hz.
    pub fn sample_rate_hz(&self) -> f64 {
        self.sample_rate_hz
    }

    /// Number of one-sided bins, `⌊N/2⌋ + 1`: the length of the spectra written.
    pub fn bins(&self) -> usize {
        self.len / 2 + 1
    }

    /// Frequency of bin `k`, `(k · fs) / N` Hz.
    pub fn bin_hz(&self, k: usize) -> f64 {
        k as f64 * self.sample_rate_hz / self.len as f64
    }

    /// The bins with `lo ≤ f[k] < hi` (possibly empty).
    pub fn bin_range(&self, band: Band) -> BinRange {
        let first_at_or_above = |hz: f64| {
            (0..self.bins())
                .find(|&k| self.bin_hz(k) >= hz)
                .unwrap_or(self.bins())
        };
        BinRange {
            start: first_at_or_above(band.lo_hz),
            end: first_at_or_above(band.hi_hz),
        }
    }

    /// The one-sided power spectrum `P` of `x` (mean removed, periodic Hann) into `out`, which
    /// must hold [`Self::bins`] values; `x` must hold N. Returns false, writing nothing, when a
    /// length is wrong. Non-finite input gives non-finite output.
    pub fn power_spectrum(&mut self, x: &[f64], out: &mut [f64]) -> bool {
        if x.len() != self.len || out.len() != self.bins() {
            return false;
        }
        let mean = x.iter().sum::<f64>() / self.len as f64;
        for ((r, &v), &w) in self.real.iter_mut().zip(x).zip(&self.window) {
            *r = w * (v - mean);
        }
        self.power_of_real(out);
        true
    }

    /// The envelope spectrum `E` of `x` into `out` ([`Self::bins`] values), the envelope taken
    /// of the bins in `demod` only when given. Returns false, writing nothing, when a length is
    /// wrong. Non-finite input gives non-finite output.
    pub fn envelope_spectrum(
        &mut self,
        x: &[f64],
        demod: Option<BinRange>,
        out: &mut [f64],
    ) -> bool {
        if x.len() != self.len || out.len() != self.bins() {
            return false;
        }
        let n = self.len;
        let mean = x.iter().sum::<f64>() / n as f64;
        for (r, &v) in self.real.iter_mut().zip(x) {
            *r = v - mean;
        }
        // The forward transform overwrites its input and `real` must keep x − μ for the
        // in-phase part: transform a copy. (Every buffer length is fixed in `new`, so the
        // transforms cannot fail; were one to, NaN features would show it, not a panic.)
        self.real2.copy_from_slice(&self.real);
        if self
            .forward
            .process_with_scratch(&mut self.real2, &mut self.bins, &mut self.scratch)
            .is_err()
        {
            out.fill(f64::NAN);
            return true;
        }
        let (start, end) = match demod {
            Some(r) => (r.start, r.end.min(self.bins())),
            None => (0, self.bins()),
        };
        let nyquist = n.is_multiple_of(2).then_some(n / 2);
        let inv_n = 1.0 / n as f64;
        // Quadrature part: −j·Y·m·g, scaled by 1/N so the inverse gives the Hilbert transform.
        for (k, h) in self.bins2.iter_mut().enumerate() {
            let y = self.bins[k];
            *h = if k == 0 || Some(k) == nyquist || k < start || k >= end {
                Complex::default()
            } else {
                Complex::new(y.im * inv_n, -y.re * inv_n)
            };
        }
        if self
            .inverse
            .process_with_scratch(&mut self.bins2, &mut self.envelope, &mut self.scratch)
            .is_err()
        {
            out.fill(f64::NAN);
            return true;
        }
        // In-phase part: x − μ itself, or its band when a demodulation band is given.
        if demod.is_some() {
            for (k, b) in self.bins.iter_mut().enumerate() {
                *b = if k < start || k >= end {
                    Complex::default()
                } else if k == 0 || Some(k) == nyquist {
                    // Real for a real signal; the rounding must not trip the inverse's check.
                    Complex::new(b.re * inv_n, 0.0)
                } else {
                    *b * inv_n
                };
            }
            if self
                .inverse
                .process_with_scratch(&mut self.bins, &mut self.real, &mut self.scratch)
                .is_err()
            {
                out.fill(f64::NAN);
                return true;
            }
        }
        let mut sum = 0.0;
        for (e, &re) in self.envelope.iter_mut().zip(&self.real) {
            *e = (re * re + *e * *e).sqrt();
            sum += *e;
        }
        let env_mean = sum / n as f64;
        for ((r, &e), &w) in self.real.iter_mut().zip(&self.envelope).zip(&self.window) {
            *r = w * (e - env_mean);
        }
        self.power_of_real(out);
        true
    }

    /// `peak_freq` of a spectrum from this analyzer: the frequency of its largest bin above DC
    /// (the first of equal ones), 0 when every bin above DC is 0 or there is none.
    pub fn peak_freq(&self, power: &[f64]) -> f64 {
        let mut best = (0, 0.0);
        for (k, &p) in power.iter().enumerate().skip(1) {
            if p > best.1 {
                best = (k, p);
            }
        }
        self.bin_hz(best.0)
    }

    /// `spectral_centroid` of a spectrum from this analyzer: `Σ f[k] P[k] / Σ P[k]` over
    /// `k ≥ 1`, 0 when the denominator is 0.
    pub fn spectral_centroid(&self, power: &[f64]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for (k, &p) in power.iter().enumerate().skip(1) {
            num += self.bin_hz(k) * p;
            den += p;
        }
        if den > 0.0 {
            num / den
        } else {
            0.0
        }
    }

    /// `out[k] = c[k] |rfft(real)[k]|² / (N Σ w²)`; `real` is consumed as scratch.
    fn power_of_real(&mut self, out: &mut [f64]) {
        if self
            .forward
            .process_with_scratch(&mut self.real, &mut self.bins, &mut self.scratch)
            .is_err()
        {
            out.fill(f64::NAN);
            return;
        }
        let n = self.len;
        for (k, (o, b)) in out.iter_mut().zip(&self.bins).enumerate() {
            let single = k == 0 || 2 * k == n;
            let c = if single { 1.0 } else { 2.0 };
            *o = c * b.norm_sqr() * self.scale;
        }
    }
}

#[cfg(test)]
mod tests;
