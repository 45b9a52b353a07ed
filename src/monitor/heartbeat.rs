//! The status heartbeat: every `heartbeat_secs` a [`Status`](crate::record::Status) record
//! into the records channel (so it is committed and forwarded like any record) and the same
//! summary to systemd (`STATUS=`). Building a status reads the outbox's LMDB counters
//! (`outbox_health`, given by the wiring), so it runs on tokio's blocking pool, never on the
//! reactor's threads.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::error;

use super::systemd::{self, Notifier};
use super::{build_status, FillEstimator, Metrics, OutboxHealth};
use crate::channel::{self, ToWrite};
use crate::config::GatewayConfig;
use crate::record::Record;

/// Runs until `stop`, then sends one last status and ends (or ends when the records channel
/// closed).
pub async fn run(
    gateway: GatewayConfig,
    metrics: Arc<Metrics>,
    outbox_health: Arc<dyn Fn() -> OutboxHealth + Send + Sync>,
    tx: channel::Sender<ToWrite>,
    stop: CancellationToken,
    notifier: Arc<Notifier>,
) {
    let gateway = Arc::new(gateway);
    let mut tick = tokio::time::interval(gateway.heartbeat);
    tick.tick().await;
    let mut fill = FillEstimator::default();
    loop {
        let last = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tick.tick() => false,
        };
        let (g, m, o) = (gateway.clone(), metrics.clone(), outbox_health.clone());
        let mut f = std::mem::take(&mut fill);
        let built = tokio::task::spawn_blocking(move || {
            let status = build_status(&g, &m, o(), &mut f);
            (status, f)
        })
        .await;
        let status = match built {
            Ok((mut status, f)) => {
                fill = f;
                status.stopping = last;
                status
            }
            Err(e) => {
                // The growth-rate estimate starts again (`fill` is back to its default).
                error!(error = %e, "Building the status failed; skipping this heartbeat.");
                if last {
                    return;
                }
                continue;
            }
        };
        notifier.status(&systemd::status_line(&status));
        if tx.send(vec![Record::Status(status)].into()).await.is_err() || last {
            return;
        }
    }
}
