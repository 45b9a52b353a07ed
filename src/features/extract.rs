//! [`FeatureExtractor`]: a [`FeatureSet`] bound to window shapes. Built once per model (every
//! band resolved to FFT bins, every analyzer and buffer made, bad bands refused then), it turns
//! one window per signal into the model's feature vector without allocating.

use super::spectrum::{BinRange, SpectrumAnalyzer};
use super::{Feature, FeatureError, FeatureSet, TimeStats};

/// The shape of one signal's windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalShape {
    /// Samples per window, N ≥ 1.
    pub len: usize,
    /// Sample rate fs in Hz (samples per second; for one sample per cycle, 1 gives per-cycle
    /// slopes and frequencies in cycles⁻¹).
    pub sample_rate_hz: f64,
}

/// An envelope spectrum of one signal, one per distinct demodulation band.
#[derive(Debug)]
struct Envelope {
    demod: Option<BinRange>,
    power: Vec<f64>,
}

/// Everything computed once per signal and window, and the buffers for it.
#[derive(Debug)]
struct SignalPlan {
    name: String,
    shape: SignalShape,
    analyzer: Option<SpectrumAnalyzer>,
    /// Power spectrum; empty when no feature needs it.
    power: Vec<f64>,
    envelopes: Vec<Envelope>,
    stats: TimeStats,
}

/// How one output value is read from its signal's plan.
#[derive(Debug, Clone, Copy)]
enum Step {
    Time(usize, Feature),
    Band(usize, BinRange),
    PeakFreq(usize),
    Centroid(usize),
    EnvBand(usize, usize, BinRange),
}

/// Computes a [`FeatureSet`]'s vector for windows of fixed shapes.
#[derive(Debug)]
pub struct FeatureExtractor {
    set: FeatureSet,
    signals: Vec<SignalPlan>,
    steps: Vec<Step>,
}

impl FeatureExtractor {
    /// An extractor for `set` with one shape per signal, in the order of [`FeatureSet::signals`].
    /// Refuses a zero length, a sample rate that is not finite and positive, and a band or
    /// demodulation band that holds no FFT bin at its signal's length and rate.
    pub fn new(set: FeatureSet, shapes: &[SignalShape]) -> Result<FeatureExtractor, FeatureError> {
        if shapes.len() != set.signals().len() {
            return Err(FeatureError::ShapeCount {
                expected: set.signals().len(),
                got: shapes.len(),
            });
        }
        let mut signals = Vec::with_capacity(shapes.len());
        for (name, &shape) in set.signals().iter().zip(shapes) {
            let bad = |reason: &str| FeatureError::BadShape {
                signal: name.clone(),
                reason: reason.to_string(),
            };
            if shape.len == 0 {
                return Err(bad("a window needs at least one sample"));
            }
            if !(shape.sample_rate_hz.is_finite() && shape.sample_rate_hz > 0.0) {
                return Err(bad("the sample rate must be finite and above 0 Hz"));
            }
            let spectral = set.names().iter().any(|n| {
                &n.signal == name
                    && (n.feature.needs_spectrum() || matches!(n.feature, Feature::EnvBand { .. }))
            });
            let analyzer = if spectral {
                Some(
                    SpectrumAnalyzer::new(shape.len, shape.sample_rate_hz)
                        .ok_or_else(|| bad("no spectrum for this shape"))?,
                )
            } else {
                None
            };
            let needs_power = set
                .names()
                .iter()
                .any(|n| &n.signal == name && n.feature.needs_spectrum());
            signals.push(SignalPlan {
                name: name.clone(),
                shape,
                power: match &analyzer {
                    Some(a) if needs_power => vec![0.0; a.bins()],
                    _ => Vec::new(),
                },
                analyzer,
                envelopes: Vec::new(),
                stats: TimeStats::default(),
            });
        }

        let mut steps = Vec::with_capacity(set.len());
        for n in set.names() {
            let s = set
                .signals()
                .iter()
                .position(|sig| sig == &n.signal)
                .ok_or_else(|| FeatureError::BadShape {
                    signal: n.signal.clone(),
                    reason: "signal missing from the set".to_string(),
                })?;
            let plan = &mut signals[s];
            let resolve = |a: &SpectrumAnalyzer, band: super::Band| {
                let r = a.bin_range(band);
                if r.is_empty() {
                    Err(FeatureError::EmptyBand {
                        feature: n.to_string(),
                        lo_hz: band.lo_hz,
                        hi_hz: band.hi_hz,
                        bin_hz: a.bin_hz(1),
                        len: a.len(),
                        sample_rate_hz: a.sample_rate_hz(),
                    })
                } else {
                    Ok(r)
                }
            };
            let step = match (n.feature, plan.analyzer.as_ref()) {
                (Feature::BandEnergy(band), Some(a)) => Step::Band(s, resolve(a, band)?),
                (Feature::PeakFreq, Some(_)) => Step::PeakFreq(s),
                (Feature::SpectralCentroid, Some(_)) => Step::Centroid(s),
                (Feature::EnvBand { band, demod }, Some(a)) => {
                    let range = resolve(a, band)?;
                    let demod = demod.map(|d| resolve(a, d)).transpose()?;
                    let e = match plan.envelopes.iter().position(|e| e.demod == demod) {
                        Some(e) => e,
                        None => {
                            plan.envelopes.push(Envelope {
                                demod,
                                power: vec![0.0; a.bins()],
                            });
                            plan.envelopes.len() - 1
                        }
                    };
                    Step::EnvBand(s, e, range)
                }
                (f, _) => Step::Time(s, f),
            };
            steps.push(step);
        }
        Ok(FeatureExtractor {
            set,
            signals,
            steps,
        })
    }

