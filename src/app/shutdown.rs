//! The shutdown order and its deadline (the order is in the `app` module header).
//!
//! [`Deadline`] turns the root token into two later ones: half of [`SHUTDOWN_DEADLINE`] after
//! the signal, `abandon_models` (stop waiting for a model thread that does not take
//! samples); at the deadline, `hard_stop` (stop waiting for anything). [`Stages::drain`]
//! waits for each stage in data-flow order and names the one it waits for, so a deadline
//! that passes says where.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::SHUTDOWN_DEADLINE;
use crate::channel::{self, ToWrite};
use crate::monitor::systemd::Notifier;
use crate::outbox::writer::WriterHandle;
use crate::outbox::Outbox;

/// The shutdown phases after the root token is cancelled.
pub struct Deadline {
    pub abandon_models: CancellationToken,
    pub hard_stop: CancellationToken,
}

impl Deadline {
    /// Starts the timer that cancels the phases' tokens once `signal` is cancelled.
    pub fn start(signal: &CancellationToken) -> Deadline {
        let d = Deadline {
            abandon_models: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
        };
        let (signal, models, hard) = (
            signal.clone(),
            d.abandon_models.clone(),
            d.hard_stop.clone(),
        );
        tokio::spawn(async move {
            signal.cancelled().await;
            tokio::time::sleep(SHUTDOWN_DEADLINE / 2).await;
            models.cancel();
            tokio::time::sleep(SHUTDOWN_DEADLINE / 2).await;
            hard.cancel();
        });
        d
    }
}

/// The outbox writer thread as shutdown sees it.
pub struct Writer {
    pub handle: WriterHandle,
    /// Whether records still wait in its channel.
    pub queue: channel::WeakSender<ToWrite>,
}

/// Every stage `run` started, in the order shutdown waits for them.
pub struct Stages {
    pub sources: JoinSet<()>,
    pub process: JoinHandle<()>,
    pub model_thread: Option<std::thread::JoinHandle<()>>,
    pub heartbeat: JoinHandle<()>,
    pub heartbeat_stop: CancellationToken,
    pub writer: Writer,
    /// When sources end by themselves (`exit_when_sources_end`): how long to wait for Kafka
    /// to take the outbox before stopping the forwarder.
    pub wait_for_kafka: Option<Duration>,
    pub forwarder: Option<JoinHandle<()>>,
    pub forward_stop: CancellationToken,
}

impl Stages {
    /// Wait for the sources (they end on the signal, or by themselves), then drain stage by
    /// stage; at `deadline.hard_stop` stop waiting and return (what was committed stays
    /// committed).
    pub async fn drain(
        self,
        deadline: &Deadline,
        notifier: &Notifier,
        outbox: &Outbox,
    ) -> anyhow::Result<()> {
        let phase = Mutex::new("sources");
        let orderly = self.in_order(deadline, notifier, outbox, &phase);
        tokio::select! {
            r = orderly => r,
            _ = deadline.hard_stop.cancelled() => {
                let at = phase.lock().map(|g| *g).unwrap_or("?");
                error!(waiting_for = at, deadline_secs = SHUTDOWN_DEADLINE.as_secs(), "Shutdown deadline passed; stopping without the stages still busy (committed records stay committed).");
                Ok(())
            }
        }
    }

    async fn in_order(
        mut self,
        deadline: &Deadline,
        notifier: &Notifier,
        outbox: &Outbox,
        phase: &Mutex<&'static str>,
    ) -> anyhow::Result<()> {
        let set_phase = |p: &'static str| {
            if let Ok(mut g) = phase.lock() {
                *g = p;
            }
        };
        while let Some(r) = self.sources.join_next().await {
            if let Err(e) = r {
                error!(error = %e, "A source task failed.");
            }
        }
        notifier.stopping("stopping: sources ended, draining the pipeline and the outbox");
        set_phase("processing");
        self.process.await.context("processing stage")?;
        let mut models_left = false;
        if let Some(h) = self.model_thread {
            set_phase("models");
            let join = tokio::task::spawn_blocking(move || h.join());
            tokio::select! {
                r = join => r?.map_err(|_| anyhow::anyhow!("the model thread panicked"))?,
                _ = deadline.abandon_models.cancelled() => {
                    warn!("The model thread did not finish within half the shutdown deadline; leaving it.");
                    models_left = true;
                }
            }
        }
        set_phase("heartbeat");
        self.heartbeat_stop.cancel();
        self.heartbeat.await.context("heartbeat stage")?;
        set_phase("outbox_writer");
        let w = self.writer;
        if models_left {
            // The model thread keeps a sender open: wait until the writer took and committed
            // everything else instead of for its end.
            while w.queue.upgrade().is_some_and(|t| t.has_queued()) || !w.handle.idle() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        } else {
            tokio::task::spawn_blocking(move || w.handle.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the outbox writer thread panicked"))?;
        }
        set_phase("forwarder");
        if let Some(wait) = self.wait_for_kafka {
            let until = tokio::time::Instant::now() + wait;
            while outbox.counters().classes.iter().any(|c| c.count > 0)
                && tokio::time::Instant::now() < until
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.forward_stop.cancel();
        if let Some(f) = self.forwarder {
            f.await.context("forwarder")?;
        }
        Ok(())
    }
}
