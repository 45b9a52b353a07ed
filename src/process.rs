//! The processing stage's logic: samples → telemetry buckets and threshold alerts, enriched
//! with the gateway's identity and the asset's metadata.
//!
//! Pure and synchronous (no I/O, no clock of its own: callers pass wall-clock `now`), so it is
//! tested without a runtime; `app` runs it in one task between the ingest channel and the
//! outbox writer.

use std::collections::HashMap;
use std::sync::Arc;

use crate::alert::{ThresholdRules, Transition};
use crate::config::Config;
use crate::downsample::{Bucket, IntervalBuckets, PushOutcome};
use crate::record::{Alert, AssetMeta, Record, Sample, Telemetry, ALERT_SCHEMA, TELEMETRY_SCHEMA};

struct SignalInfo {
    unit: Option<String>,
    width_ns: Option<i64>,
}

struct AssetInfo {
    meta: AssetMeta,
    signals: HashMap<Arc<str>, SignalInfo>,
}

pub struct Processor {
    gateway: String,
    site: String,
    assets: HashMap<Arc<str>, AssetInfo>,
    buckets: IntervalBuckets,
    rules: ThresholdRules,
    transitions: Vec<Transition>,
    late: u64,
}

/// Grace after a bucket's width before an idle bucket is closed.
const IDLE_GRACE_NS: i64 = 2_000_000_000;

impl Processor {
    pub fn new(config: &Config) -> Processor {
        let assets = config
            .assets
            .iter()
            .map(|a| {
                let signals = a
                    .signals
                    .iter()
                    .map(|s| {
                        let info = SignalInfo {
                            unit: s.unit.clone(),
                            width_ns: s
                                .interval
                                .map(|d| d.as_nanos().min(i64::MAX as u128) as i64),
                        };
                        (s.name.clone(), info)
                    })
                    .collect();
                (
                    a.id.clone(),
                    AssetInfo {
                        meta: a.meta.clone(),
                        signals,
                    },
                )
            })
            .collect();
        Processor {
            gateway: config.gateway.id.clone(),
            site: config.gateway.site.clone(),
            assets,
            buckets: IntervalBuckets::default(),
            rules: ThresholdRules::new(config.rules.clone()),
            transitions: Vec::new(),
            late: 0,
        }
    }

    /// Feed one sample; records it completes go to `out`.
    pub fn push(&mut self, s: &Sample, now_ns: i64, out: &mut Vec<Record>) {
        if !self.rules.is_empty() {
            self.rules
                .push(&s.asset, &s.signal, s.ts_ns, s.value, &mut self.transitions);
            for t in std::mem::take(&mut self.transitions) {
                out.push(self.alert(t));
            }
        }
        let width = self
            .assets
            .get(&s.asset)
            .and_then(|a| a.signals.get(&s.signal))
            .and_then(|i| i.width_ns);
        if let Some(w) = width {
            match self
                .buckets
                .push(&s.asset, &s.signal, w, s.ts_ns, s.value, now_ns)
            {
                PushOutcome::Added => {}
                PushOutcome::Closed(b) => out.push(self.telemetry(&s.asset, &s.signal, b)),
                PushOutcome::Late => self.late += 1,
            }
        }
    }

    /// Close buckets of signals that went quiet.
    pub fn close_idle(&mut self, now_ns: i64, out: &mut Vec<Record>) {
        let mut closed = Vec::new();
        self.buckets.close_idle(now_ns, IDLE_GRACE_NS, |a, s, b| {
            closed.push((a.clone(), s.clone(), b))
        });
        out.extend(
            closed
                .into_iter()
                .map(|(a, s, b)| self.telemetry(&a, &s, b)),
        );
    }

    /// Close every open bucket (end of input, shutdown).
    pub fn close_all(&mut self, out: &mut Vec<Record>) {
        let mut closed = Vec::new();
        self.buckets
            .close_all(|a, s, b| closed.push((a.clone(), s.clone(), b)));
        closed.sort_by_key(|(a, s, b)| (a.clone(), s.clone(), b.start_ns));
        out.extend(
            closed
                .into_iter()
                .map(|(a, s, b)| self.telemetry(&a, &s, b)),
        );
    }

    /// Samples dropped as late since the last call.
    pub fn take_late(&mut self) -> u64 {
        std::mem::take(&mut self.late)
    }

    fn meta(&self, asset: &str) -> AssetMeta {
        self.assets
            .get(asset)
            .map(|a| a.meta.clone())
            .unwrap_or_default()
    }

    fn telemetry(&self, asset: &Arc<str>, signal: &Arc<str>, b: Bucket) -> Record {
        let unit = self
            .assets
            .get(asset)
            .and_then(|a| a.signals.get(signal))
            .and_then(|i| i.unit.clone());
        Record::Telemetry(Telemetry {
            schema: TELEMETRY_SCHEMA.into(),
            gateway: self.gateway.clone(),
            site: self.site.clone(),
            asset: asset.to_string(),
            signal: signal.to_string(),
            unit,
            start_ns: b.start_ns,
            end_ns: b.end_ns,
            count: b.count,
            min: b.min,
            max: b.max,
            mean: b.mean(),
            last: b.last,
            meta: self.meta(asset),
        })
    }

    fn alert(&self, t: Transition) -> Record {
        let rule = &self.rules.rule(t.rule).name;
        Record::Alert(Alert {
            schema: ALERT_SCHEMA.into(),
            id: format!("{}/{}/{}/{}", self.gateway, t.asset, rule, t.since_ns),
            event: t.event,
            gateway: self.gateway.clone(),
            site: self.site.clone(),
            asset: t.asset.to_string(),
            rule: rule.clone(),
            severity: t.severity,
            signal: t.signal.to_string(),
            value: t.value,
            limit: t.limit,
            ts_ns: t.ts_ns,
            since_ns: t.since_ns,
            meta: self.meta(&t.asset),
            model: None,
        })
    }
}
