//! The status heartbeat: one [`Status`] record every `heartbeat_secs`.

use crate::config::GatewayConfig;
use crate::outbox::Outbox;
use crate::record::{now_ns, Status, STATUS_SCHEMA};

use super::Metrics;

/// Snapshot the gateway's health.
pub fn build_status(gateway: &GatewayConfig, metrics: &Metrics, outbox: &Outbox) -> Status {
    let now = now_ns();
    Status {
        schema: STATUS_SCHEMA.into(),
        gateway: gateway.id.clone(),
        site: gateway.site.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        ts_ns: now,
        uptime_secs: metrics.started.elapsed().as_secs_f64(),
        sources: metrics
            .sources
            .iter()
            .map(|s| (s.name.clone(), s.snapshot()))
            .collect(),
        outbox: outbox
            .class_status(now)
            .into_iter()
            .map(|(c, s)| (c.name().to_string(), s))
            .collect(),
        outbox_budget_bytes: outbox.budget_bytes(),
        outbox_write_lost: metrics.write_lost_count(),
        pipeline_drops: metrics.pipeline_drops(),
        delivered: metrics.delivered_count(),
        last_delivery_ns: metrics.last_delivery_ns(),
        delivery_errors: metrics.delivery_error_count(),
        last_delivery_error: metrics.last_error(),
    }
}
