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
