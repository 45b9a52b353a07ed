//! `[[assets]]` and their signals (intervals, compression).

use super::*;

pub(super) fn asset(a: &RawAsset, f: &str, p: &mut Problems) -> Option<AssetConfig> {
    let n = p.len();
    let default = interval(a.interval_secs, &format!("{f}.interval_secs"), p);
    let mut signals = Vec::new();
    let mut seen = HashSet::new();
    for (j, s) in a.signals.iter().enumerate() {
        let sf = format!("{f}.signals[{j}]");
        if !is_name(&s.name) || s.name == "ts" || s.name == "asset" {
            problem(
                p,
                format!("{sf}.name"),
                "letters, digits, `.`, `_` or `-` (and not `ts` or `asset`)",
            );
        }
        if !seen.insert(s.name.clone()) {
            problem(
                p,
                format!("{sf}.name"),
                format!("duplicate signal `{}`", s.name),
            );
        }
        let iv = match s.interval_secs {
            Some(secs) => interval(secs, &format!("{sf}.interval_secs"), p),
            None => default,
        };
        let compression = compression(s, &sf, p);
        if compression.is_some() && s.interval_secs.is_some_and(|x| x > 0.0) {
            problem(
                p,
                format!("{sf}.interval_secs"),
                "a signal is downsampled either by buckets or by a deadband / swinging door, not both",
            );
        }
        signals.push(SignalConfig {
            name: Arc::from(s.name.as_str()),
            unit: s.unit.clone(),
            interval: if compression.is_some() { None } else { iv },
            compression,
        });
    }
    if a.signals.is_empty() {
        problem(
            p,
            format!("{f}.signals"),
            "an asset needs at least one [[assets.signals]]",
        );
    }
    (p.len() == n).then(|| AssetConfig {
        id: Arc::from(a.id.as_str()),
        meta: AssetMeta {
            line: a.line.clone(),
            asset_type: a.asset_type.clone(),
            tags: a.tags.clone(),
        },
        signals,
    })
}

pub(super) fn compression(s: &RawSignal, sf: &str, p: &mut Problems) -> Option<Compression> {
    use crate::config::Band;
    let given: Vec<(&str, f64)> = [
        ("deadband", s.deadband),
        ("deadband_percent", s.deadband_percent),
        ("swinging_door", s.swinging_door),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    if given.len() > 1 {
        problem(
            p,
            format!("{sf}.{}", given[1].0),
            "choose one of deadband, deadband_percent, swinging_door",
        );
        return None;
    }
    if let Some(m) = s.max_silence_secs {
        if !(m.is_finite() && m > 0.0) {
            problem(p, format!("{sf}.max_silence_secs"), "must be a number > 0");
            return None;
        }
        if given.is_empty() {
            problem(
                p,
                format!("{sf}.max_silence_secs"),
                "applies only with deadband, deadband_percent or swinging_door",
            );
            return None;
        }
    }
    let (key, v) = *given.first()?;
    if !(v.is_finite() && v >= 0.0) {
        problem(p, format!("{sf}.{key}"), "must be a number >= 0");
        return None;
    }
    let method = match key {
        "deadband" => CompressionMethod::Deadband(Band::Abs(v)),
        "deadband_percent" => CompressionMethod::Deadband(Band::Percent(v)),
        _ => CompressionMethod::SwingingDoor(v),
    };
    Some(Compression {
        method,
        max_silence_secs: s.max_silence_secs,
    })
}

pub(super) fn interval(secs: f64, field: &str, p: &mut Problems) -> Option<Duration> {
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        problem(
            p,
            field,
            "must be between 0 (no telemetry) and 86400 seconds",
        );
        return None;
    }
    (secs > 0.0).then(|| Duration::from_secs_f64(secs))
}
