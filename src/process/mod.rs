//! The processing stage's logic: samples → telemetry buckets and threshold alerts, enriched
//! with the gateway's identity and the asset's metadata.
//!
//! Pure and synchronous (no I/O, no clock of its own: callers pass wall-clock `now`), so it is
//! tested without a runtime; `app` runs it in one task between the ingest channel and the
//! outbox writer.

use crate::util::{FastMap, LateStreak};
use std::sync::Arc;

use crate::alert::{ThresholdRules, Transition};
use crate::config::{Compression, CompressionMethod, Config};
use crate::downsample::{
    Admission, Bucket, Deadband, IntervalBuckets, Point, PushOutcome, SwingingDoor,
};
use crate::record::{Alert, AssetMeta, Record, Sample, Telemetry, ALERT_SCHEMA, TELEMETRY_SCHEMA};

struct SignalInfo {
    unit: Option<String>,
    width_ns: Option<i64>,
    compression: Option<Compression>,
}

/// What one telemetry record summarises: a bucket, or one kept sample.
struct Summary {
    start_ns: i64,
    end_ns: i64,
    count: u64,
    min: f64,
    max: f64,
    mean: f64,
    last: f64,
}

/// A deadband or swinging door of one signal, and when it last got a sample (wall clock).
struct Compressor {
    kind: CompressorKind,
    config: Compression,
    last_arrival_ns: i64,
    flushed: bool,
    late: LateStreak,
}

enum CompressorKind {
    Deadband(Deadband),
    SwingingDoor(SwingingDoor),
}

impl Compressor {
    fn new(c: &Compression) -> Option<Compressor> {
        let kind = match c.method {
            CompressionMethod::Deadband(b) => {
                CompressorKind::Deadband(Deadband::new(b, c.max_silence_secs).ok()?)
            }
            CompressionMethod::SwingingDoor(e) => {
                CompressorKind::SwingingDoor(SwingingDoor::new(e, c.max_silence_secs).ok()?)
            }
        };
        Some(Compressor {
            kind,
            config: *c,
            last_arrival_ns: 0,
            flushed: false,
            late: LateStreak::default(),
        })
    }

    fn method(&self) -> &'static str {
        match self.kind {
            CompressorKind::Deadband(_) => "deadband",
            CompressorKind::SwingingDoor(_) => "swinging_door",
        }
    }

    /// Feeds one sample. Out of order [`LateStreak::REBASE_AFTER`] times in a row, the
    /// signal's time went back: the held point is flushed and the compressor restarts at this
    /// sample ([`Admission::Accepted`], with `rebased` set).
    fn push(
        &mut self,
        ts_ns: i64,
        value: f64,
        mut emit: impl FnMut(Point),
        rebased: &mut bool,
    ) -> Admission {
        self.flushed = false;
        let a = match &mut self.kind {
            CompressorKind::Deadband(d) => d.push(ts_ns, value, &mut emit),
            CompressorKind::SwingingDoor(d) => d.push(ts_ns, value, &mut emit),
        };
        match a {
            Admission::OutOfOrder if self.late.late() => {
                if let Some(p) = self.flush() {
                    emit(p);
                }
                if let Some(fresh) = Compressor::new(&self.config) {
                    self.kind = fresh.kind;
                }
                *rebased = true;
                self.push(ts_ns, value, emit, &mut false)
            }
            Admission::OutOfOrder => a,
            _ => {
                self.late.on_time();
                a
            }
        }
    }

    fn flush(&mut self) -> Option<Point> {
        self.flushed = true;
        match &mut self.kind {
            CompressorKind::Deadband(d) => d.flush(),
            CompressorKind::SwingingDoor(d) => d.flush(),
        }
    }
}

struct AssetInfo {
    meta: AssetMeta,
    signals: FastMap<Arc<str>, SignalInfo>,
}

pub struct Processor {
    gateway: String,
    site: String,
    assets: FastMap<Arc<str>, AssetInfo>,
    buckets: IntervalBuckets,
    rules: ThresholdRules,
    transitions: Vec<Transition>,
    late: u64,
    compressors: FastMap<(Arc<str>, Arc<str>), Compressor>,
    /// Samples a compressor refused (out of order), since the last `take_late`.
    out_of_order: u64,
    /// Event-time states restarted after their signal's time went back, since the last
    /// `take_rebases` ([`LateStreak`]).
    rebases: u64,
}

