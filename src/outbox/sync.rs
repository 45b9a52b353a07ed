//! `batched` durability's periodic fsync: a task that calls [`Outbox::sync`] every interval
//! on tokio's blocking pool, until stopped. (`run` syncs once more at the end.)

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::error;

use super::Outbox;

/// Sync `outbox` every `every` until `stop`.
pub async fn periodic(outbox: Arc<Outbox>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let o = outbox.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || o.sync()).await {
            error!(error = %e, "Outbox sync failed.");
        }
    }
}
