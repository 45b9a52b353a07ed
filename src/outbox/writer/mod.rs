//! The outbox writer stage: one plain thread, `outbox-writer`, that takes the record batches
//! the pipeline sends (processing, model thread, heartbeat) and commits them.
//!
//! - **Group commit.** It takes everything queued, until the group holds at least
//!   [`MAX_GROUP`] records (the batch that crosses it is taken whole), appends the group in
//!   one transaction ([`Outbox::append`]), wakes the forwarder and calls the commit hook.
//! - **A record the outbox can never take** (larger than the budget, or not encodable) is
//!   counted lost (`outbox_write_lost`) and logged on its own; the rest of its group is
//!   committed. No retries: nothing would change.
//! - **Retries.** A failed append (storage) is retried [`Retry::DEFAULT`]: 5 times, after
//!   0.4, 0.8, 1.6, 3.2 and 6.4 s (12.4 s in all). A full disk is not such a failure: the
//!   outbox evicts by its order to make room.
//! - **Storage that keeps failing** (the data directory turned read-only, an I/O error, an
//!   LMDB environment marked fatal): once the retries are spent, the writer calls its failure
//!   hook once (`run` stops the agent, so that the start after it reopens the outbox, and ends
//!   with an error) and holds the group. It drops nothing: what arrives meanwhile is taken
//!   into the held group (at most [`MAX_HELD`] records; beyond that the channel pushes back),
//!   and the whole is tried again every [`Retry::last_pause`], so a commit that succeeds
//!   stores everything in order. Only when every sender is gone (the stop) and the last try
//!   failed are the held records counted lost (`outbox_write_lost`). A held group commits no
//!   receipt, so no message it covers is acknowledged: the MQTT broker keeps them and
//!   redelivers them to the next start. (A later checkpoint's receipts acknowledge every
//!   message up to theirs, which is why a failed group is never skipped.)
//! - **Checkpoints.** The processing stage sends its state after the records it made
//!   ([`channel::Checkpoint`]); the group's last checkpoint is stored in the group's transaction
//!   ([`Outbox::append_with`]), and only once that committed are its receipts committed to
//!   their ledgers (an MQTT source then acknowledges the messages they cover).
//! - **Progress.** Each group stored beats [`Stage::Writer`]: the watchdog's evidence that
//!   the writer is not stuck. A failed try does not, so a writer that cannot commit while
//!   records wait is reported stalled and the systemd watchdog is no longer pinged.
//! - **Shutdown.** [`WriterHandle::idle`] is true while it waits for records, so with
//!   nothing queued everything it took is committed; the thread ends when every sender is
//!   gone and the channel is empty ([`WriterHandle::join`]).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{error, warn};

use super::{Outbox, OutboxError};
use crate::channel::{self, ToWrite};
use crate::monitor::progress::Stage;
use crate::monitor::Metrics;
use crate::record::Record;

/// Called with every group of records right after it is committed to the outbox.
pub type CommitHook = Box<dyn FnMut(&[Record]) + Send>;

/// Called once, on the writer thread, when storage failed for all of [`Retry`]'s span.
pub type FailureHook = Box<dyn FnOnce(&OutboxError) + Send>;

/// While storage fails, the held group takes in what arrives until it holds this many
/// records; beyond it the records channel pushes back on the stages.
pub const MAX_HELD: usize = 65_536;

/// A group stops taking more batches once it holds this many records.
pub const MAX_GROUP: usize = 4096;

/// How a failed append is retried before its records are counted lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub retries: u32,
    /// The pause before the first retry; each further one doubles it.
    pub first_pause: Duration,
}

impl Retry {
    pub const DEFAULT: Retry = Retry {
        retries: 5,
        first_pause: Duration::from_millis(400),
    };

    /// The pause between tries once the retries are spent (the longest retry pause).
    pub fn last_pause(&self) -> Duration {
        self.pause(self.retries.max(1)).unwrap_or(self.first_pause)
    }

    /// The pause before retry number `retry` (from 1), or `None` once all are spent.
    pub fn pause(&self, retry: u32) -> Option<Duration> {
        (1..=self.retries).contains(&retry).then(|| {
            self.first_pause
                .saturating_mul(2u32.saturating_pow(retry - 1))
        })
    }
}

/// What became of one try of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// No record of the group could ever be taken; each was counted in `write_lost`.
    Refused,
}

