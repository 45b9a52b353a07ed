//! The fleet as the topics tell it: per gateway its last heartbeat, open alerts and, per asset,
//! recent telemetry and alert scores; the fleet's alert timeline. Plain data, fed one record at
//! a time by the consumer, read by the page. Every collection has a limit ([`Limits`]); what a
//! limit turns away is counted (`over_limit`), so memory stays bounded whatever the topics hold.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;

use crate::record::{Alert, AlertEvent, Severity, Status, Telemetry};

mod kept;
mod view;

pub use self::kept::{AlertEntry, AssetCharts, Heartbeat, Series};
pub use self::view::{FleetView, GatewayDetail, GatewaySummary};

const NS: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;

/// How much the fleet page keeps. The bound on memory is the sum of these: at the defaults,
/// at most 10,000 charts of 120 points (about 5 KB each with their maps, measured by the
/// micro bench's `fleet` group: 50 MB), 20,000 open alerts and 5,000 heartbeats of a few
/// hundred bytes each.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Gateways; past it, the one heard from least recently is forgotten.
    pub gateways: usize,
    /// Assets per gateway, signals (and alert rules) per asset: further ones are not kept.
    pub assets: usize,
    pub signals: usize,
    /// Charts in all (a signal's telemetry, a rule's scores): further ones are not kept.
    pub series: usize,
    /// Points per chart (the newest are kept).
    pub points: usize,
    /// Alert events in the timeline (the newest are kept).
    pub timeline: usize,
    /// Open alerts in all: past it, the oldest of the same gateway (or else of the gateway
    /// with the most) is dropped.
    pub open_alerts: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            gateways: 5_000,
            assets: 200,
            signals: 32,
            series: 10_000,
            points: 120,
            timeline: 500,
            open_alerts: 20_000,
        }
    }
}

/// A gateway's state, from the age of its last heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The last heartbeat is at most 1.5 intervals (+ 2 s) old.
    Online,
    /// Older than that, but fewer than `offline_after` intervals (+ 2 s) missed.
    Late,
    /// More missed.
    Offline,
    /// Its last heartbeat said it was stopping.
    Stopped,
    /// Alerts or telemetry seen, no heartbeat yet.
    Unknown,
}

#[derive(Debug, Clone, Default)]
struct Gateway {
    site: String,
    heartbeat: Option<Heartbeat>,
    /// When the last heartbeat was seen (fleet clock, ns), and the one before.
    seen_ns: Option<i64>,
    seen_before_ns: Option<i64>,
    /// Gateway clock minus fleet clock at the last heartbeat read as it came.
    skew_ns: Option<i64>,
    /// Any record (for forgetting the least recently heard gateway).
    touched_ns: i64,
    open: BTreeMap<String, AlertEntry>,
    assets: BTreeMap<String, AssetCharts>,
}

impl Gateway {
    fn series(&self) -> usize {
        self.assets
            .values()
            .map(|a| a.telemetry.len() + a.scores.len())
            .sum()
    }

    /// Drop the oldest open alert; whether there was one.
    fn drop_oldest_open(&mut self) -> bool {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, e)| e.ts_ms)
            .map(|(k, _)| k.clone());
        oldest.is_some_and(|k| self.open.remove(&k).is_some())
    }

    fn interval_secs(&self) -> f64 {
        match &self.heartbeat {
            Some(h) if h.heartbeat_secs > 0 => h.heartbeat_secs as f64,
            // An agent that does not say: the gap between its last two heartbeats.
            _ => match (self.seen_ns, self.seen_before_ns) {
                (Some(a), Some(b)) if a > b => (a - b) as f64 / NS as f64,
                _ => 30.0,
            },
        }
    }

    fn state(&self, now_ns: i64, offline_after: f64) -> State {
        let (Some(h), Some(seen)) = (&self.heartbeat, self.seen_ns) else {
            return State::Unknown;
        };
        if h.stopping {
            return State::Stopped;
        }
        let age = (now_ns - seen) as f64 / NS as f64;
        let interval = self.interval_secs();
        if age <= 1.5 * interval + 2.0 {
            State::Online
        } else if age <= offline_after * interval + 2.0 {
            State::Late
        } else {
            State::Offline
        }
    }
}

/// The page's counters: records read, turned away (by reason) and over a limit (by kind).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub records: u64,
    pub rejected: BTreeMap<String, u64>,
    pub last_rejection: Option<String>,
    pub over_limit: BTreeMap<&'static str, u64>,
}

