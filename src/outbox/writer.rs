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
//!   0.4, 0.8, 1.6, 3.2 and 6.4 s (12.4 s in all). If the last retry fails too, the group's
//!   records are lost: counted (`outbox_write_lost` in the status) and logged with the error.
//!   A full disk is not such a failure: the outbox evicts by its order to make room.
//! - **Checkpoints.** The processing stage sends its state after the records it made
//!   ([`channel::Checkpoint`]); the group's last checkpoint is stored in the group's transaction
//!   ([`Outbox::append_with`]), and only once that committed are its receipts committed to
//!   their ledgers (an MQTT source then acknowledges the messages they cover). A group lost
//!   to storage errors commits no receipt: the broker keeps those messages.
//! - **Progress.** Each group stored beats [`Stage::Writer`]: the watchdog's evidence that
//!   the writer is not stuck. A group lost to storage errors does not, so a writer that
//!   cannot commit while records wait is reported stalled, the systemd watchdog is no longer
//!   pinged, and systemd restarts the agent, which reopens the outbox.
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

    /// The pause before retry number `retry` (from 1), or `None` once all are spent.
    pub fn pause(&self, retry: u32) -> Option<Duration> {
        (1..=self.retries).contains(&retry).then(|| {
            self.first_pause
                .saturating_mul(2u32.saturating_pow(retry - 1))
        })
    }
}

/// What became of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// No record of the group could ever be taken; each was counted in `write_lost`.
    Refused,
    /// Every retry failed (storage); the records were counted in `write_lost`.
    Lost,
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
) -> io::Result<WriterHandle> {
    let writer = Writer {
        outbox,
        appended,
        metrics,
        on_commit,
        retry: Retry::DEFAULT,
    };
    writer.spawn(rx)
}

struct Writer {
    outbox: Arc<Outbox>,
    appended: Arc<Notify>,
    metrics: Arc<Metrics>,
    on_commit: Option<CommitHook>,
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
            let states: Vec<(&str, &[u8])> = group
                .checkpoints
                .iter()
                .map(|c| (c.key, c.state.as_slice()))
                .collect();
            let outcome = self.commit(&group.records, &states);
            if outcome != Outcome::Lost {
                for c in &group.checkpoints {
                    c.receipts.commit();
                }
                self.metrics.progress.beat(Stage::Writer);
            }
        }
    }

    /// Appends `group` in one transaction, retrying as `self.retry` says, without the
    /// records the outbox can never take.
    fn commit(&mut self, group: &[Record], checkpoints: &[(&str, &[u8])]) -> Outcome {
        let mut retry = 0;
        let mut kept: Option<Vec<Record>> = None;
        loop {
            let records = kept.as_deref().unwrap_or(group);
            match self.outbox.append_with(records, checkpoints) {
                Ok(_) => {
                    self.appended.notify_one();
                    if let Some(hook) = self.on_commit.as_mut() {
                        hook(records);
                    }
                    return Outcome::Stored;
                }
                Err(OutboxError::TooLarge(_) | OutboxError::Encode(_)) if kept.is_none() => {
                    let (good, refused): (Vec<&Record>, Vec<(&Record, OutboxError)>) =
                        split_admitted(&self.outbox, records);
                    for (r, e) in &refused {
                        self.metrics.write_lost(1);
                        error!(error = %e, class = r.class().name(), lost_total = self.metrics.write_lost_count(), "A record the outbox cannot take; lost.");
                    }
                    if good.is_empty() && checkpoints.is_empty() {
                        return Outcome::Refused;
                    }
                    kept = Some(good.into_iter().cloned().collect());
                }
                Err(e) => {
                    retry += 1;
                    if let Some(pause) = self.retry.pause(retry) {
                        warn!(error = %e, attempt = retry, "Outbox append failed; retrying.");
                        std::thread::sleep(pause);
                    } else {
                        self.metrics.write_lost(group.len() as u64);
                        error!(error = %e, records = group.len(), lost_total = self.metrics.write_lost_count(), "Outbox append failed; records lost.");
                        return Outcome::Lost;
                    }
                }
            }
        }
    }
}

