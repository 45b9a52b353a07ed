//! The processing stage's loop: batches from the sources through the [`Processor`], records to
//! the outbox writer, model signals to the model thread. Only moves data; the logic is in
//! [`Processor`].

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::Processor;
use crate::channel;
use crate::ingest::Batch;
use crate::model;
use crate::monitor::progress::Stage;
use crate::monitor::{Metrics, PipelineDrop};
use crate::record::{now_ns, Record};

/// Samples the processing stage takes from one batch at a time (records of one chunk are sent
/// before the next chunk is processed).
const PROCESS_CHUNK: usize = 4096;

/// The model thread's sender and the (asset, signal) pairs it wants.
pub type ModelFeed = (
    channel::Sender<model::stage::ModelMsg>,
    Arc<model::stage::WantedSignals>,
);

/// Samples → records (to the writer first), then the model signals to the model thread, in
/// chunks of at most [`PROCESS_CHUNK`] samples, so that one large batch (a 1 MiB payload holds
/// up to 500 000 samples) never makes more than a chunk's records at once. Ends when the samples
/// channel closes; from `abandon_models` on it no longer waits for the model thread (shutdown
/// deadline), and counts what it could not hand over.
pub async fn run(
    mut p: Processor,
    mut rx: channel::Receiver<Batch>,
    tx: channel::Sender<Vec<Record>>,
    metrics: Arc<Metrics>,
    mut models: Option<ModelFeed>,
    abandon_models: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut not_modelled = 0u64;
    loop {
        let batch = tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => batch,
                None => break,
            },
            _ = tick.tick() => {
                let mut out = Vec::new();
                p.close_idle(now_ns(), &mut out);
                if !out.is_empty() && tx.send(out).await.is_err() {
                    return;
                }
                continue;
            }
        };
        metrics.progress.beat(Stage::Processing);
        for chunk in batch.chunks(PROCESS_CHUNK) {
            let mut out = Vec::new();
            let now = now_ns();
            for s in chunk {
                p.push(s, now, &mut out);
            }
            let late = p.take_late();
            if late > 0 {
                metrics.drop_sample(PipelineDrop::Late, late);
            }
            let rebases = p.take_rebases();
            if rebases > 0 {
                metrics.time_rebased(rebases);
            }
            if !out.is_empty() && tx.send(out).await.is_err() {
                return;
            }
            let Some((mtx, wanted)) = &models else {
                continue;
            };
            let for_models: Vec<_> = chunk
                .iter()
                .filter(|s| wanted.contains(&s.asset, &s.signal))
                .cloned()
                .collect();
            if for_models.is_empty() {
                continue;
            }
            let n = for_models.len() as u64;
            // Waits when the model thread is behind: backpressure, not loss, until the
            // shutdown deadline gives up on the model thread.
            tokio::select! {
                r = mtx.send(model::stage::ModelMsg::Samples(for_models)) => if r.is_err() {
                    error!("The model thread stopped; models no longer run.");
                    models = None;
                },
                _ = abandon_models.cancelled() => {
                    not_modelled += n;
                    models = None;
                }
            }
        }
    }
    if not_modelled > 0 {
        warn!(
            samples = not_modelled,
            "Shutdown: samples not handed to the stuck model thread."
        );
    }
    let mut out = Vec::new();
    p.close_all(&mut out);
    if !out.is_empty() {
        let _ = tx.send(out).await;
    }
}
