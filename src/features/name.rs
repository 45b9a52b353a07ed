//! Feature names as model manifests list them (`vib.rms`, `vib.band_energy[100,500]`), parsed
//! into [`FeatureName`]s and ordered [`FeatureSet`]s. The grammar is in the module header of
//! [`crate::features`]; `Display` writes the canonical form, which parses back to the same value.

use std::fmt;
use std::str::FromStr;

use super::FeatureError;

/// A frequency band `[lo_hz, hi_hz)`, half-open so that adjacent bands share no bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Lower edge in Hz, included.
    pub lo_hz: f64,
    /// Upper edge in Hz, excluded.
    pub hi_hz: f64,
}

/// One feature of one signal's window. Formulas: the module header of [`crate::features`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Feature {
    /// `mean`: `Σ x / N`.
    Mean,
    /// `std`: population standard deviation (divisor N); 0 for a constant window.
    Std,
    /// `min`: smallest sample.
    Min,
    /// `max`: largest sample.
    Max,
    /// `rms`: `sqrt(Σ x² / N)`.
    Rms,
    /// `peak_to_peak`: `max − min`.
    PeakToPeak,
    /// `crest_factor`: `max |x| / rms`, 0 when rms is 0.
    CrestFactor,
    /// `skewness`: population `m3 / m2^1.5`; 0 for a constant window.
    Skewness,
    /// `kurtosis`: excess, population `m4 / m2² − 3`; 0 for a constant window.
    Kurtosis,
    /// `slope`: least-squares trend against `t = i / fs`, in signal units per second.
    Slope,
    /// `peak_freq`: frequency of the largest power-spectrum bin above DC, Hz.
    PeakFreq,
    /// `spectral_centroid`: power-weighted mean frequency above DC, Hz.
    SpectralCentroid,
    /// `band_energy[lo,hi]`: power-spectrum energy in `[lo, hi)` Hz.
    BandEnergy(Band),
    /// `env_band[lo,hi]` or `env_band[lo,hi,dlo,dhi]`: envelope-spectrum energy in `[lo, hi)` Hz,
    /// the envelope taken of the whole signal or of its `[dlo, dhi)` band only.
    EnvBand {
        /// Band of the envelope spectrum whose energy is the feature.
        band: Band,
        /// Band the signal is restricted to before the envelope is taken (demodulation band).
        demod: Option<Band>,
    },
}

/// The kinds without arguments, with their names.
const PLAIN: [(&str, Feature); 12] = [
    ("mean", Feature::Mean),
    ("std", Feature::Std),
    ("min", Feature::Min),
    ("max", Feature::Max),
    ("rms", Feature::Rms),
    ("peak_to_peak", Feature::PeakToPeak),
    ("crest_factor", Feature::CrestFactor),
    ("skewness", Feature::Skewness),
    ("kurtosis", Feature::Kurtosis),
    ("slope", Feature::Slope),
    ("peak_freq", Feature::PeakFreq),
    ("spectral_centroid", Feature::SpectralCentroid),
];

impl Feature {
    /// Whether the feature needs the power spectrum of its signal.
    pub fn needs_spectrum(&self) -> bool {
        matches!(
            self,
            Feature::PeakFreq | Feature::SpectralCentroid | Feature::BandEnergy(_)
        )
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feature::BandEnergy(b) => write!(f, "band_energy[{},{}]", b.lo_hz, b.hi_hz),
            Feature::EnvBand { band, demod: None } => {
                write!(f, "env_band[{},{}]", band.lo_hz, band.hi_hz)
            }
            Feature::EnvBand {
                band,
                demod: Some(d),
            } => write!(
                f,
                "env_band[{},{},{},{}]",
                band.lo_hz, band.hi_hz, d.lo_hz, d.hi_hz
            ),
            plain => {
                let name = PLAIN
                    .iter()
                    .find(|(_, k)| k == plain)
                    .map_or("?", |(n, _)| n);
                f.write_str(name)
            }
        }
    }
}

/// A feature of a named signal: `signal.kind[args]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureName {
    /// The signal, as named in the provisioning file and the model manifest.
    pub signal: String,
    /// What is computed on that signal's window.
    pub feature: Feature,
}

impl fmt::Display for FeatureName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.signal, self.feature)
    }
}