/// The whole fleet.
#[derive(Debug)]
pub struct Fleet {
    limits: Limits,
    offline_after: f64,
    gateways: HashMap<String, Gateway>,
    timeline: VecDeque<AlertEntry>,
    /// Charts and open alerts kept, in all gateways.
    series: usize,
    open: usize,
    pub counts: Counts,
}

impl Fleet {
    /// `offline_after`: missed heartbeats after which a gateway shows as offline (at least 2).
    pub fn new(limits: Limits, offline_after: f64) -> Fleet {
        Fleet {
            limits,
            offline_after: offline_after.max(2.0),
            gateways: HashMap::new(),
            timeline: VecDeque::new(),
            series: 0,
            open: 0,
            counts: Counts::default(),
        }
    }

    /// A record turned away, with why.
    pub fn reject(&mut self, reason: &str, detail: String) {
        *self.counts.rejected.entry(reason.to_string()).or_default() += 1;
        self.counts.last_rejection = Some(detail);
    }

    fn over(&mut self, what: &'static str) {
        *self.counts.over_limit.entry(what).or_default() += 1;
    }

    /// The gateway's entry, made if new (forgetting the least recently heard one at the limit).
    fn gateway(&mut self, id: &str, site: &str, now_ns: i64) -> &mut Gateway {
        self.admit(id);
        let g = self.gateways.entry(id.to_string()).or_default();
        if g.site != site {
            g.site = site.to_string();
        }
        g.touched_ns = now_ns;
        g
    }

    /// Room for gateway `id`: at the limit, a new one makes the least recently heard go, and
    /// what it held is free again.
    fn admit(&mut self, id: &str) {
        if !self.gateways.contains_key(id) && self.gateways.len() >= self.limits.gateways {
            let oldest = self
                .gateways
                .iter()
                .min_by_key(|(_, g)| g.touched_ns)
                .map(|(k, _)| k.clone());
            if let Some(g) = oldest.and_then(|k| self.gateways.remove(&k)) {
                self.series -= g.series();
                self.open -= g.open.len();
                self.over("gateways");
            }
        }
    }

    /// A heartbeat. `live`: read as it came (not from the backlog read at start), so the
    /// fleet clock says when it was sent; a backlog record's own time is used (never later
    /// than now).
    pub fn status(&mut self, s: &Status, live: bool, now_ns: i64) {
        self.counts.records += 1;
        let seen = if live { now_ns } else { s.ts_ns.min(now_ns) };
        let g = self.gateway(&s.gateway, &s.site, now_ns);
        if g.seen_ns.is_some_and(|t| t > seen) {
            return; // older than the one kept
        }
        g.seen_before_ns = g.seen_ns;
        g.seen_ns = Some(seen);
        g.skew_ns = live.then_some(s.ts_ns - now_ns);
        g.heartbeat = Some(Heartbeat::from(s));
    }

    pub fn alert(&mut self, a: &Alert, now_ns: i64) {
        self.counts.records += 1;
        let limits = self.limits;
        let entry = AlertEntry::from(a);
        self.admit(&a.gateway);
        let opens = a.event != AlertEvent::Cleared
            && !self
                .gateways
                .get(&a.gateway)
                .is_some_and(|g| g.open.contains_key(&a.id));
        if opens && self.open >= limits.open_alerts {
            self.drop_an_open_alert(&a.gateway);
        }
        let series_room = self.series < limits.series;
        let g = self.gateway(&a.gateway, &a.site, now_ns);
        let mut open_delta = 0isize;
        match a.event {
            AlertEvent::Cleared => {
                if g.open.remove(&a.id).is_some() {
                    open_delta = -1;
                }
            }
            _ => {
                if g.open.insert(a.id.clone(), entry.clone()).is_none() {
                    open_delta = 1;
                }
            }
        }
        let (new_series, over) = match asset_charts(g, &a.asset, limits) {
            Some(charts) => {
                let room = series_room && charts.scores.len() < limits.signals;
                match charts.scores.get_mut(&a.rule) {
                    Some(s) => {
                        s.push(entry.ts_ms, [a.value, a.limit], limits.points);
                        (false, None)
                    }
                    None if room => {
                        let mut s = Series {
                            unit: None,
                            points: VecDeque::with_capacity(limits.points),
                        };
                        s.push(entry.ts_ms, [a.value, a.limit], limits.points);
                        charts.scores.insert(a.rule.clone(), s);
                        (true, None)
                    }
                    None if series_room => (false, Some("signals")),
                    None => (false, Some("series")),
                }
            }
            None => (false, Some("assets")),
        };
        self.open = self.open.saturating_add_signed(open_delta);
        self.series += usize::from(new_series);
        if let Some(o) = over {
            self.over(o);
        }
        self.timeline.push_back(entry);
        while self.timeline.len() > limits.timeline {
            self.timeline.pop_front();
        }
    }

