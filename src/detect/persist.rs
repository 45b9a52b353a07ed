//! What a detector learned ([`Learned`]) as a [`BaselineRecord`] and back: what the outbox keeps, Kafka receives and
//! `forewarn baseline export|import` moves between gateways.
//!
//! Taking a record back ([`adopt`]) trusts nothing in it: a stored or imported baseline is used
//! only if it was learned for the same signals, grid and method as the detector now configured,
//! and if its state is whole (every dimension consistent, every number finite, scales and
//! limits positive). Otherwise the reason is returned and the detector learns again.

use crate::config::{DetectorConfig, DetectorFeatures, DetectorMethod};
use crate::record::{
    BaselineFeatures, BaselineLimits, BaselineRecord, BaselineTrigger, KnnSummary, PcaSummary,
    SignalStats, BASELINE_SCHEMA,
};

use super::baseline::Baseline;
use super::knn::LAGS;
use super::learned::{KnnBaseline, Learned};

/// Where and when a baseline was learned, and what it is.
pub struct Provenance<'a> {
    pub gateway: &'a str,
    pub site: &'a str,
    pub asset: &'a str,
    pub generation: u64,
    pub trigger: BaselineTrigger,
    pub learned_from_ns: i64,
    pub learned_to_ns: i64,
}

/// The record of what detector `c` learned.
pub fn to_record(c: &DetectorConfig, l: &Learned, p: &Provenance<'_>) -> BaselineRecord {
    let stats = c
        .inputs
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let (mean, sd) = l.stats(j);
            SignalStats {
                signal: s.to_string(),
                mean,
                sd,
            }
        })
        .collect();
    // A struct of numbers and vectors always converts; the fallback is never stored as
    // usable (adopt() refuses a state that does not decode).
    let (method, pca, knn, state) = match l {
        Learned::Pca(b) => (
            "pca",
            Some(PcaSummary {
                lags: b.lags,
                cumulative_variance: match c.method {
                    DetectorMethod::Pca {
                        cumulative_variance,
                        ..
                    } => cumulative_variance,
                    DetectorMethod::Knn => f64::NAN,
                },
                components: b.model.components(),
                explained: b.model.explained,
                limits: BaselineLimits {
                    t2: b.limits[0],
                    q: b.limits[1],
                    t2_ewma: b.limits[2],
                    q_ewma: b.limits[3],
                },
            }),
            None,
            ciborium::Value::serialized(b),
        ),
        Learned::Knn(k) => (
            "knn",
            None,
            Some(KnnSummary {
                window: k.signals.first().map_or(0, |s| s.window),
                lags: LAGS,
            }),
            ciborium::Value::serialized(k),
        ),
    };
    BaselineRecord {
        schema: BASELINE_SCHEMA.into(),
        gateway: p.gateway.into(),
        site: p.site.into(),
        detector: c.name.clone(),
        asset: p.asset.into(),
        generation: p.generation,
        trigger: p.trigger,
        created_ns: crate::record::now_ns(),
        method: method.into(),
        signals: c.signals.iter().map(|s| s.to_string()).collect(),
        grid_secs: c.grid_secs,
        samples_per_step: c.samples_per_step,
        features: c.features.as_ref().map(features),
        learned_from_ns: p.learned_from_ns,
        learned_to_ns: p.learned_to_ns,
        steps: l.steps(),
        pca,
        knn,
        stats,
        learned_on: None,
        state: state.unwrap_or(ciborium::Value::Null),
    }
}

fn features(f: &DetectorFeatures) -> BaselineFeatures {
    BaselineFeatures {
        kinds: f.kinds.clone(),
        samples: f.samples,
        hop: f.hop,
        sample_rate_hz: f.sample_rate_hz,
    }
}

