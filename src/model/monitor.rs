//! What a model saw and did, for the status heartbeat: inference latency percentiles, and per
//! feature an hourly summary of the inputs (count, mean, std, min, max, a coarse histogram)
//! with a drift score against the training statistics in the manifest, so a central team can
//! see drift and decide to retrain.

use std::time::Duration;

use crate::record::FeatureSummary;

use super::manifest::Manifest;

/// Sub-buckets per power of two: bucket bounds grow by 2^(1/4) ≈ 19 %.
const SUB: usize = 4;
/// Buckets from 1 µs up to 2^28 µs (≈ 4.5 min); slower ones count in the last.
const BUCKETS: usize = 28 * SUB;

/// Inference latencies in log-spaced buckets: fixed memory, percentiles within ≈ 19 %.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

fn bucket_upper_us(i: usize) -> f64 {
    2f64.powf((i + 1) as f64 / SUB as f64)
}

impl LatencyHistogram {
    pub fn record(&mut self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        let i = if us <= 1.0 {
            0
        } else {
            ((us.log2() * SUB as f64).ceil() as usize)
                .saturating_sub(1)
                .min(BUCKETS - 1)
        };
        self.counts[i] += 1;
        self.total += 1;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The upper bound (µs) of the bucket holding quantile `q` (0..=1); `None` if empty.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_upper_us(i));
            }
        }
        Some(bucket_upper_us(BUCKETS - 1))
    }
}

/// z-score bin edges of the histogram (training mean and std; without them, the raw value).
pub const HIST_EDGES: [f64; 9] = [-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0];

const HOUR_NS: i64 = 3_600_000_000_000;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Running {
    count: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    hist: [u64; HIST_EDGES.len() + 1],
}

impl Running {
    fn push(&mut self, x: f64, z: f64) {
        self.count += 1;
        if self.count == 1 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        let d = x - self.mean;
        self.mean += d / self.count as f64;
        self.m2 += d * (x - self.mean);
        let bin = HIST_EDGES.partition_point(|&e| e <= z);
        self.hist[bin] += 1;
    }

    fn summary(&self, name: &str) -> FeatureSummary {
        FeatureSummary {
            name: name.to_string(),
            count: self.count,
            mean: self.mean,
            std: if self.count > 0 {
                (self.m2 / self.count as f64).sqrt()
            } else {
                0.0
            },
            min: self.min,
            max: self.max,
            hist: self.hist.to_vec(),
        }
    }
}

/// A model's [`FeatureMonitor`] as kept in the model thread's checkpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorSnapshot {
    names: Vec<String>,
    hour: i64,
    current: Vec<Running>,
    previous: Vec<Running>,
    outputs: Vec<Running>,
}

/// Hourly input summaries per feature, and output summaries, for one model (all its assets).
#[derive(Debug, Clone, Default)]
pub struct FeatureMonitor {
    names: Vec<String>,
    mean: Vec<f64>,
    std: Vec<f64>,
    hour: Option<i64>,
    current: Vec<Running>,
    previous: Vec<Running>,
    outputs: Vec<Running>,
}

impl FeatureMonitor {
    pub fn new(m: &Manifest) -> FeatureMonitor {
        let n = m.features.len();
        let (mean, std) = match (&m.training, &m.normalize) {
            (Some(t), _) => (t.mean.clone(), t.std.clone()),
            (None, Some((mu, sd))) => (
                mu.iter().map(|&x| f64::from(x)).collect(),
                sd.iter().map(|&x| f64::from(x)).collect(),
            ),
            (None, None) => (vec![0.0; n], vec![1.0; n]),
        };
        FeatureMonitor {
            names: m.features.names().iter().map(|f| f.to_string()).collect(),
            mean,
            std,
            hour: None,
            current: vec![Running::default(); n],
            previous: Vec::new(),
            outputs: vec![Running::default(); m.output_len()],
        }
    }

    fn z(&self, i: usize, x: f64) -> f64 {
        match (self.mean.get(i), self.std.get(i)) {
            (Some(&mu), Some(&sd)) if sd > 0.0 => (x - mu) / sd,
            _ => x,
        }
    }

    /// Record one window's raw features at event time `ts_ns` (hours are event-time hours).
    pub fn observe(&mut self, raw: &[f32], ts_ns: i64) {
        let hour = ts_ns.div_euclid(HOUR_NS);
        if self.hour != Some(hour) {
            if self.hour.is_some() {
                self.previous = std::mem::replace(
                    &mut self.current,
                    vec![Running::default(); self.names.len()],
                );
            }
            self.hour = Some(hour);
        }
        for (i, &v) in raw.iter().enumerate() {
            let x = f64::from(v);
            let z = self.z(i, x);
            if let Some(r) = self.current.get_mut(i) {
                r.push(x, z);
            }
        }
    }

    pub fn observe_output(&mut self, out: &[f32]) {
        for (r, &v) in self.outputs.iter_mut().zip(out) {
            r.push(f64::from(v), f64::from(v));
        }
    }

