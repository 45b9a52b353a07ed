//! Counters shared by every stage, read by the status heartbeat.
//!
//! Plain atomics (relaxed): each counter has one writer stage and is read for reporting only,
//! so no ordering between counters is promised.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::record::Reject;
use crate::record::SourceStatus;

/// Failures counted by cause, with the last one's message (secrets scrubbed). Rare events:
/// a mutex, not atomics.
#[derive(Debug, Default)]
struct CauseCounts(Mutex<(BTreeMap<&'static str, u64>, Option<String>)>);

impl CauseCounts {
    fn count(&self, cause: &'static str, message: &str) {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *c.0.entry(cause).or_default() += 1;
        c.1 = Some(crate::config::secret::scrub(message).into_owned());
    }

    fn report(&self) -> (BTreeMap<String, u64>, Option<String>) {
        let c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (
            c.0.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            c.1.clone(),
        )
    }
}

/// Counters of one source.
#[derive(Debug)]
pub struct SourceMetrics {
    pub name: String,
    connected: AtomicBool,
    received: AtomicU64,
    samples: AtomicU64,
    reconnects: AtomicU64,
    rejected: [AtomicU64; Reject::ALL.len()],
    /// Failed connection attempts by reason, and the last one's error.
    connect_failures: CauseCounts,
}

impl SourceMetrics {
    pub fn new(name: &str) -> SourceMetrics {
        SourceMetrics {
            name: name.to_string(),
            connected: AtomicBool::new(false),
            received: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            rejected: Default::default(),
            connect_failures: CauseCounts::default(),
        }
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Relaxed)
    }
    /// A connection attempt failed (`reason` a short name, `error` what the client said).
    pub fn connect_failed(&self, reason: &'static str, error: String) {
        self.connect_failures.count(reason, &error);
    }

    pub fn set_connected(&self, up: bool) {
        self.connected.store(up, Relaxed);
    }
    pub fn received(&self, n: u64) {
        self.received.fetch_add(n, Relaxed);
    }
    pub fn accepted(&self, n: u64) {
        self.samples.fetch_add(n, Relaxed);
    }
    pub fn reconnected(&self) {
        self.reconnects.fetch_add(1, Relaxed);
    }
    pub fn reject(&self, reason: Reject, n: u64) {
        self.rejected[reason.index()].fetch_add(n, Relaxed);
    }
    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejected[reason.index()].load(Relaxed)
    }

    pub fn snapshot(&self) -> SourceStatus {
        let (connect_failures, last_connect_error) = self.connect_failures.report();
        SourceStatus {
            connect_failures,
            last_connect_error,
            connected: self.connected.load(Relaxed),
            received: self.received.load(Relaxed),
            samples: self.samples.load(Relaxed),
            rejected: Reject::ALL
                .iter()
                .map(|r| (r.name().to_string(), self.rejected(*r)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            reconnects: self.reconnects.load(Relaxed),
        }
    }
}

/// Why the processing stage dropped a sample.
#[derive(Debug, Clone, Copy)]
pub enum PipelineDrop {
    /// Older than the open telemetry bucket of its signal (out of order beyond the bucket).
    Late,
}

/// Everything the heartbeat reports besides the outbox.
#[derive(Debug)]
pub struct Metrics {
    pub started: Instant,
    /// Each stage's progress, and the stalled ones ([`super::progress`]).
    pub progress: super::progress::Progress,
    pub sources: Vec<Arc<SourceMetrics>>,
    late: AtomicU64,
    time_rebases: AtomicU64,
    write_lost: AtomicU64,
    delivered: AtomicU64,
    delivery_errors: AtomicU64,
    last_delivery_ns: AtomicI64,
    last_error: Mutex<Option<String>>,
    /// The Kafka clients' errors by cause, and the last one's message.
    kafka_client_errors: CauseCounts,
    /// Published by the model runner thread, read by the heartbeat.
    models: Mutex<std::collections::BTreeMap<String, crate::record::ModelStatus>>,
    /// Published by the model thread too.
    detectors: Mutex<std::collections::BTreeMap<String, crate::record::DetectorStatus>>,
}

impl Metrics {
    /// Replace the models' status (from the runner thread).
    pub fn set_models(&self, m: std::collections::BTreeMap<String, crate::record::ModelStatus>) {
        if let Ok(mut g) = self.models.lock() {
            *g = m;
        }
    }

    /// Replace the detectors' status (from the model thread).
    pub fn set_detectors(
        &self,
        d: std::collections::BTreeMap<String, crate::record::DetectorStatus>,
    ) {
        if let Ok(mut g) = self.detectors.lock() {
            *g = d;
        }
    }

    pub fn detectors(&self) -> std::collections::BTreeMap<String, crate::record::DetectorStatus> {
        self.detectors.lock().map(|g| g.clone()).unwrap_or_default()
    }

    pub fn models(&self) -> std::collections::BTreeMap<String, crate::record::ModelStatus> {
        self.models.lock().map(|g| g.clone()).unwrap_or_default()
    }

    pub fn new(source_names: &[&str]) -> Metrics {
        Metrics {
            started: Instant::now(),
            progress: Default::default(),
            sources: source_names
                .iter()
                .map(|n| Arc::new(SourceMetrics::new(n)))
                .collect(),
            late: AtomicU64::new(0),
            time_rebases: AtomicU64::new(0),
            write_lost: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            delivery_errors: AtomicU64::new(0),
            last_delivery_ns: AtomicI64::new(0),
            last_error: Mutex::new(None),
            kafka_client_errors: CauseCounts::default(),
            models: Mutex::new(Default::default()),
            detectors: Mutex::new(Default::default()),
        }
    }

    pub fn source(&self, name: &str) -> Option<Arc<SourceMetrics>> {
        self.sources.iter().find(|s| s.name == name).cloned()
    }

    pub fn drop_sample(&self, why: PipelineDrop, n: u64) {
        match why {
            PipelineDrop::Late => self.late.fetch_add(n, Relaxed),
        };
    }

    /// Event-time states that restarted because their signal's time went back.
    pub fn time_rebased(&self, n: u64) {
        self.time_rebases.fetch_add(n, Relaxed);
    }

    pub fn time_rebases(&self) -> u64 {
        self.time_rebases.load(Relaxed)
    }

    /// Records the outbox could not store even after retries (disk failure): lost.
    pub fn write_lost(&self, n: u64) {
        self.write_lost.fetch_add(n, Relaxed);
    }

    pub fn write_lost_count(&self) -> u64 {
        self.write_lost.load(Relaxed)
    }

    pub fn delivered(&self, n: u64, at_ns: i64) {
        self.delivered.fetch_add(n, Relaxed);
        self.last_delivery_ns.store(at_ns, Relaxed);
    }

    pub fn delivery_error(&self, message: String) {
        self.delivery_errors.fetch_add(1, Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(message);
        }
    }

    /// A Kafka client reported an error of cause `cause` (its text `message`).
    pub fn kafka_client_error(&self, cause: &'static str, message: &str) {
        self.kafka_client_errors.count(cause, message);
    }

    /// The Kafka clients' errors by cause, and the last one's message.
    pub fn kafka_client_errors(&self) -> (BTreeMap<String, u64>, Option<String>) {
        self.kafka_client_errors.report()
    }

    pub fn delivered_count(&self) -> u64 {
        self.delivered.load(Relaxed)
    }
    pub fn delivery_error_count(&self) -> u64 {
        self.delivery_errors.load(Relaxed)
    }
    pub fn last_delivery_ns(&self) -> Option<i64> {
        Some(self.last_delivery_ns.load(Relaxed)).filter(|t| *t > 0)
    }
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn pipeline_drops(&self) -> BTreeMap<String, u64> {
        let late = self.late.load(Relaxed);
        let mut m = BTreeMap::new();
        if late > 0 {
            m.insert("late".to_string(), late);
        }
        m
    }
}