    /// The feature set, in output order.
    pub fn feature_set(&self) -> &FeatureSet {
        &self.set
    }

    /// Number of features: the length `out` must have.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the set has no feature.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Computes the features of one window per signal (in the order of
    /// [`FeatureSet::signals`]) into `out`, one `f32` per feature in set order. On any error
    /// `out` is left as it was; no allocation happens unless an error is returned.
    pub fn extract(&mut self, windows: &[&[f64]], out: &mut [f32]) -> Result<(), FeatureError> {
        self.check_output(out.len())?;
        self.prepare(windows)?;
        for (o, step) in out.iter_mut().zip(&self.steps) {
            *o = value(&self.signals, *step) as f32;
        }
        Ok(())
    }

    /// As [`Self::extract`], keeping full `f64` precision (feature monitoring, parity tests).
    pub fn extract_f64(&mut self, windows: &[&[f64]], out: &mut [f64]) -> Result<(), FeatureError> {
        self.check_output(out.len())?;
        self.prepare(windows)?;
        for (o, step) in out.iter_mut().zip(&self.steps) {
            *o = value(&self.signals, *step);
        }
        Ok(())
    }

    fn check_output(&self, got: usize) -> Result<(), FeatureError> {
        if got == self.steps.len() {
            Ok(())
        } else {
            Err(FeatureError::OutputLength {
                expected: self.steps.len(),
                got,
            })
        }
    }

    /// Checks every window, then computes per signal what the steps read.
    fn prepare(&mut self, windows: &[&[f64]]) -> Result<(), FeatureError> {
        if windows.len() != self.signals.len() {
            return Err(FeatureError::WindowCount {
                expected: self.signals.len(),
                got: windows.len(),
            });
        }
        for (plan, w) in self.signals.iter().zip(windows) {
            if w.len() != plan.shape.len {
                return Err(FeatureError::WindowLength {
                    signal: plan.name.clone(),
                    expected: plan.shape.len,
                    got: w.len(),
                });
            }
        }
        for (plan, w) in self.signals.iter_mut().zip(windows) {
            plan.stats = TimeStats::compute(w, plan.shape.sample_rate_hz).map_err(|count| {
                FeatureError::NonFinite {
                    signal: plan.name.clone(),
                    count,
                }
            })?;
        }
        // Every window is finite and of the right length: the spectra cannot fail now.
        for (plan, w) in self.signals.iter_mut().zip(windows) {
            let Some(analyzer) = plan.analyzer.as_mut() else {
                continue;
            };
            if plan.stats.std == 0.0 {
                // The zero-variance rule: a constant window has no spectrum.
                plan.power.fill(0.0);
                for e in &mut plan.envelopes {
                    e.power.fill(0.0);
                }
                continue;
            }
            if !plan.power.is_empty() {
                analyzer.power_spectrum(w, &mut plan.power);
            }
            for e in &mut plan.envelopes {
                analyzer.envelope_spectrum(w, e.demod, &mut e.power);
            }
        }
        Ok(())
    }
}

