//! `forewarn model bench`: exact latency percentiles of feature extraction and inference for
//! one package, measured in this process on this machine.

use std::time::Instant;

use crate::features::FeatureExtractor;

use super::package::normalize;
use super::runner::LoadedModel;

/// Percentiles of one measured step, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct BenchReport {
    pub runs: usize,
    pub window_len: usize,
    pub signals: usize,
    pub features: Percentiles,
    pub inference: Percentiles,
}

fn percentiles(mut us: Vec<f64>) -> Percentiles {
    us.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((q * us.len() as f64).ceil() as usize).clamp(1, us.len().max(1)) - 1;
        us.get(i).copied().unwrap_or(0.0)
    };
    Percentiles {
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: us.last().copied().unwrap_or(0.0),
    }
}

/// Run `runs` feature extractions on a deterministic pseudo-random window of the model's shape,
/// and `runs` inferences on its first golden vector.
pub fn bench(model: &LoadedModel, runs: usize) -> BenchReport {
    let m = &model.manifest;
    let shape = m.window.shape();
    let signals = m.features.signals().len();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let windows: Vec<Vec<f64>> = (0..signals)
        .map(|_| {
            (0..shape.len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
                })
                .collect()
        })
        .collect();
    let slices: Vec<&[f64]> = windows.iter().map(Vec::as_slice).collect();
    let mut out = vec![0f32; m.features.len()];
    let mut feature_us = Vec::with_capacity(runs);
    if let Ok(mut ex) = FeatureExtractor::new(m.features.clone(), &vec![shape; signals]) {
        for _ in 0..runs {
            let t = Instant::now();
            let _ = ex.extract(&slices, &mut out);
            feature_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let mut input = m
        .golden
        .first()
        .map(|g| g.features.clone())
        .unwrap_or_else(|| vec![0.0; m.features.len()]);
    normalize(m, &mut input);
    let mut infer_us = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let _ = model.model.infer(&input);
        infer_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    BenchReport {
        runs,
        window_len: shape.len,
        signals,
        features: percentiles(feature_us),
        inference: percentiles(infer_us),
    }
}
