//! Bounded channels between stages, bounded in what they carry, not only in messages.
//!
//! A tokio `mpsc` channel bounds the number of messages; a message here is a batch, and one
//! batch can hold one sample or 95 000 (a 1 MiB MQTT payload). So each channel also has a
//! weight budget (samples or records): a sender waits until the weight queued is below the
//! budget, then adds its batch whole. What a channel holds is therefore at most
//! `max_weight` plus one batch per sender that was let in at the same moment, and never more
//! than `max_items` batches.
//!
//! The budgets of the agent's channels are set where the stages are wired (`app/mod.rs`) and
//! listed in ARCHITECTURE.md ("Bounded memory").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use crate::record::Record;

pub use mpsc::error::{SendError, TryRecvError};

/// What a message weighs against its channel's budget.
pub trait Weigh {
    fn weight(&self) -> usize;
}

impl<T> Weigh for Vec<T> {
    fn weight(&self) -> usize {
        self.len()
    }
}

#[derive(Debug)]
struct Shared {
    queued: AtomicUsize,
    max_weight: usize,
    freed: Notify,
}

impl Shared {
    fn add(&self, w: usize) {
        self.queued.fetch_add(w, Ordering::AcqRel);
    }

    fn sub(&self, w: usize) {
        // Saturating: a weight is only ever taken off after it was added.
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(w))
            });
        self.freed.notify_waiters();
    }

    /// Waits until the weight queued is below the budget.
    async fn room(&self) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.queued.load(Ordering::Acquire) < self.max_weight {
                return;
            }
            freed.await;
        }
    }
}

/// A channel of at most `max_items` messages and (about) `max_weight` weight.
pub fn channel<T: Weigh>(max_items: usize, max_weight: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel(max_items.max(1));
    let shared = Arc::new(Shared {
        queued: AtomicUsize::new(0),
        max_weight: max_weight.max(1),
        freed: Notify::new(),
    });
    (
        Sender {
            inner: tx,
            shared: shared.clone(),
        },
        Receiver { inner: rx, shared },
    )
}

#[derive(Debug)]
pub struct Sender<T> {
    inner: mpsc::Sender<T>,
    shared: Arc<Shared>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T: Weigh> Sender<T> {
    /// Sends `v` once the channel has room (waits: backpressure).
    pub async fn send(&self, v: T) -> Result<(), SendError<T>> {
        self.shared.room().await;
        let w = v.weight();
        self.shared.add(w);
        self.inner.send(v).await.inspect_err(|_| self.shared.sub(w))
    }

    /// [`Sender::send`] for a plain thread (the model thread). Waiting for weight polls every
    /// millisecond, only while the channel is over its budget.
    pub fn blocking_send(&self, v: T) -> Result<(), SendError<T>> {
        while self.shared.queued.load(Ordering::Acquire) >= self.shared.max_weight {
            if self.inner.is_closed() {
                return Err(SendError(v));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let w = v.weight();
        self.shared.add(w);
        self.inner
            .blocking_send(v)
            .inspect_err(|_| self.shared.sub(w))
    }

    /// Waits for room, then holds a slot: the message is sent with [`Permit::send`] without
    /// waiting again.
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        self.shared.room().await;
        let slot = self.inner.reserve().await?;
        Ok(Permit {
            slot,
            shared: &self.shared,
        })
    }
}

impl<T> Sender<T> {
    /// A handle that does not keep the channel open.
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            inner: self.inner.downgrade(),
            shared: self.shared.clone(),
        }
    }

    /// True when something waits in the channel for the receiver.
    pub fn has_queued(&self) -> bool {
        self.inner.capacity() < self.inner.max_capacity()
            || self.shared.queued.load(Ordering::Acquire) > 0
    }