/// What `r` holds, if detector `c` can score with it; else why not.
pub fn adopt(c: &DetectorConfig, r: &BaselineRecord) -> Result<Learned, String> {
    if r.schema != BASELINE_SCHEMA {
        return Err(format!(
            "schema `{}`, this agent reads {BASELINE_SCHEMA}",
            r.schema
        ));
    }
    if r.detector != c.name {
        return Err(format!(
            "learned for detector `{}`, not `{}`",
            r.detector, c.name
        ));
    }
    let signals: Vec<&str> = c.signals.iter().map(|s| &**s).collect();
    if r.signals
        .iter()
        .map(String::as_str)
        .ne(signals.iter().copied())
    {
        return Err(format!(
            "learned on signals {:?}, the detector reads {signals:?}",
            r.signals
        ));
    }
    let want = c.features.as_ref().map(features);
    if r.features != want {
        let say = |f: &Option<BaselineFeatures>| match f {
            Some(f) => format!(
                "features {:?} over {} samples (hop {}) at {} Hz",
                f.kinds, f.samples, f.hop, f.sample_rate_hz
            ),
            None => "signal means".to_string(),
        };
        return Err(format!(
            "learned on {}, the detector reads {}",
            say(&r.features),
            say(&want)
        ));
    }
    if r.grid_secs != c.grid_secs || r.samples_per_step != c.samples_per_step {
        return Err(format!(
            "learned on a grid of {} s × {} samples, the detector's is {} s × {}",
            r.grid_secs, r.samples_per_step, c.grid_secs, c.samples_per_step
        ));
    }
    let inputs = c.inputs.len();
    match c.method {
        DetectorMethod::Pca {
            lags,
            cumulative_variance,
        } => {
            let Some(s) = r.pca.as_ref().filter(|_| r.method == "pca") else {
                return Err(format!("method `{}`, the detector uses pca", r.method));
            };
            if s.lags != lags || s.cumulative_variance != cumulative_variance {
                return Err(format!(
                    "learned with lags = {}, cumulative_variance = {}; the detector has {lags}, {cumulative_variance}",
                    s.lags, s.cumulative_variance
                ));
            }
            let b: Baseline = r
                .state
                .deserialized()
                .map_err(|e| format!("its state does not decode: {e}"))?;
            if b.signals != inputs || b.lags != lags {
                return Err(format!(
                    "its state is for {} inputs and {} lags, the detector has {inputs} and {lags}",
                    b.signals, b.lags
                ));
            }
            check(&b)?;
            Ok(Learned::Pca(b))
        }
        DetectorMethod::Knn => {
            if r.method != "knn" || r.knn.is_none() {
                return Err(format!("method `{}`, the detector uses knn", r.method));
            }
            let k: KnnBaseline = r
                .state
                .deserialized()
                .map_err(|e| format!("its state does not decode: {e}"))?;
            let d = inputs;
            if k.signals.len() != d || k.mean.len() != d || k.sd.len() != d {
                return Err(format!(
                    "its state has {} signals, {} means and {} sds for {d} signals",
                    k.signals.len(),
                    k.mean.len(),
                    k.sd.len()
                ));
            }
            if !k.mean.iter().chain(&k.sd).all(|v| v.is_finite()) {
                return Err("a mean or sd is not finite".into());
            }
            for s in &k.signals {
                s.check()?;
            }
            Ok(Learned::Knn(k))
        }
    }
}

