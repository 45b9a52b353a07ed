//! The local endpoint (`[metrics] listen`, off by default): `GET /metrics` in Prometheus' text
//! format ([`prometheus`]) and `GET /health` (200 while no stage is stalled, else 503), both
//! built from a fresh status, so a plant's own monitoring sees the counters the status topic
//! carries. It answers one request per connection (`Connection: close`); a head larger than
//! 8 KiB, a malformed one or one not complete within [`READ_TIMEOUT`] is refused, and at most
//! [`MAX_CONNECTIONS`] are served at once (others wait in the listen backlog).

pub mod prometheus;
pub mod request;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::request::{HeadError, Method, MAX_HEAD_BYTES};
use super::{build_status, FillEstimator, Metrics, OutboxHealth};
use crate::config::GatewayConfig;
use crate::record::Status;

/// A request head must be complete within this.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 8;

/// The status codes this endpoint answers with, counted.
const CODES: [u16; 8] = [200, 400, 404, 405, 408, 431, 500, 503];

/// What the endpoint reads: the same as the heartbeat.
pub struct Endpoint {
    pub gateway: GatewayConfig,
    pub metrics: Arc<Metrics>,
    pub outbox_health: Arc<dyn Fn() -> OutboxHealth + Send + Sync>,
    answered: [AtomicU64; CODES.len()],
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

    fn answered(&self, code: u16) {
        if let Some(i) = CODES.iter().position(|c| *c == code) {
            self.answered[i].fetch_add(1, Relaxed);
        }
    }

    fn counts(&self) -> Vec<(u16, u64)> {
        CODES
            .iter()
            .zip(&self.answered)
            .map(|(c, n)| (*c, n.load(Relaxed)))
            .collect()
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
}

/// Serve until `stop`.
pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>, stop: CancellationToken) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "Metrics endpoint listening (/metrics, /health).");
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let endpoint = endpoint.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &endpoint).await {
                        debug!(%peer, error = %e, "Metrics request ended early.");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                warn!(error = %e, "Metrics endpoint: accept failed.");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Read one request head and answer it.
async fn answer(mut stream: TcpStream, endpoint: &Arc<Endpoint>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    let parsed = loop {
        match request::parse(&buf) {
            Ok(Some(r)) => break Ok(r),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(r) => r?,
            Err(_) => {
                endpoint.answered(408);
                return respond(
                    &mut stream,
                    408,
                    "text/plain",
                    "request head not complete in time\n",
                    false,
                )
                .await;
            }
        };
        if n == 0 {
            return Ok(()); // the client left
        }
        let room = (MAX_HEAD_BYTES + 4).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..n.min(room)]);
    };
    let (code, kind, body, head_only) = match parsed {
        Err(e @ HeadError::TooLarge) => (431, "text/plain", format!("{e}\n"), false),
        Err(e) => (400, "text/plain", format!("{e}\n"), false),
        Ok(r) => {
            let head_only = r.method == Method::Head;
            match (r.method, r.path.as_str()) {
                (Method::Other, _) => (405, "text/plain", "only GET and HEAD\n".into(), false),
                (_, "/metrics") => match endpoint.status().await {
                    Some(s) => (
                        200,
                        "text/plain; version=0.0.4; charset=utf-8",
                        prometheus::render(&s, &endpoint.counts()),
                        head_only,
                    ),
                    None => (500, "text/plain", "status unavailable\n".into(), head_only),
                },
                (_, "/health") => match endpoint.status().await {
                    Some(s) => {
                        let (code, body) = health(&s);
                        (code, "application/json", body, head_only)
                    }
                    None => (500, "text/plain", "status unavailable\n".into(), head_only),
                },
                _ => (
                    404,
                    "text/plain",
                    "try /metrics or /health\n".into(),
                    head_only,
                ),
            }
        }
    };
    endpoint.answered(code);
    respond(&mut stream, code, kind, &body, head_only).await
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

async fn respond(
    stream: &mut TcpStream,
    code: u16,
    kind: &str,
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let allow = if code == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{allow}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await?;
    // Read what the client still sends (a refused head's rest) for a moment before closing:
    // closing with unread input resets the connection, and the client may lose the answer.
    let mut sink = [0u8; 4096];
    let mut left = 64 * 1024usize;
    let until = tokio::time::Instant::now() + Duration::from_millis(200);
    while left > 0 {
        match tokio::time::timeout_at(until, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
    Ok(())
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