    /// Weight queued now.
    pub fn queued_weight(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
pub struct WeakSender<T> {
    inner: mpsc::WeakSender<T>,
    shared: Arc<Shared>,
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        WeakSender {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T> WeakSender<T> {
    pub fn upgrade(&self) -> Option<Sender<T>> {
        self.inner.upgrade().map(|inner| Sender {
            inner,
            shared: self.shared.clone(),
        })
    }
}

/// A slot held by [`Sender::reserve`].
pub struct Permit<'a, T> {
    slot: mpsc::Permit<'a, T>,
    shared: &'a Shared,
}

impl<T: Weigh> Permit<'_, T> {
    pub fn send(self, v: T) {
        self.shared.add(v.weight());
        self.slot.send(v);
    }
}

#[derive(Debug)]
pub struct Receiver<T> {
    inner: mpsc::Receiver<T>,
    shared: Arc<Shared>,
}

impl<T: Weigh> Receiver<T> {
    /// True while messages are queued for this receiver.
    pub fn has_queued(&self) -> bool {
        !self.inner.is_empty()
    }

    fn took(&self, v: T) -> T {
        self.shared.sub(v.weight());
        v
    }

    pub async fn recv(&mut self) -> Option<T> {
        let v = self.inner.recv().await?;
        Some(self.took(v))
    }

    /// For a receiver on a plain thread (the outbox writer, the model thread).
    pub fn blocking_recv(&mut self) -> Option<T> {
        let v = self.inner.blocking_recv()?;
        Some(self.took(v))
    }

    /// True when nothing waits in the channel.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let v = self.inner.try_recv()?;
        Ok(self.took(v))
    }
}

/// Where a stage learns that what it handed down the pipeline is safe: committed to the outbox,
/// as records or in a checkpoint (`outbox::writer`). The MQTT source holds a broker's
/// acknowledgement until its message's number is committed here; the processing stage paces
/// its checkpoints by it.
///
/// Numbers are the sender's own, rising; [`Ledger::commit`] keeps the highest.
#[derive(Debug, Default)]
pub struct Ledger {
    committed: std::sync::atomic::AtomicU64,
    changed: Notify,
}

impl Ledger {
    /// Everything numbered up to `n` is safe.
    pub fn commit(&self, n: u64) {
        if self.committed.fetch_max(n, Ordering::AcqRel) < n {
            // One waiter per ledger (its sender); a permit is kept if it is not waiting yet.
            self.changed.notify_one();
        }
    }

    /// The highest number committed so far (0: none).
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Waits until a commit raised the number (returns at once if one did since the last
    /// wait returned).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// "Number `n` of this ledger's sender": travels with what it covers, and is committed to the
/// ledger once that is safe.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub ledger: Arc<Ledger>,
    pub n: u64,
}

impl Receipt {
    pub fn commit(&self) {
        self.ledger.commit(self.n);
    }
}

/// The latest receipt per ledger (numbers rise, so the latest covers the earlier ones).
#[derive(Debug, Default, Clone)]
pub struct Receipts(Vec<Receipt>);

impl Receipts {
    pub fn add(&mut self, r: Receipt) {
        match self
            .0
            .iter_mut()
            .find(|x| Arc::ptr_eq(&x.ledger, &r.ledger))
        {
            Some(x) => x.n = x.n.max(r.n),
            None => self.0.push(r),
        }
    }

    /// Commits every receipt to its ledger.
    pub fn commit(&self) {
        self.0.iter().for_each(Receipt::commit);
    }