/// Every dimension consistent, every number finite, scales, variances and limits positive.
pub fn check(b: &Baseline) -> Result<(), String> {
    let m = b.signals * (b.lags + 1);
    let model = &b.model;
    let k = model.variances.len();
    if b.signals == 0 || m > crate::config::MAX_DETECTOR_INPUTS {
        return Err(format!(
            "{m} inputs (1 to {})",
            crate::config::MAX_DETECTOR_INPUTS
        ));
    }
    if model.mean.len() != m || model.sd.len() != m {
        return Err(format!(
            "{} means and {} scales for {m} inputs",
            model.mean.len(),
            model.sd.len()
        ));
    }
    if k == 0 || k > m || model.loadings.len() != m * k {
        return Err(format!(
            "{} loadings for {m} inputs and {k} components",
            model.loadings.len()
        ));
    }
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    let positive = |v: &[f64]| v.iter().all(|x| x.is_finite() && *x > 0.0);
    if !finite(&model.mean) || !finite(&model.loadings) || !finite(&b.ewma_start) {
        return Err("a mean, loading or EWMA start is not finite".into());
    }
    if !positive(&model.sd) || !positive(&model.variances) || !positive(&b.limits) {
        return Err("a scale, variance or limit is not a positive number".into());
    }
    if !(model.explained.is_finite() && (0.0..=1.0 + 1e-9).contains(&model.explained)) {
        return Err(format!("explained variance {}", model.explained));
    }
    if b.tail.len() > b.lags || b.tail.iter().any(|t| t.len() != b.signals || !finite(t)) {
        return Err("its last steps do not match its signals".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[gateway]
id = "gw"
site = "plant"
data_dir = "/tmp/unused"
[kafka]
bootstrap_servers = "127.0.0.1:9"
[[sources]]
type = "mqtt"
name = "m"
host = "127.0.0.1"
topics = ["plant/+"]
topic_pattern = "plant/{asset}"
[[assets]]
id = "pump-1"
signals = [{ name = "a" }, { name = "b" }, { name = "c" }]
[[detectors]]
name = "pump"
assets = ["pump-1"]
signals = ["a", "b", "c"]
grid_secs = 10
learn = { steps = 100 }
lags = 1
"#;

    fn config(text: &str) -> DetectorConfig {
        let c = crate::config::parse_str(text, "test", std::path::Path::new("/tmp"))
            .unwrap_or_else(|e| panic!("{e}"));
        c.detectors[0].clone()
    }

    fn learned() -> Baseline {
        let rows: Vec<Vec<f64>> = (0..100)
            .map(|t| {
                let f = (t as f64 * 0.3).sin();
                let n = ((t * 37 % 11) as f64 - 5.0) * 0.01;
                vec![f + n, 2.0 * f - n, 1.0 - f + 0.5 * n]
            })
            .collect();
        Baseline::learn(&rows, 1, 0.95).unwrap()
    }

    fn record(c: &DetectorConfig, b: &Baseline) -> BaselineRecord {
        to_record(
            c,
            &Learned::Pca(b.clone()),
            &Provenance {
                gateway: "gw",
                site: "plant",
                asset: "pump-1",
                generation: 1,
                trigger: BaselineTrigger::Learned,
                learned_from_ns: 0,
                learned_to_ns: 1_000_000_000_000,
            },
        )
    }

    #[test]
    fn a_record_round_trips_through_json_and_cbor_to_the_same_baseline() {
        let c = config(CONFIG);
        let b = learned();
        let r = record(&c, &b);
        assert_eq!(r.stats.len(), 3);
        assert_eq!(r.stats[1].signal, "b");
        assert_eq!(r.pca.map(|p| p.components), Some(b.model.components()));
        assert!(r.knn.is_none());
        // JSON: every number within one unit in the last place (serde_json's parser is not
        // always correctly rounded); CBOR: exact.
        let json = serde_json::to_vec(&r).unwrap();
        let back: BaselineRecord = serde_json::from_slice(&json).unwrap();
        let Learned::Pca(a) = adopt(&c, &back).unwrap() else {
            panic!("not pca")
        };
        let close = |x: &[f64], y: &[f64]| {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| (p - q).abs() <= 2.0 * f64::EPSILON * p.abs().max(q.abs()))
        };
        assert!(close(&a.model.mean, &b.model.mean));
        assert!(close(&a.model.sd, &b.model.sd));
        assert!(close(&a.model.loadings, &b.model.loadings));
        assert!(close(&a.model.variances, &b.model.variances));
        assert!(close(&a.limits, &b.limits));
        assert_eq!((a.signals, a.lags, a.steps), (b.signals, b.lags, b.steps));
        let cbor = crate::codec::to_cbor(&r).unwrap();
        let back: BaselineRecord = crate::codec::from_cbor(&cbor).unwrap();
        assert_eq!(adopt(&c, &back).unwrap(), Learned::Pca(b));
    }

    #[test]
    fn a_knn_state_round_trips_and_a_damaged_one_is_refused() {
        let c = config(
            &CONFIG
                .replace("lags = 1\n", "method = \"knn\"\n")
                .replace("steps = 100", "steps = 120"),
        );
        assert_eq!(c.method, DetectorMethod::Knn);
        let rows: Vec<Vec<f64>> = (0..120)
            .map(|t| {
                let f = (t as f64 * 0.3).sin();
                vec![f, 2.0 * f, 1.0 - f]
            })
            .collect();
        let l = Learned::learn(&c, &rows).unwrap();
        let r = to_record(
            &c,
            &l,
            &Provenance {
                gateway: "gw",
                site: "plant",
                asset: "pump-1",
                generation: 1,
                trigger: BaselineTrigger::Learned,
                learned_from_ns: 0,
                learned_to_ns: 1,
            },
        );
        assert_eq!(r.method, "knn");
        assert_eq!(r.knn.map(|k| (k.window, k.lags)), Some((120, LAGS)));
        assert!(r.pca.is_none());
        let cbor = crate::codec::to_cbor(&r).unwrap();
        let back: BaselineRecord = crate::codec::from_cbor(&cbor).unwrap();
        assert_eq!(adopt(&c, &back).unwrap(), l);
        // A PCA detector of the same name does not take it, nor a damaged state.
        assert!(adopt(&config(CONFIG), &r).unwrap_err().contains("pca"));
        let Learned::Knn(mut k) = l else {
            panic!("not knn")
        };
        k.signals[1].values.push_back(f64::NAN);
        let mut bad = r.clone();
        bad.state = ciborium::Value::serialized(&k).unwrap();
        assert!(adopt(&c, &bad).is_err());
    }

    #[test]
    fn a_baseline_for_another_configuration_is_refused_with_the_reason() {
        let b = learned();
        let r = record(&config(CONFIG), &b);
        let other = config(&CONFIG.replace(
            r#"signals = ["a", "b", "c"]"#,
            r#"signals = ["a", "c", "b"]"#,
        ));
        assert!(adopt(&other, &r).unwrap_err().contains("signals"));
        let other = config(&CONFIG.replace("grid_secs = 10", "grid_secs = 5"));
        assert!(adopt(&other, &r).unwrap_err().contains("grid"));
        let other = config(&CONFIG.replace("lags = 1", "lags = 2"));
        assert!(adopt(&other, &r).unwrap_err().contains("lags"));
    }

    #[test]
    fn a_damaged_state_is_refused_not_scored() {
        let c = config(CONFIG);
        let b = learned();
        type Damage = Box<dyn Fn(&mut Baseline)>;
        let cases: Vec<(&str, Damage)> = vec![
            (
                "short loadings",
                Box::new(|b| {
                    b.model.loadings.pop();
                }),
            ),
            ("nan mean", Box::new(|b| b.model.mean[0] = f64::NAN)),
            ("zero scale", Box::new(|b| b.model.sd[2] = 0.0)),
            ("negative limit", Box::new(|b| b.limits[1] = -1.0)),
            ("wide tail", Box::new(|b| b.tail[0].push(1.0))),
            (
                "no components",
                Box::new(|b| {
                    b.model.variances.clear();
                    b.model.loadings.clear();
                }),
            ),
        ];
        for (what, damage) in cases {
            let mut bad = b.clone();
            damage(&mut bad);
            let mut r = record(&c, &b);
            r.state = ciborium::Value::serialized(&bad).unwrap();
            assert!(adopt(&c, &r).is_err(), "{what} was adopted");
        }
        let mut r = record(&c, &b);
        r.state = ciborium::Value::Text("not a baseline".into());
        assert!(adopt(&c, &r).unwrap_err().contains("decode"));
    }
}
