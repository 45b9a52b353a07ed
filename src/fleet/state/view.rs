//! What the page's API answers: borrowed views of the [`super::Fleet`], serialised as they are.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{AlertEntry, AssetCharts, Counts, Heartbeat, State};
use crate::record::Severity;

/// One row of the fleet table.
#[derive(Debug, Serialize)]
pub struct GatewaySummary<'a> {
    pub id: &'a str,
    pub site: &'a str,
    pub state: State,
    /// Seconds since the last heartbeat (fleet clock).
    pub age_secs: Option<f64>,
    pub heartbeat: Option<&'a Heartbeat>,
    pub clock_skew_secs: Option<f64>,
    pub open_alerts: usize,
    pub worst_open: Option<Severity>,
    pub assets: usize,
}

/// What `/api/fleet` answers.
#[derive(Debug, Serialize)]
pub struct FleetView<'a> {
    pub now_ms: i64,
    pub offline_after: f64,
    pub states: BTreeMap<State, usize>,
    pub gateways: Vec<GatewaySummary<'a>>,
    /// Newest first.
    pub timeline: Vec<&'a AlertEntry>,
    pub counts: &'a Counts,
}

/// What `/api/gateway/<id>` answers.
#[derive(Debug, Serialize)]
pub struct GatewayDetail<'a> {
    pub summary: GatewaySummary<'a>,
    /// Newest first.
    pub open_alerts: Vec<&'a AlertEntry>,
    pub assets: &'a BTreeMap<String, AssetCharts>,
}
