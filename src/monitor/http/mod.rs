//! The local endpoint (`[metrics] listen`, off by default): `GET /metrics` in Prometheus' text
//! format ([`prometheus`]) and `GET /health` (200 while no stage is stalled, else 503), both
//! built from a fresh status, so a plant's own monitoring sees the counters the status topic
//! carries. The server (one request per connection, 8 at once, 5 s to send the head) is
//! [`crate::http`].

pub mod prometheus;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{build_status, FillEstimator, Metrics, OutboxHealth};
use crate::config::GatewayConfig;
use crate::http::{Answered, Handler, Response};
use crate::record::Status;

/// What the endpoint reads: the same as the heartbeat.
pub struct Endpoint {
    pub gateway: GatewayConfig,
    pub metrics: Arc<Metrics>,
    pub outbox_health: Arc<dyn Fn() -> OutboxHealth + Send + Sync>,
    answered: Arc<Answered>,
}

impl Endpoint {
    pub fn new(
        gateway: GatewayConfig,
        metrics: Arc<Metrics>,
        outbox_health: Arc<dyn Fn() -> OutboxHealth + Send + Sync>,
    ) -> Endpoint {
        Endpoint {
            gateway,
            metrics,
            outbox_health,
            answered: Default::default(),
        }
    }

    /// A fresh status, built on the blocking pool (it reads the outbox's counters).
    async fn status(self: &Arc<Self>) -> Option<Status> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            // Growth rates need two heartbeats; Prometheus computes its own (`rate()`).
            let mut fill = FillEstimator::default();
            build_status(&me.gateway, &me.metrics, (me.outbox_health)(), &mut fill)
        })
        .await
        .ok()
    }

    async fn route(self: Arc<Self>, path: String) -> Response {
        match path.as_str() {
            "/metrics" => match self.status().await {
                Some(s) => Response::new(
                    200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    prometheus::render(&s, &self.answered.counts()),
                ),
                None => Response::text(500, "status unavailable\n"),
            },
            "/health" => match self.status().await {
                Some(s) => {
                    let (code, body) = health(&s);
                    Response::new(code, "application/json", body)
                }
                None => Response::text(500, "status unavailable\n"),
            },
            _ => Response::text(404, "try /metrics or /health\n"),
        }
    }
}

/// Serve until `stop`.
pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>, stop: CancellationToken) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "Metrics endpoint listening (/metrics, /health).");
    }
    let answered = endpoint.answered.clone();
    let handler: Handler = Arc::new(move |r| Box::pin(endpoint.clone().route(r.path)));
    crate::http::serve("metrics endpoint", listener, handler, answered, stop).await
}

/// `/health`: 200 while no stage is stalled, else 503; the body says what is known.
pub fn health(s: &Status) -> (u16, String) {
    let ok = s.stalled.is_empty();
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "stalled" },
        "stalled": s.stalled,
        "gateway": s.gateway,
        "version": s.version,
        "uptime_secs": s.uptime_secs,
        "sources_connected": s.sources.iter().filter(|(_, x)| x.connected).count(),
        "sources": s.sources.len(),
        "outbox_records": s.outbox.values().map(|c| c.depth).sum::<u64>(),
        "last_delivery_ns": s.last_delivery_ns,
    });
    (if ok { 200 } else { 503 }, format!("{body}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_503_while_a_stage_is_stalled() {
        let mut s: Status = serde_json::from_value(serde_json::json!({
            "schema": "forewarn.status.v1", "gateway": "gw-1", "site": "s", "version": "0.1.0",
            "ts_ns": 1, "uptime_secs": 1.0, "sources": {}, "outbox": {},
            "outbox_budget_bytes": 1024, "pipeline_drops": {}, "delivered": 0, "delivery_errors": 0
        }))
        .expect("status");
        assert_eq!(health(&s).0, 200);
        s.stalled = vec!["forwarder".into()];
        let (code, body) = health(&s);
        assert_eq!(code, 503);
        assert!(body.contains("\"stalled\":[\"forwarder\"]"), "{body}");
    }
}