    /// Mean over features of `|hour mean − training mean| / training std` for the current
    /// hour; `None` before any window.
    pub fn drift_score(&self) -> Option<f64> {
        let (mut sum, mut n) = (0.0, 0usize);
        for (i, r) in self.current.iter().enumerate() {
            if r.count > 0 {
                sum += self.z(i, r.mean).abs();
                n += 1;
            }
        }
        (n > 0).then(|| sum / n as f64)
    }

    /// Summaries of the current hour (start in ns) and, if any, the hour before.
    pub fn summaries(&self) -> (Option<i64>, Vec<FeatureSummary>, Vec<FeatureSummary>) {
        let cur = self
            .current
            .iter()
            .zip(&self.names)
            .map(|(r, n)| r.summary(n))
            .collect();
        let prev = self
            .previous
            .iter()
            .zip(&self.names)
            .map(|(r, n)| r.summary(n))
            .collect();
        (self.hour.map(|h| h.saturating_mul(HOUR_NS)), cur, prev)
    }

    /// The running summaries, for the model thread's checkpoint; `None` before any window.
    pub fn snapshot(&self) -> Option<MonitorSnapshot> {
        self.hour.map(|hour| MonitorSnapshot {
            names: self.names.clone(),
            hour,
            current: self.current.clone(),
            previous: self.previous.clone(),
            outputs: self.outputs.clone(),
        })
    }

    /// Takes summaries back if they are of the same features and outputs; false (nothing
    /// changed) otherwise.
    pub fn restore(&mut self, s: MonitorSnapshot) -> bool {
        let fits = s.names == self.names
            && s.current.len() == self.names.len()
            && (s.previous.is_empty() || s.previous.len() == self.names.len())
            && s.outputs.len() == self.outputs.len()
            && s.current
                .iter()
                .chain(&s.previous)
                .chain(&s.outputs)
                .all(|r| r.count == r.hist.iter().sum::<u64>());
        if fits {
            self.hour = Some(s.hour);
            self.current = s.current;
            self.previous = s.previous;
            self.outputs = s.outputs;
        }
        fits
    }

    pub fn output_summaries(&self) -> Vec<FeatureSummary> {
        self.outputs
            .iter()
            .enumerate()
            .map(|(i, r)| r.summary(&format!("output[{i}]")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_land_in_the_right_bucket() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.quantile_us(0.5), None);
        for _ in 0..98 {
            h.record(Duration::from_micros(100));
        }
        h.record(Duration::from_millis(5));
        h.record(Duration::from_millis(5));
        let p50 = h.quantile_us(0.5).unwrap();
        let p99 = h.quantile_us(0.99).unwrap();
        assert!((100.0..=120.0).contains(&p50), "{p50}");
        assert!((5000.0..=6000.0).contains(&p99), "{p99}");
        h.record(Duration::from_secs(3600));
        assert!(h.quantile_us(1.0).unwrap() > 1e8);
        h.record(Duration::ZERO);
        assert_eq!(h.count(), 102);
    }

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"
[model]
name = "m"
version = "1"
onnx = "m.onnx"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[input]
signals = ["x"]
features = ["x.mean", "x.max"]
window = { samples = 2, hop = 2, sample_rate_hz = 1.0 }
[output]
kind = "regression"
name = "y"
[[golden]]
features = [0.0, 0.0]
output = [0.0]
[training]
mean = [10.0, 20.0]
std = [2.0, 4.0]
"#,
        )
        .unwrap()
    }

    #[test]
    fn hourly_summaries_histograms_and_drift_against_training_statistics() {
        let mut f = FeatureMonitor::new(&manifest());
        assert_eq!(f.drift_score(), None);
        f.observe(&[10.0, 20.0], 0);
        f.observe(&[14.0, 20.0], 1);
        // hour mean 12 vs training 10 ± 2 → z 1; 20 vs 20 → 0; drift = mean(1, 0) = 0.5
        assert!((f.drift_score().unwrap() - 0.5).abs() < 1e-12);
        let (start, cur, prev) = f.summaries();
        assert_eq!(start, Some(0));
        assert!(prev.is_empty());
        assert_eq!(cur[0].name, "x.mean");
        assert_eq!((cur[0].count, cur[0].mean, cur[0].std), (2, 12.0, 2.0));
        assert_eq!((cur[0].min, cur[0].max), (10.0, 14.0));
        // z = 0 → bin [0, 0.5); z = 2 → bin [2, 3)
        assert_eq!(cur[0].hist[5], 1);
        assert_eq!(cur[0].hist[8], 1);
        // The next event-time hour starts a new summary; the old one is kept as previous.
        f.observe(&[10.0, 20.0], HOUR_NS + 5);
        let (start, cur, prev) = f.summaries();
        assert_eq!(start, Some(HOUR_NS));
        assert_eq!(cur[0].count, 1);
        assert_eq!(prev[0].count, 2);
        assert_eq!(f.drift_score(), Some(0.0));
    }
}