fn value(signals: &[SignalPlan], step: Step) -> f64 {
    match step {
        Step::Time(s, f) => {
            let t = &signals[s].stats;
            match f {
                Feature::Mean => t.mean,
                Feature::Std => t.std,
                Feature::Min => t.min,
                Feature::Max => t.max,
                Feature::Rms => t.rms,
                Feature::PeakToPeak => t.peak_to_peak,
                Feature::CrestFactor => t.crest_factor,
                Feature::Skewness => t.skewness,
                Feature::Kurtosis => t.kurtosis,
                Feature::Slope => t.slope,
                // Resolved to their own steps in `new`.
                Feature::PeakFreq
                | Feature::SpectralCentroid
                | Feature::BandEnergy(_)
                | Feature::EnvBand { .. } => f64::NAN,
            }
        }
        Step::Band(s, r) => r.energy(&signals[s].power),
        Step::PeakFreq(s) => signals[s]
            .analyzer
            .as_ref()
            .map_or(0.0, |a| a.peak_freq(&signals[s].power)),
        Step::Centroid(s) => signals[s]
            .analyzer
            .as_ref()
            .map_or(0.0, |a| a.spectral_centroid(&signals[s].power)),
        Step::EnvBand(s, e, r) => signals[s]
            .envelopes
            .get(e)
            .map_or(f64::NAN, |e| r.energy(&e.power)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn extractor(names: &[&str], shapes: &[SignalShape]) -> FeatureExtractor {
        FeatureExtractor::new(FeatureSet::parse(names).unwrap(), shapes).unwrap()
    }

    const VIB: SignalShape = SignalShape {
        len: 1024,
        sample_rate_hz: 12_000.0,
    };
    const TEMP: SignalShape = SignalShape {
        len: 4,
        sample_rate_hz: 1.0,
    };

    #[test]
    fn features_come_out_in_set_order_across_signals() {
        let mut ex = extractor(
            &[
                "temp.mean",
                "vib.rms",
                "vib.peak_freq",
                "temp.slope",
                "vib.band_energy[0,6001]",
                "vib.env_band[0,100]",
            ],
            &[TEMP, VIB],
        );
        assert_eq!(ex.feature_set().signals(), ["temp", "vib"]);
        let hz = 37.0 * 12_000.0 / 1024.0;
        let vib: Vec<f64> = (0..1024)
            .map(|i| 2.0 * (2.0 * PI * hz * i as f64 / 12_000.0).sin())
            .collect();
        let temp = [40.0, 41.0, 42.0, 43.0];
        let mut out = [0f32; 6];
        ex.extract(&[&temp, &vib], &mut out).unwrap();
        assert_eq!(out[0], 41.5);
        assert!((out[1] - 2f32.sqrt()).abs() < 1e-6, "{}", out[1]);
        assert_eq!(out[2], hz as f32);
        assert!((out[3] - 1.0).abs() < 1e-6);
        assert!((out[4] - 2.0).abs() < 1e-6, "{}", out[4]);
        assert!(out[5].abs() < 1e-6);
    }

    #[test]
    fn envelope_features_sharing_a_demodulation_band_share_one_envelope() {
        let ex = extractor(
            &[
                "vib.env_band[100,115]",
                "vib.env_band[150,175]",
                "vib.env_band[150,175,2000,5000]",
                "vib.env_band[100,115,2000,5000.0]",
            ],
            &[VIB],
        );
        assert_eq!(ex.signals[0].envelopes.len(), 2);
        assert!(ex.signals[0].power.is_empty());
    }

    #[test]
    fn bad_windows_are_refused_and_leave_the_output_alone() {
        let mut ex = extractor(&["temp.mean", "vib.rms"], &[TEMP, VIB]);
        let vib = vec![0.5; 1024];
        let mut out = [9f32; 2];
        let err = |ex: &mut FeatureExtractor, w: &[&[f64]], out: &mut [f32]| {
            ex.extract(w, out).unwrap_err()
        };
        assert_eq!(
            err(&mut ex, &[&[1.0, f64::NAN, 2.0, f64::NAN], &vib], &mut out),
            FeatureError::NonFinite {
                signal: "temp".to_string(),
                count: 2
            }
        );
        assert!(matches!(
            err(&mut ex, &[&[1.0; 3], &vib], &mut out),
            FeatureError::WindowLength {
                expected: 4,
                got: 3,
                ..
            }
        ));
        assert!(matches!(
            err(&mut ex, &[&[1.0; 4]], &mut out),
            FeatureError::WindowCount {
                expected: 2,
                got: 1
            }
        ));
        assert!(matches!(
            err(&mut ex, &[&[1.0; 4], &vib], &mut out[..1]),
            FeatureError::OutputLength {
                expected: 2,
                got: 1
            }
        ));
        assert_eq!(out, [9.0, 9.0]);
        ex.extract(&[&[1.0; 4], &vib], &mut out).unwrap();
        assert_eq!(out, [1.0, 0.5]);
    }

    #[test]
    fn bands_without_a_bin_and_bad_shapes_are_refused_at_build() {
        let set = |names: &[&str]| FeatureSet::parse(names).unwrap();
        // 12 kHz / 256 = 46.875 Hz between bins: nothing in [100, 105).
        let short = SignalShape {
            len: 256,
            sample_rate_hz: 12_000.0,
        };
        let e = FeatureExtractor::new(set(&["vib.band_energy[100,105]"]), &[short]).unwrap_err();
        assert!(matches!(e, FeatureError::EmptyBand { .. }), "{e:?}");
        assert!(e.to_string().contains("46.875"), "{e}");
        // Above Nyquist.
        assert!(
            FeatureExtractor::new(set(&["vib.env_band[100,200,7000,8000]"]), &[short]).is_err()
        );
        for shape in [
            SignalShape {
                len: 0,
                sample_rate_hz: 1.0,
            },
            SignalShape {
                len: 8,
                sample_rate_hz: 0.0,
            },
            SignalShape {
                len: 8,
                sample_rate_hz: f64::INFINITY,
            },
        ] {
            assert!(matches!(
                FeatureExtractor::new(set(&["vib.rms"]), &[shape]),
                Err(FeatureError::BadShape { .. })
            ));
        }
        assert!(matches!(
            FeatureExtractor::new(set(&["vib.rms", "temp.max"]), &[short]),
            Err(FeatureError::ShapeCount {
                expected: 2,
                got: 1
            })
        ));
    }

    #[test]
    fn a_one_sample_window_gives_every_feature_a_defined_value() {
        let names = [
            "x.mean",
            "x.std",
            "x.min",
            "x.max",
            "x.rms",
            "x.peak_to_peak",
            "x.crest_factor",
            "x.skewness",
            "x.kurtosis",
            "x.slope",
            "x.peak_freq",
            "x.spectral_centroid",
            "x.band_energy[0,1]",
            "x.env_band[0,1]",
        ];
        let shape = SignalShape {
            len: 1,
            sample_rate_hz: 10.0,
        };
        let mut ex = extractor(&names, &[shape]);
        let mut out = [f32::NAN; 14];
        ex.extract(&[&[-3.0]], &mut out).unwrap();
        assert_eq!(
            out,
            [-3.0, 0.0, -3.0, -3.0, 3.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }
}
