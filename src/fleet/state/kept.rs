//! What the fleet keeps of each record: a heartbeat's summary, an alert event, and charts.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::MS;
use crate::record::{Alert, AlertEvent, Severity, Status};

/// What the page shows of a heartbeat.
#[derive(Debug, Clone, Serialize)]
pub struct Heartbeat {
    pub version: String,
    pub config_revision: String,
    pub uptime_secs: f64,
    pub heartbeat_secs: u64,
    pub stopping: bool,
    pub clock_ok: bool,
    pub sources: usize,
    pub sources_connected: usize,
    pub outbox_records: u64,
    pub outbox_bytes: u64,
    pub outbox_budget_bytes: u64,
    pub outbox_full_in_secs: Option<f64>,
    pub delivered: u64,
    pub delivery_errors: u64,
    pub stalled: Vec<String>,
    /// `name version (first 8 hex digits of its sha256)` of each model that runs.
    pub models: Vec<String>,
    pub ts_ms: i64,
}

impl From<&Status> for Heartbeat {
    fn from(s: &Status) -> Heartbeat {
        Heartbeat {
            version: s.version.clone(),
            config_revision: s.config_revision.clone(),
            uptime_secs: s.uptime_secs,
            heartbeat_secs: s.heartbeat_secs,
            stopping: s.stopping,
            clock_ok: s.clock_ok,
            sources: s.sources.len(),
            sources_connected: s.sources.values().filter(|x| x.connected).count(),
            outbox_records: s.outbox.values().map(|c| c.depth).sum(),
            outbox_bytes: s.outbox.values().map(|c| c.bytes).sum(),
            outbox_budget_bytes: s.outbox_budget_bytes,
            outbox_full_in_secs: s.outbox_full_in_secs,
            delivered: s.delivered,
            delivery_errors: s.delivery_errors,
            stalled: s.stalled.clone(),
            models: s
                .models
                .iter()
                .filter(|(_, m)| m.running)
                .map(|(n, m)| match m.sha256.get(..8) {
                    Some(sha) => format!("{n} {} ({sha})", m.version),
                    None => format!("{n} {}", m.version),
                })
                .collect(),
            ts_ms: s.ts_ns / MS,
        }
    }
}

/// One alert event, as the timeline and the open-alert lists show it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertEntry {
    pub id: String,
    pub event: AlertEvent,
    pub gateway: String,
    pub asset: String,
    pub rule: String,
    pub severity: Severity,
    pub signal: String,
    pub value: f64,
    pub limit: f64,
    pub ts_ms: i64,
    pub since_ms: i64,
    /// The model or detector behind it, if any.
    pub by: Option<String>,
}

impl From<&Alert> for AlertEntry {
    fn from(a: &Alert) -> AlertEntry {
        let by = match (&a.model, &a.detector) {
            (Some(m), _) => Some(format!("model {} {}", m.name, m.version)),
            (None, Some(d)) => Some(format!("detector {}", d.name)),
            (None, None) => None,
        };
        AlertEntry {
            id: a.id.clone(),
            event: a.event,
            gateway: a.gateway.clone(),
            asset: a.asset.clone(),
            rule: a.rule.clone(),
            severity: a.severity,
            signal: a.signal.clone(),
            value: a.value,
            limit: a.limit,
            ts_ms: a.ts_ns / MS,
            since_ms: a.since_ns / MS,
            by,
        }
    }
}

/// A chart: `[time (ms since the epoch), values...]`, oldest first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Series<V> {
    pub unit: Option<String>,
    pub points: VecDeque<(i64, V)>,
}

impl<V> Series<V> {
    /// In time order (a point older than the newest goes to its place), the newest `max` kept.
    pub(super) fn push(&mut self, t: i64, values: V, max: usize) {
        let at = self.points.partition_point(|(x, _)| *x <= t);
        self.points.insert(at, (t, values));
        while self.points.len() > max {
            self.points.pop_front();
        }
    }
}

/// One asset's charts: telemetry per signal (`[mean, min, max]`) and, per alert rule, the
/// alerts' scores (`[value, limit]`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AssetCharts {
    pub telemetry: BTreeMap<String, Series<[f64; 3]>>,
    pub scores: BTreeMap<String, Series<[f64; 2]>>,
}