/// The running writer thread.
pub struct WriterHandle {
    idle: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl WriterHandle {
    /// True while the writer waits for records: with nothing queued, all it took is committed
    /// (or counted lost).
    pub fn idle(&self) -> bool {
        self.idle.load(Ordering::Acquire)
    }

    /// Waits for the thread's end (once every sender is dropped and the channel is empty).
    pub fn join(self) -> std::thread::Result<()> {
        self.thread.join()
    }
}

/// Starts the writer thread on `rx`.
pub fn spawn(
    outbox: Arc<Outbox>,
    rx: channel::Receiver<ToWrite>,
    appended: Arc<Notify>,
    metrics: Arc<Metrics>,
    on_commit: Option<CommitHook>,
    on_failure: Option<FailureHook>,
) -> io::Result<WriterHandle> {
    let writer = Writer {
        outbox,
        appended,
        metrics,
        on_commit,
        on_failure,
        retry: Retry::DEFAULT,
    };
    writer.spawn(rx)
}

struct Writer {
    outbox: Arc<Outbox>,
    appended: Arc<Notify>,
    metrics: Arc<Metrics>,
    on_commit: Option<CommitHook>,
    on_failure: Option<FailureHook>,
    retry: Retry,
}

impl Writer {
    fn spawn(self, rx: channel::Receiver<ToWrite>) -> io::Result<WriterHandle> {
        let idle = Arc::new(AtomicBool::new(false));
        let flag = idle.clone();
        let thread = std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || self.run(rx, &flag))?;
        Ok(WriterHandle { idle, thread })
    }

    fn run(mut self, mut rx: channel::Receiver<ToWrite>, idle: &AtomicBool) {
        loop {
            idle.store(true, Ordering::Release);
            let Some(mut group) = rx.blocking_recv() else {
                break;
            };
            idle.store(false, Ordering::Release);
            gather(&mut group, &mut rx);
            self.store(group, &mut rx);
        }
    }

    /// Stores `group`: retried as `self.retry` says, then held and tried again, taking in what
    /// arrives, until it is stored or every sender is gone (module docs).
    fn store(&mut self, mut group: ToWrite, rx: &mut channel::Receiver<ToWrite>) {
        let mut tries = 0u32;
        loop {
            let states: Vec<(&str, &[u8])> = group
                .checkpoints
                .iter()
                .map(|c| (c.key, c.state.as_slice()))
                .collect();
            let error = match self.commit(&mut group.records, &states) {
                Ok(_) => {
                    for c in &group.checkpoints {
                        c.receipts.commit();
                    }
                    self.metrics.progress.beat(Stage::Writer);
                    return;
                }
                Err(e) => e,
            };
            tries += 1;
            if let Some(pause) = self.retry.pause(tries) {
                warn!(error = %error, attempt = tries, "Outbox append failed; retrying.");
                std::thread::sleep(pause);
                continue;
            }
            if let Some(hook) = self.on_failure.take() {
                error!(error = %error, records = group.records.len(), "Outbox append failed on every retry; holding the records (none acknowledged) and stopping, so that a restart reopens the outbox.");
                hook(&error);
            }
            let closed = take_more(&mut group, rx);
            if closed && tries > self.retry.retries + 1 {
                let lost = group.records.len() as u64;
                self.metrics.write_lost(lost);
                error!(error = %error, records = lost, lost_total = self.metrics.write_lost_count(), "Outbox append failed to the end; records lost (the messages they came from were not acknowledged).");
                return;
            }
            if !closed {
                std::thread::sleep(self.retry.last_pause());
            }
        }
    }

    /// Appends `records` in one transaction. The records the outbox can never take are
    /// counted lost and removed from `records` (once: a retry does not count them again).
    fn commit(
        &mut self,
        records: &mut Vec<Record>,
        checkpoints: &[(&str, &[u8])],
    ) -> Result<Outcome, OutboxError> {
        let mut split = false;
        loop {
            match self.outbox.append_with(records, checkpoints) {
                Ok(_) => {
                    self.appended.notify_one();
                    if let Some(hook) = self.on_commit.as_mut() {
                        hook(records);
                    }
                    return Ok(Outcome::Stored);
                }
                Err(OutboxError::TooLarge(_) | OutboxError::Encode(_)) if !split => {
                    split = true;
                    let (outbox, metrics) = (&self.outbox, &self.metrics);
                    records.retain(|r| match outbox.admits(r) {
                        Ok(()) => true,
                        Err(e) => {
                            metrics.write_lost(1);
                            error!(error = %e, class = r.class().name(), lost_total = metrics.write_lost_count(), "A record the outbox cannot take; lost.");
                            false
                        }
                    });
                    if records.is_empty() && checkpoints.is_empty() {
                        return Ok(Outcome::Refused);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// While a group is held: takes what is queued into it, up to [`MAX_HELD`] records. True once
/// every sender is gone and nothing is queued (the stop): nothing more will come.
fn take_more(group: &mut ToWrite, rx: &mut channel::Receiver<ToWrite>) -> bool {
    while group.records.len() < MAX_HELD {
        match rx.try_recv() {
            Ok(more) => group.absorb(more),
            Err(channel::TryRecvError::Empty) => return false,
            Err(channel::TryRecvError::Disconnected) => return true,
        }
    }
    false
}

/// Adds what is queued to `group` until it holds at least [`MAX_GROUP`] records or nothing
/// more is queued.
fn gather(group: &mut ToWrite, rx: &mut channel::Receiver<ToWrite>) {
    while group.records.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(more) => group.absorb(more),
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests;
