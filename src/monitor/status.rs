//! The status heartbeat: one [`Status`] record every `heartbeat_secs`.

use crate::config::GatewayConfig;
use crate::record::{clock_ok, now_ns, Class, ClassStatus, Status, STATUS_SCHEMA};

use super::Metrics;

/// Predicts when the outbox budget fills from its net growth between heartbeats.
///
/// The rate is an exponentially weighted mean of per-interval growth (weight [`Self::ALPHA`]
/// for the newest interval), so one burst does not swing the estimate, and a change in trend
/// shows within a few heartbeats.
#[derive(Debug, Default)]
pub struct FillEstimator {
    last: Option<(i64, u64)>,
    rate: f64,
}

impl FillEstimator {
    pub const ALPHA: f64 = 0.3;

    /// Observe the bytes used at `now_ns`; returns (bytes per second, seconds until full).
    pub fn observe(&mut self, now_ns: i64, used: u64, budget: u64) -> (f64, Option<f64>) {
        if let Some((t, u)) = self.last {
            let dt = (now_ns - t) as f64 / 1e9;
            if dt > 0.0 {
                let r = (used as f64 - u as f64) / dt;
                self.rate = Self::ALPHA * r + (1.0 - Self::ALPHA) * self.rate;
            }
        }
        self.last = Some((now_ns, used));
        let eta = if self.rate > 0.0 {
            Some((budget.saturating_sub(used) as f64 / self.rate).max(0.0))
        } else {
            None
        };
        (self.rate, eta)
    }
}

/// The outbox's part of a status, as the outbox reports it (`Outbox::health`): the monitor
/// reads the numbers and never the store itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxHealth {
    pub classes: Vec<(Class, ClassStatus)>,
    /// Stored bytes as the budget counts them.
    pub total_bytes: u64,
    pub budget_bytes: u64,
    pub quarantined: u64,
    /// Records Kafka will never take, held as dead letters.
    pub dead: u64,
    pub recovered: u64,
    pub set_aside: u64,
    /// How the store was recovered at open, if it was.
    pub recovery: Option<String>,
    /// Classes whose Kafka topic refuses the agent.
    pub refused: Vec<Class>,
}

/// Snapshot the gateway's health.
pub fn build_status(
    gateway: &GatewayConfig,
    metrics: &Metrics,
    outbox: OutboxHealth,
    fill: &mut FillEstimator,
) -> Status {
    let now = now_ns();
    let (fill_rate, full_in) = fill.observe(now, outbox.total_bytes, outbox.budget_bytes);
    let (kafka_client_errors, last_kafka_client_error) = metrics.kafka_client_errors();
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
            .classes
            .into_iter()
            .map(|(c, s)| (c.name().to_string(), s))
            .collect(),
        outbox_budget_bytes: outbox.budget_bytes,
        outbox_write_lost: metrics.write_lost_count(),
        pipeline_drops: metrics.pipeline_drops(),
        delivered: metrics.delivered_count(),
        last_delivery_ns: metrics.last_delivery_ns(),
        delivery_errors: metrics.delivery_error_count(),
        last_delivery_error: metrics.last_error(),
        kafka_client_errors,
        last_kafka_client_error,
        outbox_quarantined: outbox.quarantined,
        outbox_dead_letters: outbox.dead,
        outbox_recovered: outbox.recovered,
        outbox_set_aside: outbox.set_aside,
        outbox_recovery: outbox.recovery,
        outbox_refused: outbox
            .refused
            .iter()
            .map(|c| c.name().to_string())
            .collect(),
        outbox_fill_bytes_per_sec: fill_rate,
        outbox_full_in_secs: full_in,
        models: metrics.models(),
        detectors: metrics.detectors(),
        clock_ok: clock_ok(now),
        time_rebases: metrics.time_rebases(),
        stalled: metrics.progress.stalled(),
        heartbeat_secs: gateway.heartbeat.as_secs(),
        config_revision: gateway.revision.clone(),
        stopping: false,
    }
}

#[cfg(test)]
mod tests {
    use super::FillEstimator;

    const S: i64 = 1_000_000_000;

    #[test]
    fn steady_growth_predicts_the_time_until_the_budget_is_full() {
        let mut f = FillEstimator::default();
        assert_eq!(f.observe(0, 0, 10_000), (0.0, None));
        let mut out = (0.0, None);
        for i in 1..=40 {
            out = f.observe(i * S, i as u64 * 100, 10_000);
        }
        let (rate, eta) = out;
        assert!((rate - 100.0).abs() < 0.1, "{rate}");
        // 4000 used, 6000 left at 100 B/s.
        assert!((eta.unwrap() - 60.0).abs() < 0.1, "{eta:?}");
    }

    #[test]
    fn a_draining_or_flat_outbox_has_no_prediction_and_a_full_one_says_zero() {
        let mut f = FillEstimator::default();
        f.observe(0, 5_000, 10_000);
        assert_eq!(f.observe(S, 4_000, 10_000).1, None);
        let mut f = FillEstimator::default();
        f.observe(0, 9_000, 10_000);
        assert_eq!(f.observe(S, 11_000, 10_000).1, Some(0.0));
    }
}