    /// Make room for one open alert: the oldest of `gateway`'s, or else of the gateway with
    /// the most.
    fn drop_an_open_alert(&mut self, gateway: &str) {
        let dropped = match self.gateways.get_mut(gateway) {
            Some(g) if !g.open.is_empty() => g.drop_oldest_open(),
            _ => self
                .gateways
                .values_mut()
                .max_by_key(|g| g.open.len())
                .is_some_and(Gateway::drop_oldest_open),
        };
        if dropped {
            self.open -= 1;
            self.over("open_alerts");
        }
    }

    pub fn telemetry(&mut self, t: &Telemetry, now_ns: i64) {
        self.counts.records += 1;
        let limits = self.limits;
        self.admit(&t.gateway);
        let series_room = self.series < limits.series;
        let g = self.gateway(&t.gateway, &t.site, now_ns);
        let over = match asset_charts(g, &t.asset, limits) {
            Some(charts) => {
                let room = series_room && charts.telemetry.len() < limits.signals;
                match charts.telemetry.get_mut(&t.signal) {
                    Some(s) => {
                        s.push(t.end_ns / MS, [t.mean, t.min, t.max], limits.points);
                        None
                    }
                    None if room => {
                        let mut s = Series {
                            unit: t.unit.clone(),
                            points: VecDeque::with_capacity(limits.points),
                        };
                        s.push(t.end_ns / MS, [t.mean, t.min, t.max], limits.points);
                        charts.telemetry.insert(t.signal.clone(), s);
                        self.series += 1;
                        None
                    }
                    None if series_room => Some("signals"),
                    None => Some("series"),
                }
            }
            None => Some("assets"),
        };
        if let Some(o) = over {
            self.over(o);
        }
    }

    fn summary<'a>(&self, id: &'a str, g: &'a Gateway, now_ns: i64) -> GatewaySummary<'a> {
        GatewaySummary {
            id,
            site: &g.site,
            state: g.state(now_ns, self.offline_after),
            age_secs: g.seen_ns.map(|s| (now_ns - s) as f64 / NS as f64),
            heartbeat: g.heartbeat.as_ref(),
            clock_skew_secs: g.skew_ns.map(|s| s as f64 / NS as f64),
            open_alerts: g.open.len(),
            worst_open: g.open.values().map(|e| e.severity).max_by_key(|s| rank(*s)),
            assets: g.assets.len(),
        }
    }

    /// The table, the timeline (newest first, at most `timeline` events) and the counters.
    pub fn view(&self, now_ns: i64, timeline: usize) -> FleetView<'_> {
        let mut gateways: Vec<_> = self
            .gateways
            .iter()
            .map(|(id, g)| self.summary(id, g, now_ns))
            .collect();
        gateways.sort_by(|a, b| (a.site, a.id).cmp(&(b.site, b.id)));
        let mut states = BTreeMap::new();
        for g in &gateways {
            *states.entry(g.state).or_default() += 1;
        }
        FleetView {
            now_ms: now_ns / MS,
            offline_after: self.offline_after,
            states,
            gateways,
            timeline: self.timeline.iter().rev().take(timeline).collect(),
            counts: &self.counts,
        }
    }

    pub fn detail(&self, id: &str, now_ns: i64) -> Option<GatewayDetail<'_>> {
        let (id, g) = self.gateways.get_key_value(id)?;
        let mut open: Vec<_> = g.open.values().collect();
        open.sort_by_key(|e| std::cmp::Reverse(e.ts_ms));
        Some(GatewayDetail {
            summary: self.summary(id, g, now_ns),
            open_alerts: open,
            assets: &g.assets,
        })
    }
}

/// The asset's charts, made if there is room.
fn asset_charts<'a>(
    g: &'a mut Gateway,
    asset: &str,
    limits: Limits,
) -> Option<&'a mut AssetCharts> {
    if !g.assets.contains_key(asset) && g.assets.len() >= limits.assets {
        return None;
    }
    Some(g.assets.entry(asset.to_string()).or_default())
}

fn rank(s: Severity) -> u8 {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

#[cfg(test)]
mod tests;