impl FromStr for FeatureName {
    type Err = FeatureError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| FeatureError::BadFeatureName {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let (head, args) = match name.find('[') {
            Some(open) => {
                let inner = name[open + 1..]
                    .strip_suffix(']')
                    .ok_or_else(|| bad("arguments must end with `]`"))?;
                (&name[..open], Some(inner))
            }
            None => (name, None),
        };
        let (signal, kind) = head
            .rsplit_once('.')
            .ok_or_else(|| bad("expected SIGNAL.KIND"))?;
        if signal.is_empty()
            || !signal
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(bad(
                "the signal must be letters, digits, `_`, `-` or `.`, not empty",
            ));
        }
        let feature = match (kind, args) {
            ("band_energy", Some(a)) => match parse_numbers(a).map_err(|r| bad(&r))?[..] {
                [lo, hi] => Feature::BandEnergy(band(lo, hi).map_err(|r| bad(&r))?),
                _ => return Err(bad("band_energy takes [LO,HI] in Hz")),
            },
            ("env_band", Some(a)) => match parse_numbers(a).map_err(|r| bad(&r))?[..] {
                [lo, hi] => Feature::EnvBand {
                    band: band(lo, hi).map_err(|r| bad(&r))?,
                    demod: None,
                },
                [lo, hi, dlo, dhi] => Feature::EnvBand {
                    band: band(lo, hi).map_err(|r| bad(&r))?,
                    demod: Some(band(dlo, dhi).map_err(|r| bad(&r))?),
                },
                _ => {
                    return Err(bad(
                        "env_band takes [LO,HI] or [LO,HI,DEMOD_LO,DEMOD_HI] in Hz",
                    ))
                }
            },
            ("band_energy", None) => return Err(bad("band_energy needs [LO,HI] in Hz")),
            ("env_band", None) => return Err(bad("env_band needs [LO,HI] in Hz")),
            (kind, args) => match PLAIN.iter().find(|(n, _)| *n == kind) {
                Some((_, f)) if args.is_none() => *f,
                Some(_) => return Err(bad(&format!("{kind} takes no arguments"))),
                None => {
                    return Err(FeatureError::UnknownFeature {
                        name: name.to_string(),
                    })
                }
            },
        };
        Ok(FeatureName {
            signal: signal.to_string(),
            feature,
        })
    }
}

/// Comma-separated finite non-negative numbers, spaces around each allowed; the caller checks
/// how many.
fn parse_numbers(args: &str) -> Result<Vec<f64>, String> {
    args.split(',')
        .map(|a| {
            let a = a.trim();
            match a.parse::<f64>() {
                // `+ 0.0` turns -0 into 0, so equal frequencies print alike (FeatureSet's keys).
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(v + 0.0),
                Ok(_) => Err(format!("`{a}` is not a finite frequency ≥ 0")),
                Err(_) => Err(format!("`{a}` is not a number")),
            }
        })
        .collect()
}

fn band(lo_hz: f64, hi_hz: f64) -> Result<Band, String> {
    if lo_hz < hi_hz {
        Ok(Band { lo_hz, hi_hz })
    } else {
        Err(format!(
            "band [{lo_hz}, {hi_hz}) is empty: LO must be below HI"
        ))
    }
}

/// An ordered list of distinct features, the input layout of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSet {
    names: Vec<FeatureName>,
    signals: Vec<String>,
}

impl FeatureSet {
    /// A set from names in model-input order; a feature listed twice is refused. Linear in
    /// the number of names (a manifest may list tens of thousands): names are compared by
    /// their text, which is exact for the frequencies in them (shortest round-trip form, -0
    /// read as 0).
    pub fn new(names: Vec<FeatureName>) -> Result<FeatureSet, FeatureError> {
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        let mut seen_signals = std::collections::HashSet::new();
        let mut signals: Vec<String> = Vec::new();
        for n in &names {
            let text = n.to_string();
            if !seen.insert(text.clone()) {
                return Err(FeatureError::DuplicateFeature { name: text });
            }
            if seen_signals.insert(n.signal.as_str()) {
                signals.push(n.signal.clone());
            }
        }
        Ok(FeatureSet { names, signals })
    }

