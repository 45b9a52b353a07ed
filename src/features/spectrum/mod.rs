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
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    fn tone(n: usize, fs: f64, hz: f64, amp: f64) -> impl Iterator<Item = f64> {
        (0..n).map(move |i| amp * (2.0 * PI * hz * i as f64 / fs).cos())
    }

    fn power(n: usize, fs: f64, x: &[f64]) -> (SpectrumAnalyzer, Vec<f64>) {
        let mut a = SpectrumAnalyzer::new(n, fs).unwrap();
        let mut p = vec![0.0; a.bins()];
        assert!(a.power_spectrum(x, &mut p));
        (a, p)
    }

    /// A deterministic pseudo-random signal (xorshift), so tests need no extra crate.
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    #[test]
    fn a_sine_at_a_bin_centre_peaks_exactly_at_its_frequency() {
        let (n, fs, k0, a) = (1024, 12_000.0, 37, 2.0);
        let hz = k0 as f64 * fs / n as f64; // 433.59375 Hz
        let x: Vec<f64> = tone(n, fs, hz, a).map(|v| v + 0.5).collect();
        let (an, p) = power(n, fs, &x);
        assert_eq!(an.peak_freq(&p), hz);
        // Hann: a²/3 in the bin, a²/12 in each neighbour, a²/2 together.
        assert!(close(p[k0], a * a / 3.0, 1e-12), "{}", p[k0]);
        assert!(close(p[k0 - 1], a * a / 12.0, 1e-12));
        assert!(close(p[k0 + 1], a * a / 12.0, 1e-12));
        let band = an.bin_range(Band {
            lo_hz: hz - 2.5 * fs / n as f64,
            hi_hz: hz + 2.5 * fs / n as f64,
        });
        assert_eq!(band.end - band.start, 5);
        assert!(close(band.energy(&p), a * a / 2.0, 1e-12));
        // Symmetric leakage: the centroid of a lone tone is the tone.
        assert!(close(an.spectral_centroid(&p), hz, 1e-10));
    }

    #[test]
    fn band_energies_over_all_bins_equal_the_window_weighted_mean_square() {
        for (n, fs) in [(1024, 12_000.0), (1001, 1000.0), (2, 1.0), (3, 10.0)] {
            let x: Vec<f64> = noise(n, 7).iter().map(|v| 3.0 + v).collect();
            let (an, p) = power(n, fs, &x);
            let mean = x.iter().sum::<f64>() / n as f64;
            let w2: f64 = an.window.iter().map(|w| w * w).sum();
            let expected: f64 = x
                .iter()
                .zip(&an.window)
                .map(|(v, w)| (w * (v - mean)).powi(2))
                .sum::<f64>()
                / w2;
            let all = an.bin_range(Band {
                lo_hz: 0.0,
                hi_hz: fs,
            });
            assert_eq!(
                all,
                BinRange {
                    start: 0,
                    end: n / 2 + 1
                }
            );
            assert!(close(all.energy(&p), expected, 1e-12), "n={n}");
            // Splitting a band in two splits its energy.
            let mid = fs / 4.0;
            let lo = an.bin_range(Band {
                lo_hz: 0.0,
                hi_hz: mid,
            });
            let hi = an.bin_range(Band {
                lo_hz: mid,
                hi_hz: fs,
            });
            assert_eq!(lo.end, hi.start);
            assert!(close(lo.energy(&p) + hi.energy(&p), expected, 1e-12));
        }
    }

    #[test]
    fn a_tone_off_any_bin_keeps_its_mean_square_and_its_nearest_bin() {
        // Hann keeps a²/2 for a tone anywhere well inside the band, to a fraction of a percent.
        let (n, fs, a) = (2048, 12_000.0, 1.5);
        let hz = 1234.5;
        let x: Vec<f64> = tone(n, fs, hz, a).collect();
        let (an, p) = power(n, fs, &x);
        let total: f64 = p.iter().sum();
        assert!(close(total, a * a / 2.0, 2e-3), "{total}");
        assert!((an.peak_freq(&p) - hz).abs() <= fs / n as f64 / 2.0);
    }

    #[test]
    fn the_centroid_of_two_tones_is_their_power_weighted_mean() {
        let (n, fs) = (512, 1000.0);
        let (f1, f2) = (40.0 * fs / n as f64, 100.0 * fs / n as f64);
        let x: Vec<f64> = tone(n, fs, f1, 1.0)
            .zip(tone(n, fs, f2, 2.0))
            .map(|(a, b)| a + b)
            .collect();
        let (an, p) = power(n, fs, &x);
        let expected = (f1 * 1.0 + f2 * 4.0) / 5.0;
        assert!(close(an.spectral_centroid(&p), expected, 1e-10));
        assert_eq!(an.peak_freq(&p), f2);
    }

    #[test]
    fn an_offset_leaves_the_spectrum_alone() {
        let x = noise(256, 3);
        let y: Vec<f64> = x.iter().map(|v| v + 1400.0).collect();
        let (_, px) = power(256, 1.0, &x);
        let (_, py) = power(256, 1.0, &y);
        for (a, b) in px.iter().zip(&py) {
            assert!((a - b).abs() < 1e-9, "{a} {b}");
        }
    }

    #[test]
    fn a_constant_window_has_an_empty_spectrum_and_zero_peak_and_centroid() {
        for n in [1, 2, 64] {
            let x = vec![0.1; n];
            let (an, p) = power(n, 100.0, &x);
            assert!(p.iter().all(|&v| v < 1e-30), "{p:?}");
            let mut e = vec![1.0; an.bins()];
            let mut an = an;
            assert!(an.envelope_spectrum(&x, None, &mut e));
            assert!(e.iter().all(|&v| v < 1e-30), "{e:?}");
        }
        let (an, p) = power(64, 100.0, &[0.0; 64]);
        assert_eq!(an.peak_freq(&p), 0.0);
        assert_eq!(an.spectral_centroid(&p), 0.0);
    }

    #[test]
    fn wrong_lengths_are_refused_without_writing() {
        let mut an = SpectrumAnalyzer::new(8, 1.0).unwrap();
        let mut out = vec![7.0; an.bins()];
        assert!(!an.power_spectrum(&[0.0; 7], &mut out));
        assert!(!an.envelope_spectrum(&[0.0; 8], None, &mut out[..4]));
        assert!(out.iter().all(|&v| v == 7.0));
        assert!(SpectrumAnalyzer::new(0, 1.0).is_none());
        assert!(SpectrumAnalyzer::new(8, 0.0).is_none());
        assert!(SpectrumAnalyzer::new(8, f64::NAN).is_none());
    }

    /// `(1 + m cos 2π fm t) cos 2π fc t` with both on bin centres: the envelope is exactly
    /// `1 + m cos 2π fm t`, so the envelope spectrum holds `m²/2` around `fm`.
    fn am(n: usize, fs: f64, fc: f64, fm: f64, m: f64) -> Vec<f64> {
        tone(n, fs, fm, m)
            .zip(tone(n, fs, fc, 1.0))
            .map(|(e, c)| (1.0 + e) * c)
            .collect()
    }

    #[test]
    fn the_envelope_spectrum_shows_the_modulation_frequency() {
        let (n, fs) = (2048, 12_000.0);
        let df = fs / n as f64;
        let (fc, fm, m) = (512.0 * df, 27.0 * df, 0.4); // 3 kHz carrier, ~158 Hz like a BPFI
        let x = am(n, fs, fc, fm, m);
        let mut an = SpectrumAnalyzer::new(n, fs).unwrap();
        let mut e = vec![0.0; an.bins()];
        assert!(an.envelope_spectrum(&x, None, &mut e));
        assert!(close(e[27], m * m / 3.0, 1e-9), "{}", e[27]);
        let around = an.bin_range(Band {
            lo_hz: fm - 2.5 * df,
            hi_hz: fm + 2.5 * df,
        });
        assert!(close(around.energy(&e), m * m / 2.0, 1e-9));
        assert!(close(e.iter().sum(), m * m / 2.0, 1e-9));
        assert_eq!(an.peak_freq(&e), fm);
    }

    #[test]
    fn a_demodulation_band_keeps_a_strong_low_tone_out_of_the_envelope() {
        let (n, fs) = (2048, 12_000.0);
        let df = fs / n as f64;
        let (fc, fm, m) = (512.0 * df, 27.0 * df, 0.4);
        // A 5× stronger shaft-like tone near 30 Hz swamps the plain envelope.
        let x: Vec<f64> = am(n, fs, fc, fm, m)
            .iter()
            .zip(tone(n, fs, 5.0 * df, 5.0))
            .map(|(a, b)| a + b)
            .collect();
        let mut an = SpectrumAnalyzer::new(n, fs).unwrap();
        let around = an.bin_range(Band {
            lo_hz: fm - 2.5 * df,
            hi_hz: fm + 2.5 * df,
        });
        let demod = an.bin_range(Band {
            lo_hz: 2000.0,
            hi_hz: 4000.0,
        });
        let mut e = vec![0.0; an.bins()];
        assert!(an.envelope_spectrum(&x, Some(demod), &mut e));
        assert!(
            close(around.energy(&e), m * m / 2.0, 1e-9),
            "{}",
            around.energy(&e)
        );
        assert!(an.envelope_spectrum(&x, None, &mut e));
        assert!(!close(around.energy(&e), m * m / 2.0, 1e-2));
    }

    #[test]
    fn the_envelope_of_a_pure_tone_is_flat_for_odd_and_even_lengths() {
        for n in [1000, 1001] {
            let fs = n as f64;
            let x: Vec<f64> = tone(n, fs, 100.0, 3.0).collect();
            let mut an = SpectrumAnalyzer::new(n, fs).unwrap();
            let mut e = vec![1.0; an.bins()];
            assert!(an.envelope_spectrum(&x, None, &mut e));
            assert!(e.iter().sum::<f64>() < 1e-20, "n={n}");
            assert!(an.envelope.iter().all(|&v| close(v, 3.0, 1e-12)), "n={n}");
        }
    }
}