/// Grace after a bucket's width before an idle bucket is closed.
const IDLE_GRACE_NS: i64 = 2_000_000_000;
/// A compressed signal without samples for this long (wall clock) is flushed, so its last
/// sample is not held back indefinitely.
const COMPRESSOR_IDLE_NS: i64 = 30_000_000_000;

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
                            compression: s.compression,
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
            compressors: FastMap::default(),
            out_of_order: 0,
            rebases: 0,
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
        let info = self
            .assets
            .get(&s.asset)
            .and_then(|a| a.signals.get(&s.signal));
        if let Some(c) = info.and_then(|i| i.compression) {
            let key = (s.asset.clone(), s.signal.clone());
            let comp = match self.compressors.entry(key) {
                std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut()),
                std::collections::hash_map::Entry::Vacant(e) => {
                    Compressor::new(&c).map(|c| e.insert(c))
                }
            };
            if let Some(comp) = comp {
                comp.last_arrival_ns = now_ns;
                let method = comp.method();
                let mut kept = Vec::new();
                let mut rebased = false;
                if comp.push(s.ts_ns, s.value, |p| kept.push(p), &mut rebased)
                    == Admission::OutOfOrder
                {
                    self.out_of_order += 1;
                }
                self.rebases += u64::from(rebased);
                for p in kept {
                    out.push(self.point(&s.asset, &s.signal, p, method));
                }
            }
        }
        let width = info.and_then(|i| i.width_ns);
        if let Some(w) = width {
            match self
                .buckets
                .push(&s.asset, &s.signal, w, s.ts_ns, s.value, now_ns)
            {
                PushOutcome::Added => {}
                PushOutcome::Closed(b) => out.push(self.telemetry(&s.asset, &s.signal, b)),
                PushOutcome::Late => self.late += 1,
                PushOutcome::Rebased(b) => {
                    self.rebases += 1;
                    out.push(self.telemetry(&s.asset, &s.signal, b));
                }
            }
        }
    }

    /// Close buckets of signals that went quiet.
    pub fn close_idle(&mut self, now_ns: i64, out: &mut Vec<Record>) {
        let mut flushed = Vec::new();
        for ((a, s), c) in &mut self.compressors {
            if !c.flushed && now_ns.saturating_sub(c.last_arrival_ns) > COMPRESSOR_IDLE_NS {
                if let Some(p) = c.flush() {
                    flushed.push((a.clone(), s.clone(), p, c.method()));
                }
            }
        }
        for (a, s, p, m) in flushed {
            out.push(self.point(&a, &s, p, m));
        }
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

    /// Close every open bucket and flush every compressor (end of input, shutdown).
    pub fn close_all(&mut self, out: &mut Vec<Record>) {
        let mut flushed: Vec<_> = self
            .compressors
            .iter_mut()
            .filter_map(|((a, s), c)| c.flush().map(|p| (a.clone(), s.clone(), p, c.method())))
            .collect();
        flushed.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        for (a, s, p, m) in flushed {
            out.push(self.point(&a, &s, p, m));
        }
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

    /// Samples dropped as late since the last call (late for a bucket, or out of order for
    /// a deadband / swinging door).
    pub fn take_late(&mut self) -> u64 {
        std::mem::take(&mut self.late) + std::mem::take(&mut self.out_of_order)
    }

    /// Event-time states (buckets, compressors, threshold rules) restarted since the last call
    /// because their signal's time went back ([`LateStreak`]).
    pub fn take_rebases(&mut self) -> u64 {
        std::mem::take(&mut self.rebases) + self.rules.take_rebases()
    }

    /// One sample kept by a deadband or swinging door, as a telemetry record.
    fn point(&self, asset: &Arc<str>, signal: &Arc<str>, p: Point, method: &str) -> Record {
        let summary = Summary {
            start_ns: p.ts_ns,
            end_ns: p.ts_ns,
            count: 1,
            min: p.value,
            max: p.value,
            mean: p.value,
            last: p.value,
        };
        self.telemetry_record(asset, signal, summary, Some(method.to_string()))
    }

    fn meta(&self, asset: &str) -> AssetMeta {
        self.assets
            .get(asset)
            .map(|a| a.meta.clone())
            .unwrap_or_default()
    }

    fn telemetry(&self, asset: &Arc<str>, signal: &Arc<str>, b: Bucket) -> Record {
        let summary = Summary {
            start_ns: b.start_ns,
            end_ns: b.end_ns,
            count: b.count,
            min: b.min,
            max: b.max,
            mean: b.mean(),
            last: b.last,
        };
        self.telemetry_record(asset, signal, summary, None)
    }

    fn telemetry_record(
        &self,
        asset: &Arc<str>,
        signal: &Arc<str>,
        s: Summary,
        method: Option<String>,
    ) -> Record {
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
            start_ns: s.start_ns,
            end_ns: s.end_ns,
            count: s.count,
            min: s.min,
            max: s.max,
            mean: s.mean,
            last: s.last,
            meta: self.meta(asset),
            method,
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
            detector: None,
        })
    }
}

pub mod checkpoint;
pub mod pace;
pub mod stage;

#[cfg(test)]
mod tests;