    /// Parses each string with [`FeatureName`]'s `FromStr`; the first bad name is the error.
    pub fn parse<I, S>(names: I) -> Result<FeatureSet, FeatureError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names = names
            .into_iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<FeatureName>, _>>()?;
        FeatureSet::new(names)
    }

    /// The features, in model-input order.
    pub fn names(&self) -> &[FeatureName] {
        &self.names
    }

    /// The distinct signals, in order of first appearance: the order in which
    /// [`super::FeatureExtractor`] takes window shapes and windows.
    pub fn signals(&self) -> &[String] {
        &self.signals
    }

    /// Number of features, the length of the model input.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the set has no feature.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<FeatureName, FeatureError> {
        s.parse()
    }

    #[test]
    fn duplicates_are_found_by_value_in_linear_time() {
        // -0 and 0 are one frequency; 10 and 10.0 too.
        let e = FeatureSet::parse(["x.band_energy[0,10]", "x.band_energy[-0,10.0]"]).unwrap_err();
        assert!(matches!(e, FeatureError::DuplicateFeature { .. }), "{e}");
        assert!(FeatureSet::parse(["x.band_energy[0,10]", "x.band_energy[0,10.5]"]).is_ok());
        // 100k distinct names: a quadratic scan took minutes here, this takes well under 1 s.
        let names: Vec<String> = (0..100_000).map(|i| format!("s{i}.mean")).collect();
        let t = std::time::Instant::now();
        let set = FeatureSet::parse(&names).unwrap();
        assert_eq!(set.signals().len(), 100_000);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn every_kind_parses_and_displays_back_to_the_same_name() {
        for s in [
            "vib.mean",
            "vib.std",
            "vib.min",
            "vib.max",
            "vib.rms",
            "vib.peak_to_peak",
            "vib.crest_factor",
            "vib.skewness",
            "vib.kurtosis",
            "vib.slope",
            "vib.peak_freq",
            "vib.spectral_centroid",
            "vib.band_energy[100,500]",
            "vib.band_energy[0,0.5]",
            "vib.env_band[150,170]",
            "vib.env_band[100.5,115,2000,5000]",
        ] {
            let n = parse(s).unwrap();
            assert_eq!(n.signal, "vib");
            assert_eq!(n.to_string(), s);
            assert_eq!(parse(&n.to_string()).unwrap(), n);
        }
    }

    #[test]
    fn arguments_become_bands_in_hz() {
        assert_eq!(
            parse("vib.env_band[ 150 , 170.5,2e3,5000]")
                .unwrap()
                .feature,
            Feature::EnvBand {
                band: Band {
                    lo_hz: 150.0,
                    hi_hz: 170.5
                },
                demod: Some(Band {
                    lo_hz: 2000.0,
                    hi_hz: 5000.0
                }),
            }
        );
        assert_eq!(
            parse("T50.band_energy[0,0.25]").unwrap().feature,
            Feature::BandEnergy(Band {
                lo_hz: 0.0,
                hi_hz: 0.25
            })
        );
    }

    #[test]
    fn the_last_dot_before_the_arguments_ends_the_signal() {
        let n = parse("motor.de.vib.band_energy[0.5,1.5]").unwrap();
        assert_eq!(n.signal, "motor.de.vib");
        assert_eq!(
            n.feature,
            Feature::BandEnergy(Band {
                lo_hz: 0.5,
                hi_hz: 1.5
            })
        );
    }

    #[test]
    fn unknown_kinds_are_refused_with_the_list_of_known_ones() {
        let e = parse("vib.variance").unwrap_err();
        assert!(matches!(e, FeatureError::UnknownFeature { .. }));
        let msg = e.to_string();
        assert!(msg.contains("`vib.variance`"), "{msg}");
        assert!(
            msg.contains("kurtosis") && msg.contains("env_band[LO,HI]"),
            "{msg}"
        );
        assert!(matches!(
            parse("vib.rmsx[1,2]").unwrap_err(),
            FeatureError::UnknownFeature { .. }
        ));
    }

    #[test]
    fn malformed_names_and_arguments_are_refused_with_a_reason() {
        for (s, why) in [
            ("rms", "SIGNAL.KIND"),
            (".rms", "signal"),
            ("v b.rms", "signal"),
            ("vib.band_energy", "needs [LO,HI]"),
            ("vib.env_band", "needs [LO,HI]"),
            ("vib.band_energy[100,500", "`]`"),
            ("vib.band_energy[100]", "takes [LO,HI]"),
            ("vib.band_energy[1,2,3,4]", "takes [LO,HI]"),
            ("vib.env_band[1,2,3]", "takes [LO,HI]"),
            ("vib.band_energy[500,100]", "LO must be below HI"),
            ("vib.band_energy[100,100]", "LO must be below HI"),
            ("vib.band_energy[-1,100]", "finite frequency"),
            ("vib.band_energy[NaN,100]", "finite frequency"),
            ("vib.band_energy[0,inf]", "finite frequency"),
            ("vib.band_energy[a,100]", "not a number"),
            ("vib.band_energy[,100]", "not a number"),
            ("vib.rms[1,2]", "takes no arguments"),
        ] {
            match parse(s) {
                Err(e @ FeatureError::BadFeatureName { .. }) => {
                    assert!(e.to_string().contains(why), "{s}: {e}")
                }
                other => panic!("{s}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_set_lists_its_signals_in_order_of_first_appearance() {
        let set = FeatureSet::parse(["vib.rms", "temp.mean", "vib.kurtosis", "amps.max"]).unwrap();
        assert_eq!(set.signals(), ["vib", "temp", "amps"]);
        assert_eq!(set.len(), 4);
        assert_eq!(set.names()[2].to_string(), "vib.kurtosis");
    }

    #[test]
    fn a_set_refuses_a_feature_listed_twice() {
        assert_eq!(
            FeatureSet::parse([
                "vib.rms",
                "temp.mean",
                "vib.band_energy[1,2]",
                "vib.band_energy[1.0,2]"
            ]),
            Err(FeatureError::DuplicateFeature {
                name: "vib.band_energy[1,2]".to_string()
            })
        );
    }
}
