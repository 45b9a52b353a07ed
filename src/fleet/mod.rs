//! The center's side: `forewarn-fleet serve`, a web page of the whole fleet read from the
//! Kafka topics the gateways write. Nothing here runs on a gateway (the agent binary does not
//! link it).
//!
//! `consume` (a thread) → [`state::Fleet`] (plain data, bounded) ← `serve`'s HTTP handler:
//!
//! | path | answer |
//! |---|---|
//! | `/` | the page (`page.html`: no outside scripts, fonts or styles; it polls the API) |
//! | `/api/fleet` | every gateway's row, the alert timeline, the page's counters |
//! | `/api/gateway/<id>` | one gateway: its row, open alerts, per asset the charts |
//! | `/health` | 200 while the consumer reads every topic, else 503, with why |

pub mod cli;
pub mod consume;
pub mod state;
pub mod table;
pub mod tail;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::consume::{ConsumerState, Source};
use self::state::{Fleet, Limits};
use crate::http::{Answered, Handler, Response};
use crate::record::now_ns;

/// The page, served as is.
const PAGE: &str = include_str!("page.html");

/// Timeline events in each `/api/fleet` answer.
const TIMELINE: usize = 200;

/// What `serve` needs.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub source: Source,
    pub limits: Limits,
    pub offline_after: f64,
}

/// Serve the page until SIGINT or SIGTERM.
pub fn serve(options: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let fleet = Arc::new(Mutex::new(Fleet::new(
        options.limits,
        options.offline_after,
    )));
    let consumer = Arc::new(Mutex::new(ConsumerState::default()));
    let stop_reading = Arc::new(AtomicBool::new(false));
    let reader = {
        let (fleet, consumer, stop) = (fleet.clone(), consumer.clone(), stop_reading.clone());
        let source = options.source.clone();
        std::thread::Builder::new()
            .name("fleet-consumer".into())
            .spawn(move || consume::run(source, fleet, consumer, stop))?
    };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("--listen {}", options.listen))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            warn!(%addr, "The fleet page listens beyond this machine: it has no login; put it behind one.");
        }
        info!(%addr, "Fleet page at http://{addr}/");
        let stop = CancellationToken::new();
        let handler = handler(fleet.clone(), consumer.clone());
        let server = tokio::spawn(crate::http::serve(
            "fleet page",
            listener,
            handler,
            Arc::new(Answered::default()),
            stop.clone(),
        ));
        crate::app::signals::shutdown_on_signals(stop.clone());
        stop.cancelled().await;
        let _ = server.await;
        anyhow::Ok(())
    });
    stop_reading.store(true, Ordering::Relaxed);
    match reader.join() {
        Ok(r) => r.and(served),
        Err(_) => served.and(Err(anyhow::anyhow!("the consumer thread panicked"))),
    }
}

/// A lock that a panicked holder left behind is still used: the data are counters and views.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn handler(fleet: Arc<Mutex<Fleet>>, consumer: Arc<Mutex<ConsumerState>>) -> Handler {
    Arc::new(move |request| {
        let response = route(&request.path, &fleet, &consumer);
        Box::pin(async move { response })
    })
}

/// The answer for `path` (the work is a lock and a serialisation: done inline).
pub fn route(path: &str, fleet: &Mutex<Fleet>, consumer: &Mutex<ConsumerState>) -> Response {
    let now = now_ns();
    match path {
        "/" | "/index.html" => Response::new(200, "text/html; charset=utf-8", PAGE),
        "/api/fleet" => {
            let consumer = lock(consumer).clone();
            let fleet = lock(fleet);
            let mut view = serde_json::to_value(fleet.view(now, TIMELINE)).unwrap_or_default();
            view["consumer"] = serde_json::to_value(consumer).unwrap_or_default();
            Response::json(200, &view)
        }
        "/health" => {
            let c = lock(consumer).clone();
            let reading = c.missing.is_empty() && !c.partitions.is_empty();
            let code = if reading { 200 } else { 503 };
            Response::json(code, &c)
        }
        _ => match path.strip_prefix("/api/gateway/") {
            Some(id) => match lock(fleet).detail(id, now) {
                Some(d) => Response::json(200, &d),
                None => Response::text(404, "no such gateway\n"),
            },
            None => Response::text(404, "try / or /api/fleet\n"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_answer_and_health_waits_for_every_topic() {
        let fleet = Mutex::new(Fleet::new(Limits::default(), 3.0));
        let consumer = Mutex::new(ConsumerState::default());
        let page = route("/", &fleet, &consumer);
        assert_eq!(
            (page.code, page.content_type),
            (200, "text/html; charset=utf-8")
        );
        assert!(String::from_utf8_lossy(&page.body).contains("<title>forewarn fleet</title>"));
        let api = route("/api/fleet", &fleet, &consumer);
        let v: serde_json::Value = serde_json::from_slice(&api.body).expect("JSON");
        assert_eq!(v["gateways"], serde_json::json!([]));
        assert_eq!(v["consumer"]["errors"], 0);
        assert_eq!(route("/api/gateway/gw-1", &fleet, &consumer).code, 404);
        assert_eq!(route("/nothing", &fleet, &consumer).code, 404);
        // No partitions yet: not healthy; every topic read: healthy; one missing: not.
        assert_eq!(route("/health", &fleet, &consumer).code, 503);
        lock(&consumer)
            .partitions
            .insert("forewarn.status".into(), 3);
        assert_eq!(route("/health", &fleet, &consumer).code, 200);
        lock(&consumer).missing = vec!["forewarn.alerts".into()];
        let health = route("/health", &fleet, &consumer);
        assert_eq!(health.code, 503);
        assert!(String::from_utf8_lossy(&health.body).contains("forewarn.alerts"));
    }
}
