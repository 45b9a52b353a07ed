//! The processing stage's loop: batches from the sources through the [`Processor`], records to
//! the outbox writer, then its checkpoint when [`Pacer`] says so, model signals to the model
//! thread. Only moves data; the logic is in [`Processor`] and [`Pacer`].

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::pace::Pacer;
use super::Processor;
use crate::channel::{self, ToWrite};
use crate::ingest::Batch;
use crate::model;
use crate::monitor::progress::Stage;
use crate::monitor::{Metrics, PipelineDrop};
use crate::record::now_ns;

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
/// deadline), and counts what it could not hand over. Its state goes to the writer as a
/// checkpoint after the records it made ([`Pacer`] says when; always at the end).
pub async fn run(
    mut p: Processor,
    mut rx: channel::Receiver<Batch>,
    tx: channel::Sender<ToWrite>,
    metrics: Arc<Metrics>,
    mut models: Option<ModelFeed>,
    abandon_models: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut not_modelled = 0u64;
    let mut pace = Pacer::new(Instant::now().into_std());
    loop {
        if pace.due(rx.has_queued(), Instant::now().into_std())
            && !checkpoint(&p, &mut pace, &tx).await
        {
            return;
        }
        let next_due = pace.next_due().map(Instant::from_std);
        let batch = tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => batch,
                None => break,
            },
            _ = tick.tick() => {
                let mut out = Vec::new();
                p.close_idle(now_ns(), &mut out);
                if !out.is_empty() {
                    pace.changed();
                    if tx.send(out.into()).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            _ = pace.own().changed(), if pace.waiting_for_commit() => continue,
            _ = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => continue,
        };
        metrics.progress.beat(Stage::Processing);
        let receipt = batch.receipt.clone();
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
            if !out.is_empty() && tx.send(out.into()).await.is_err() {
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
        pace.processed(receipt);
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
        let _ = tx.send(out.into()).await;
    }
    // The state after the last records (the buckets are closed; the rule states stay).
    pace.changed();
    checkpoint(&p, &mut pace, &tx).await;
}

/// Sends the processor's state as a checkpoint; false if the writer is gone. A state that
/// does not encode is logged and skipped (the records still go; a crash would start from the
/// previous checkpoint).
async fn checkpoint(p: &Processor, pace: &mut Pacer, tx: &channel::Sender<ToWrite>) -> bool {
    let state = match p.checkpoint() {
        Ok(state) => state,
        Err(e) => {
            error!(error = %e, "The processing state does not encode; no checkpoint.");
            return true;
        }
    };
    let receipts = pace.sent(Instant::now().into_std());
    let msg = ToWrite {
        records: Vec::new(),
        checkpoints: vec![channel::Checkpoint {
            key: crate::outbox::PROCESSING_STATE,
            state,
            receipts,
        }],
    };
    tx.send(msg).await.is_ok()
}
