//! Time-domain statistics of one window: two passes over the samples, no allocation. Formulas
//! and the zero-variance rule: the module header of [`crate::features`].

/// σ at or below this fraction of `max |x|` counts as zero variance: the rounding error of the
/// mean of a constant window leaves σ near 1e-17 · |x|, which must not turn into a skewness.
const ZERO_VARIANCE_REL: f64 = 1e-12;

/// The time-domain features of one window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeStats {
    /// `Σ x / N`.
    pub mean: f64,
    /// Population standard deviation `sqrt(Σ (x − μ)² / N)`; 0 under the zero-variance rule.
    pub std: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// `sqrt(Σ x² / N)`.
    pub rms: f64,
    /// `max − min`.
    pub peak_to_peak: f64,
    /// `max |x| / rms`; 0 when rms is 0.
    pub crest_factor: f64,
    /// Population skewness `m3 / m2^1.5`; 0 under the zero-variance rule.
    pub skewness: f64,
    /// Excess population kurtosis `m4 / m2² − 3`; 0 under the zero-variance rule.
    pub kurtosis: f64,
    /// Least-squares slope against `t[i] = i / fs`, units per second; 0 for N < 2 and under the
    /// zero-variance rule.
    pub slope: f64,
}

impl TimeStats {
    /// Statistics of `x` sampled at `sample_rate_hz`. `Err(n)` when `n > 0` samples are NaN or
    /// ±inf (nothing is computed then). An empty window gives all zeros.
    pub fn compute(x: &[f64], sample_rate_hz: f64) -> Result<TimeStats, usize> {
        let Some(&first) = x.first() else {
            return Ok(TimeStats::default());
        };
        let n = x.len() as f64;
        let (mut sum, mut sum_sq, mut min, mut max) = (0.0, 0.0, first, first);
        for &v in x {
            sum += v;
            sum_sq += v * v;
            min = v.min(min);
            max = v.max(max);
        }
        // Any NaN or inf makes the sum NaN or inf, so finite windows pay for no extra check.
        if !sum.is_finite() {
            let bad = x.iter().filter(|v| !v.is_finite()).count();
            if bad > 0 {
                return Err(bad);
            }
        }
        let mean = sum / n;
        let rms = (sum_sq / n).sqrt();
        let peak = max.abs().max(min.abs());

        let centre = (n - 1.0) / 2.0;
        let (mut m2, mut m3, mut m4, mut sxy) = (0.0, 0.0, 0.0, 0.0);
        for (i, &v) in x.iter().enumerate() {
            let d = v - mean;
            let d2 = d * d;
            m2 += d2;
            m3 += d2 * d;
            m4 += d2 * d2;
            sxy += (i as f64 - centre) * d;
        }
        m2 /= n;
        m3 /= n;
        m4 /= n;
        let std = m2.sqrt();

        let (std, skewness, kurtosis, slope) = if std <= ZERO_VARIANCE_REL * peak {
            (0.0, 0.0, 0.0, 0.0)
        } else {
            let sxx = n * (n * n - 1.0) / 12.0;
            let slope = if sxx > 0.0 {
                sample_rate_hz * sxy / sxx
            } else {
                0.0
            };
            (std, m3 / (m2 * std), m4 / (m2 * m2) - 3.0, slope)
        };
        Ok(TimeStats {
            mean,
            std,
            min,
            max,
            rms,
            peak_to_peak: max - min,
            crest_factor: if rms > 0.0 { peak / rms } else { 0.0 },
            skewness,
            kurtosis,
            slope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::{PI, SQRT_2};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    fn stats(x: &[f64], fs: f64) -> TimeStats {
        TimeStats::compute(x, fs).unwrap()
    }

    #[test]
    fn mean_population_std_and_range_of_a_small_set() {
        // The textbook set whose population std is exactly 2 (the sample std would be 2.138).
        let s = stats(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], 1.0);
        assert_eq!(s.mean, 5.0);
        assert_eq!(s.std, 2.0);
        assert_eq!((s.min, s.max, s.peak_to_peak), (2.0, 9.0, 7.0));
        assert!(close(s.rms, (232.0f64 / 8.0).sqrt(), 1e-15));
        assert!(close(s.crest_factor, 9.0 / s.rms, 1e-15));
    }

    #[test]
    fn a_sine_has_rms_amplitude_over_root_two_and_crest_root_two() {
        // 16 samples per period, 8 periods: samples land on the peaks.
        let a = 3.0;
        let x: Vec<f64> = (0..128)
            .map(|i| a * (2.0 * PI * i as f64 / 16.0).sin())
            .collect();
        let s = stats(&x, 1600.0);
        assert!(close(s.rms, a / SQRT_2, 1e-14), "{}", s.rms);
        assert!(close(s.crest_factor, SQRT_2, 1e-14), "{}", s.crest_factor);
        assert!(s.mean.abs() < 1e-14);
        assert!(close(s.std, a / SQRT_2, 1e-14));
        assert!(close(s.peak_to_peak, 2.0 * a, 1e-14));
        // Symmetric, and the excess kurtosis of a sine is −1.5.
        assert!(s.skewness.abs() < 1e-12);
        assert!(close(s.kurtosis, -1.5, 1e-12), "{}", s.kurtosis);
    }

    #[test]
    fn skewness_and_excess_kurtosis_of_known_sets() {
        // 1..5: symmetric; m2 = 2, m4 = 6.8, excess kurtosis 6.8/4 − 3 = −1.3.
        let s = stats(&[1.0, 2.0, 3.0, 4.0, 5.0], 1.0);
        assert_eq!(s.skewness, 0.0);
        assert!(close(s.kurtosis, -1.3, 1e-14), "{}", s.kurtosis);
        // Bernoulli(1/4): skewness (1 − 2p)/sqrt(p(1 − p)) = 2/√3,
        // excess kurtosis (1 − 6p(1 − p))/(p(1 − p)) = −2/3.
        let s = stats(&[0.0, 0.0, 0.0, 1.0], 1.0);
        assert!(
            close(s.skewness, 2.0 / 3f64.sqrt(), 1e-14),
            "{}",
            s.skewness
        );
        assert!(close(s.kurtosis, -2.0 / 3.0, 1e-14), "{}", s.kurtosis);
        // Mirrored, the skewness changes sign and the kurtosis stays.
        let m = stats(&[0.0, 1.0, 1.0, 1.0], 1.0);
        assert!(close(m.skewness, -2.0 / 3f64.sqrt(), 1e-14));
        assert!(close(m.kurtosis, -2.0 / 3.0, 1e-14));
    }

    #[test]
    fn the_slope_of_a_ramp_is_its_rate_per_second() {
        // x = 1400 + 0.25 t, sampled at 50 Hz for 2 s: the offset must not disturb the slope.
        let x: Vec<f64> = (0..100)
            .map(|i| 1400.0 + 0.25 * (i as f64 / 50.0))
            .collect();
        let s = stats(&x, 50.0);
        assert!(close(s.slope, 0.25, 1e-10), "{}", s.slope);
        // Per sample at 1 Hz (one C-MAPSS cycle per sample), falling.
        let y: Vec<f64> = (0..30).map(|i| 5.0 - 2.0 * i as f64).collect();
        assert!(close(stats(&y, 1.0).slope, -2.0, 1e-12));
        // A symmetric bump has no trend.
        assert!(stats(&[0.0, 1.0, 2.0, 1.0, 0.0], 10.0).slope.abs() < 1e-15);
    }

    #[test]
    fn a_constant_window_has_zero_spread_shape_and_trend() {
        // 0.1 is not exact in binary: the computed mean is off by a rounding error.
        let s = stats(&[0.1; 7], 100.0);
        assert!(close(s.mean, 0.1, 1e-15));
        assert_eq!(
            (s.std, s.skewness, s.kurtosis, s.slope),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert_eq!(s.peak_to_peak, 0.0);
        assert!(close(s.crest_factor, 1.0, 1e-15));
        let s = stats(&[1400.6; 4096], 1.0);
        assert_eq!(
            (s.std, s.skewness, s.kurtosis, s.slope),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn an_all_zero_window_has_crest_factor_zero() {
        let s = stats(&[0.0; 16], 12_000.0);
        assert_eq!(s, TimeStats::default());
    }

    #[test]
    fn a_single_sample_and_an_empty_window_give_defined_values() {
        let s = stats(&[-2.5], 12_000.0);
        assert_eq!((s.mean, s.min, s.max, s.rms), (-2.5, -2.5, -2.5, 2.5));
        assert_eq!(
            (s.std, s.skewness, s.kurtosis, s.slope),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert_eq!((s.peak_to_peak, s.crest_factor), (0.0, 1.0));
        assert_eq!(stats(&[], 1.0), TimeStats::default());
    }

    #[test]
    fn non_finite_samples_are_counted_and_nothing_is_computed() {
        assert_eq!(
            TimeStats::compute(&[1.0, f64::NAN, 2.0, f64::INFINITY], 1.0),
            Err(2)
        );
        assert_eq!(TimeStats::compute(&[f64::NEG_INFINITY], 1.0), Err(1));
        // inf − inf inside the sum must still be found.
        assert_eq!(
            TimeStats::compute(&[f64::INFINITY, f64::NEG_INFINITY], 1.0),
            Err(2)
        );
    }
}