/// The records of `group` the outbox admits, and the others with why.
#[allow(clippy::type_complexity)]
fn split_admitted<'a>(
    outbox: &Outbox,
    group: &'a [Record],
) -> (Vec<&'a Record>, Vec<(&'a Record, OutboxError)>) {
    let mut good = Vec::with_capacity(group.len());
    let mut refused = Vec::new();
    for r in group {
        match outbox.admits(r) {
            Ok(()) => good.push(r),
            Err(e) => refused.push((r, e)),
        }
    }
    (good, refused)
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
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;
    use crate::config::Durability;
    use crate::record::{AssetMeta, Class, Telemetry, TELEMETRY_SCHEMA};

    fn telemetry(i: i64, asset: &str) -> Record {
        Record::Telemetry(Telemetry {
            schema: TELEMETRY_SCHEMA.into(),
            gateway: "gw".into(),
            site: "s".into(),
            asset: asset.into(),
            signal: "x".into(),
            unit: None,
            start_ns: i,
            end_ns: i + 1,
            count: 1,
            min: 0.0,
            max: 0.0,
            mean: 0.0,
            last: 0.0,
            meta: AssetMeta::default(),
            method: None,
        })
    }

    fn batch(from: i64, n: i64) -> Vec<Record> {
        (from..from + n).map(|i| telemetry(i, "a")).collect()
    }

    /// A writer over a real outbox in `dir`, recording the size of each committed group.
    fn writer(
        dir: &std::path::Path,
        budget: u64,
        retry: Retry,
    ) -> (Writer, Arc<Mutex<Vec<usize>>>) {
        let outbox = Arc::new(Outbox::open(dir, budget, Durability::Full).unwrap());
        let groups = Arc::new(Mutex::new(Vec::new()));
        let seen = groups.clone();
        let hook: CommitHook = Box::new(move |g: &[Record]| seen.lock().unwrap().push(g.len()));
        let w = Writer {
            outbox,
            appended: Arc::new(Notify::new()),
            metrics: Arc::new(Metrics::new(&[])),
            on_commit: Some(hook),
            retry,
        };
        (w, groups)
    }

    fn stored_starts(o: &Outbox) -> Vec<i64> {
        let batch = o.read_after(Class::Telemetry, 0, usize::MAX).unwrap();
        assert!(batch.undecodable.is_empty());
        let start = |r: &Record| match r {
            Record::Telemetry(t) => t.start_ns,
            other => panic!("not telemetry: {other:?}"),
        };
        batch.entries.iter().map(|e| start(&e.record)).collect()
    }

    #[test]
    fn retries_pause_0_4_to_6_4_seconds_then_give_up() {
        let pauses: Vec<_> = (1..=6).map(|r| Retry::DEFAULT.pause(r)).collect();
        let ms = |m| Some(Duration::from_millis(m));
        assert_eq!(
            pauses,
            [ms(400), ms(800), ms(1600), ms(3200), ms(6400), None]
        );
        assert_eq!(Retry::DEFAULT.pause(0), None);
    }

    #[test]
    fn queued_batches_are_committed_in_groups_of_at_least_max_group_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (w, groups) = writer(dir.path(), 64 << 20, Retry::DEFAULT);
        let (outbox, appended, metrics) = (w.outbox.clone(), w.appended.clone(), w.metrics.clone());
        let (tx, rx) = channel::channel::<ToWrite>(256, 1 << 20);
        for b in 0..3 {
            tx.blocking_send(batch(b * 3000, 3000).into()).unwrap();
        }
        let handle = w.spawn(rx).unwrap();
        // With nothing queued, idle means all taken is committed (what shutdown relies on).
        let deadline = Instant::now() + Duration::from_secs(60);
        while tx.has_queued() || !handle.idle() {
            assert!(Instant::now() < deadline, "the writer did not go idle");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(outbox.counters().class(Class::Telemetry).count, 9000);
        // 3000 < MAX_GROUP takes the next batch whole; 6000 >= MAX_GROUP stops the group.
        assert_eq!(*groups.lock().unwrap(), [6000, 3000]);
        assert_eq!(stored_starts(&outbox), (0..9000).collect::<Vec<i64>>());
        assert_eq!(metrics.progress.beats()[Stage::Writer as usize], 2);
        assert_eq!(metrics.write_lost_count(), 0);
        drop(tx);
        handle.join().unwrap();
        // The forwarder was woken.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let woken = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), appended.notified()).await
        });
        assert!(woken.is_ok(), "the forwarder was not woken");
    }

    /// A checkpoint goes in with the records queued before it, a later one replaces an earlier
    /// one of the same group, and only the commit releases the receipts.
    #[test]
    fn a_checkpoint_is_committed_with_its_records_and_only_then_releases_its_receipts() {
        use crate::channel::{Checkpoint, Ledger, Receipt, Receipts};
        use crate::outbox::{MODELS_STATE, PROCESSING_STATE};
        let dir = tempfile::tempdir().unwrap();
        let (w, groups) = writer(dir.path(), 64 << 20, Retry::DEFAULT);
        let outbox = w.outbox.clone();
        let ledger = Arc::new(Ledger::default());
        let checkpoint = |state: &[u8], n| {
            let mut receipts = Receipts::default();
            receipts.add(Receipt {
                ledger: ledger.clone(),
                n,
            });
            vec![Checkpoint {
                key: PROCESSING_STATE,
                state: state.to_vec(),
                receipts,
            }]
        };
        let models = |state: &[u8]| Checkpoint {
            key: MODELS_STATE,
            state: state.to_vec(),
            receipts: Receipts::default(),
        };
        let (tx, rx) = channel::channel::<ToWrite>(256, 1 << 20);
        tx.blocking_send(batch(0, 2).into()).unwrap();
        tx.blocking_send(ToWrite {
            records: batch(2, 1),
            checkpoints: checkpoint(b"first", 7),
        })
        .unwrap();
        // The model thread's checkpoint, between the two: kept beside them under its own key.
        tx.blocking_send(ToWrite {
            records: Vec::new(),
            checkpoints: vec![models(b"alerts")],
        })
        .unwrap();
        tx.blocking_send(ToWrite {
            records: Vec::new(),
            checkpoints: checkpoint(b"second", 5),
        })
        .unwrap();
        assert_eq!(ledger.committed(), 0);
        assert_eq!(outbox.checkpoint(PROCESSING_STATE).unwrap(), None);
        let handle = w.spawn(rx).unwrap();
        drop(tx);
        handle.join().unwrap();
        assert_eq!(*groups.lock().unwrap(), [3], "one transaction");
        assert_eq!(
            outbox.checkpoint(PROCESSING_STATE).unwrap().as_deref(),
            Some(&b"second"[..])
        );
        assert_eq!(
            outbox.checkpoint(MODELS_STATE).unwrap().as_deref(),
            Some(&b"alerts"[..])
        );
        assert_eq!(ledger.committed(), 7, "the highest receipt of the group");
        // A checkpoint alone (no records) is committed too.
        let (w, _) = writer(dir.path().join("2").as_path(), 64 << 20, Retry::DEFAULT);
        let (tx, rx) = channel::channel::<ToWrite>(256, 1 << 20);
        tx.blocking_send(ToWrite {
            records: Vec::new(),
            checkpoints: checkpoint(b"alone", 9),
        })
        .unwrap();
        let o2 = w.outbox.clone();
        let handle = w.spawn(rx).unwrap();
        drop(tx);
        handle.join().unwrap();
        assert_eq!(
            o2.checkpoint(PROCESSING_STATE).unwrap().as_deref(),
            Some(&b"alone"[..])
        );
        assert_eq!(ledger.committed(), 9);
    }

    #[test]
    fn a_record_the_outbox_can_never_take_is_lost_alone_and_its_group_goes_in() {
        let dir = tempfile::tempdir().unwrap();
        let retry = Retry {
            retries: 5,
            first_pause: Duration::from_secs(60),
        };
        // 4 KiB budget: a record with a 10 000-byte asset name can never be appended.
        let (mut w, groups) = writer(dir.path(), 4096, retry);
        let (outbox, metrics) = (w.outbox.clone(), w.metrics.clone());
        let group = vec![telemetry(0, &"a".repeat(10_000)), telemetry(1, "a")];
        let started = Instant::now();
        assert_eq!(w.commit(&group, &[]), Outcome::Stored);
        assert!(started.elapsed() < Duration::from_secs(5), "no retries");
        assert_eq!(metrics.write_lost_count(), 1);
        assert_eq!(
            *groups.lock().unwrap(),
            [1],
            "the hook saw the stored record"
        );
        assert_eq!(stored_starts(&outbox), [1]);
        let only_bad = vec![telemetry(2, &"b".repeat(10_000))];
        assert_eq!(w.commit(&only_bad, &[]), Outcome::Refused);
        assert_eq!(metrics.write_lost_count(), 2);

        // The thread beats progress for both and commits what comes next.
        let (tx, rx) = channel::channel::<ToWrite>(256, 1 << 20);
        tx.blocking_send(only_bad.into()).unwrap();
        let handle = w.spawn(rx).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while metrics.write_lost_count() < 3 {
            assert!(Instant::now() < deadline, "the record was not counted lost");
            std::thread::sleep(Duration::from_millis(5));
        }
        tx.blocking_send(batch(10, 3).into()).unwrap();
        drop(tx);
        handle.join().unwrap();
        assert_eq!(metrics.write_lost_count(), 3);
        assert_eq!(stored_starts(&outbox), [1, 10, 11, 12]);
        assert_eq!(metrics.progress.beats()[Stage::Writer as usize], 2);
    }

    /// The disk is full and the outbox has nothing to evict (another file took the space): the
    /// group fails every retry, is counted lost, and the writer does not beat, so the watchdog
    /// sees it stalled. Once there is room again it stores and beats.
    #[test]
    fn a_writer_that_cannot_commit_does_not_beat_progress() {
        let Some(fs) = crate::outbox::tests::Tmpfs::mount(4 << 20) else {
            return;
        };
        let retry = Retry {
            retries: 2,
            first_pause: Duration::from_millis(2),
        };
        let (w, groups) = writer(&fs.path().join("outbox"), 1 << 20, retry);
        let (outbox, metrics) = (w.outbox.clone(), w.metrics.clone());
        let filler = fs.fill();
        let (tx, rx) = channel::channel::<ToWrite>(256, 1 << 20);
        let handle = w.spawn(rx).unwrap();
        // With a checkpoint: a lost group must not release the acknowledgements it covers.
        let ledger = Arc::new(channel::Ledger::default());
        let checkpoint = |n| {
            let mut receipts = channel::Receipts::default();
            receipts.add(channel::Receipt {
                ledger: ledger.clone(),
                n,
            });
            vec![channel::Checkpoint {
                key: crate::outbox::PROCESSING_STATE,
                state: vec![n as u8],
                receipts,
            }]
        };
        tx.blocking_send(ToWrite {
            records: batch(10, 3),
            checkpoints: checkpoint(1),
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while metrics.write_lost_count() < 3 {
            assert!(Instant::now() < deadline, "the group was not counted lost");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(metrics.progress.beats()[Stage::Writer as usize], 0);
        assert_eq!(
            ledger.committed(),
            0,
            "nothing acknowledged for a lost group"
        );
        std::fs::remove_file(filler).unwrap();
        tx.blocking_send(ToWrite {
            records: batch(20, 1),
            checkpoints: checkpoint(2),
        })
        .unwrap();
        drop(tx);
        handle.join().unwrap();
        assert_eq!(ledger.committed(), 2);
        assert_eq!(
            outbox.checkpoint(crate::outbox::PROCESSING_STATE).unwrap(),
            Some(vec![2])
        );
        assert_eq!(metrics.progress.beats()[Stage::Writer as usize], 1);
        assert_eq!(stored_starts(&outbox), [20]);
        assert_eq!(*groups.lock().unwrap(), [1]);
    }
}