    /// How far the receipts are above what their ledgers committed, in all (for an MQTT
    /// source: messages waiting for their acknowledgement).
    pub fn behind(&self) -> u64 {
        self.0
            .iter()
            .map(|r| r.n.saturating_sub(r.ledger.committed()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl IntoIterator for Receipts {
    type Item = Receipt;
    type IntoIter = std::vec::IntoIter<Receipt>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// What the stages send the writer: records and, after them, a stage's checkpoint (the
/// processing stage's, the model thread's).
#[derive(Debug, Default)]
pub struct ToWrite {
    pub records: Vec<Record>,
    /// At most one per key.
    pub checkpoints: Vec<Checkpoint>,
}

/// A stage's state after the records it sent before it, stored under `key`
/// (`outbox::PROCESSING_STATE`, `outbox::MODELS_STATE`), and the receipts of the batches that
/// state holds.
#[derive(Debug, Default)]
pub struct Checkpoint {
    pub key: &'static str,
    pub state: Vec<u8>,
    pub receipts: Receipts,
}

impl From<Vec<Record>> for ToWrite {
    fn from(records: Vec<Record>) -> ToWrite {
        ToWrite {
            records,
            checkpoints: Vec::new(),
        }
    }
}

impl Weigh for ToWrite {
    fn weight(&self) -> usize {
        self.records.len()
    }
}

impl ToWrite {
    /// Takes `more` in after what it holds: its records, and each of its checkpoints in place
    /// of an earlier one of the same key (a later state holds the earlier one's samples;
    /// receipts keep the highest).
    pub fn absorb(&mut self, more: ToWrite) {
        self.records.extend(more.records);
        for mut c in more.checkpoints {
            if let Some(i) = self.checkpoints.iter().position(|o| o.key == c.key) {
                let old = self.checkpoints.swap_remove(i);
                for r in old.receipts.into_iter() {
                    c.receipts.add(r);
                }
            }
            self.checkpoints.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_sender_waits_while_the_weight_queued_is_at_the_budget() {
        let (tx, mut rx) = channel::<Vec<u8>>(100, 10);
        tx.send(vec![0; 6]).await.unwrap();
        tx.send(vec![0; 6]).await.unwrap(); // let in: 6 < 10; now 12 queued
        assert_eq!(tx.queued_weight(), 12);
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(vec![0; 1])).await;
        assert!(blocked.is_err(), "a third batch must wait");
        assert_eq!(rx.recv().await.map(|v| v.len()), Some(6));
        // 6 queued < 10: room again.
        tokio::time::timeout(Duration::from_secs(1), tx.send(vec![0; 1]))
            .await
            .expect("room after a receive")
            .unwrap();
        assert_eq!(tx.queued_weight(), 7);
        assert!(tx.has_queued());
    }

    #[tokio::test]
    async fn reserve_waits_for_weight_too_and_permits_count_what_they_send() {
        let (tx, mut rx) = channel::<Vec<u8>>(100, 4);
        tx.reserve().await.unwrap().send(vec![0; 5]);
        assert_eq!(tx.queued_weight(), 5);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), tx.reserve())
                .await
                .is_err()
        );
        rx.try_recv().unwrap();
        assert_eq!(tx.queued_weight(), 0);
        assert!(!tx.has_queued());
        tx.reserve().await.unwrap().send(vec![1]);
        assert_eq!(rx.recv().await, Some(vec![1]));
    }

    #[tokio::test]
    async fn the_item_bound_still_holds_for_light_messages() {
        let (tx, _rx) = channel::<Vec<u8>>(2, 1000);
        tx.send(vec![]).await.unwrap();
        tx.send(vec![]).await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), tx.send(vec![]))
                .await
                .is_err()
        );
    }

    #[test]
    fn a_blocking_receiver_frees_weight_for_async_senders() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let (tx, mut rx) = channel::<Vec<u8>>(10, 3);
        let reader = std::thread::spawn(move || {
            let mut total = 0;
            while let Some(v) = rx.blocking_recv() {
                total += v.len();
            }
            total
        });
        rt.block_on(async {
            for _ in 0..100 {
                tx.send(vec![0; 2]).await.unwrap();
                assert!(tx.queued_weight() <= 3 + 2);
            }
        });
        drop(tx);
        assert_eq!(reader.join().unwrap(), 200);
    }

    #[tokio::test]
    async fn a_ledger_keeps_the_highest_commit_and_wakes_its_waiter() {
        let l = Arc::new(Ledger::default());
        let mut rs = Receipts::default();
        rs.add(Receipt {
            ledger: l.clone(),
            n: 3,
        });
        rs.add(Receipt {
            ledger: l.clone(),
            n: 2,
        });
        assert_eq!(rs.behind(), 3);
        assert_eq!(l.committed(), 0);
        rs.commit();
        assert_eq!(l.committed(), 3);
        assert_eq!(rs.behind(), 0);
        // The commit happened before anyone waited: the permit is kept.
        tokio::time::timeout(Duration::from_millis(50), l.changed())
            .await
            .unwrap();
        l.commit(1);
        assert_eq!(l.committed(), 3);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), l.changed())
                .await
                .is_err(),
            "a lower number is no change"
        );
    }

    #[tokio::test]
    async fn a_send_to_a_closed_channel_gives_the_message_back_and_frees_its_weight() {
        let (tx, rx) = channel::<Vec<u8>>(10, 10);
        drop(rx);
        let e = tx.send(vec![1, 2]).await.unwrap_err();
        assert_eq!(e.0, vec![1, 2]);
        assert_eq!(tx.queued_weight(), 0);
    }
}
