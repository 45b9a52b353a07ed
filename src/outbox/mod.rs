//! The outbox: a durable, byte-budgeted store-and-forward buffer in LMDB.
//!
//! ## Layout
//! One LMDB environment in `<data_dir>/outbox/` with named databases:
//! - `alert`, `status`, `telemetry`: key = sequence number (u64 big-endian, so key order is
//!   append order), value = format byte `1` + the record in CBOR;
//! - `meta`: u64 counters: `next_seq`, and per class `<class>.count`, `<class>.bytes`,
//!   `<class>.evicted`; plus `quarantined`, `recovered`, `set_aside`;
//! - `quarantine`: undecodable entries moved aside (key = sequence number, value = raw bytes).
//!
//! Beside the LMDB files: `seq.reserved` (the sequence reservation, see [`seq`]) and, only
//! while opening, `opening` (the crash-loop marker, see [`integrity`]).
//!
//! ## What a commit means
//! [`Outbox::append`] returns after its LMDB transaction committed.
//! - `full` durability: LMDB fsyncs data and meta page at every commit. Nothing appended is
//!   lost to a process crash or a power cut.
//! - `batched` durability: commits are not fsynced (`MDB_NOSYNC`); a task calls
//!   [`Outbox::sync`] every `sync_interval_ms`. A process crash loses nothing (the pages are
//!   in the OS cache). A power cut loses what was appended since the last sync, at most one
//!   interval. Because the OS may write pages out of order, a power cut can also leave the
//!   last transactions damaged; the open ladder below then falls back to the previous snapshot
//!   or sets the file aside, and the status says so.
//!
//! ## Sequence numbers and duplicates
//! One counter for all classes, persisted in `meta` in the same transaction as the append.
//! Numbers rise and are never reused, also after the outbox drained, after a power cut under
//! `batched`, and after damage: numbers are reserved durably in blocks ([`seq`]) and every
//! recovery continues above the reservation. They are not dense: recoveries and `batched`
//! restarts skip to the reservation. Delivery to Kafka is at-least-once: a crash between
//! Kafka's acknowledgement and [`Outbox::ack`] sends the record again at the next start, with
//! the same `forewarn-gateway` and `forewarn-seq` headers and identical content, so consumers
//! drop duplicates by that pair.
//!
//! ## Order
//! The forwarder reads each class in key (= sequence) order and sends alerts first. Per Kafka
//! key (`gateway/asset`, one partition) records arrive in sequence order: the idempotent
//! producer keeps order across its retries, and a resend after a crash starts from the oldest
//! unacknowledged record.
//!
//! ## Budget and eviction
//! The budget counts stored value bytes plus 16 bytes per entry. An append that would exceed
//! it first evicts the oldest telemetry, then (only when no telemetry is left) the oldest
//! status, and only when neither remains the oldest alert. Every eviction is counted per class
//! and reported in status, together with the growth rate and the predicted time until the
//! budget is full. The LMDB map is sized at twice the budget plus 64 MiB, so B-tree overhead
//! and free pages held by readers do not hit `MDB_MAP_FULL`. If it is hit anyway, the append
//! doubles the map (up to four times its size at open, with readers shut out for the resize)
//! and retries; at that limit it evicts a tenth of the content in its own transaction (less
//! if even that needs pages that are not there) and retries, instead of failing.
//!
//! ## Opening, damage and recovery
//! Opening clears stale reader slots, checks that `data.mdb` is as long as its last committed
//! page needs (a truncated file would fault on access), and walks every database, rebuilding
//! counters that disagree with the content. On damage it opens the previous snapshot; failing
//! that it renames the directory to `outbox.corrupt-<time>` and starts fresh; a start that
//! faults while opening is caught by the next ones ([`integrity`]). Undecodable entries are
//! moved to `quarantine` when the forwarder reaches them, counted, and kept for
//! `forewarn outbox dump --class quarantine`. [`inspect`] checks and prints an outbox offline.
//!
//! ## Concurrency
//! Methods are blocking (LMDB I/O): call them from a blocking thread. Writers (append, ack,
//! quarantine) serialise on one mutex; readers never block writers.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};

use heed::byteorder::BE;
use heed::types::{Bytes, Str, U64};
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, RwTxn};

mod health;
pub mod inspect;
pub mod integrity;
pub mod seq;
pub mod sync;

pub use integrity::Recovery;
use integrity::{OpenFailure, OpenMarker};

use crate::codec;
use crate::config::Durability;
use crate::record::{Class, ClassStatus, Record};

/// Bytes charged per entry on top of its value (key and bookkeeping).
pub const ENTRY_OVERHEAD: u64 = 16;
const FORMAT_V1: u8 = 1;

type DataDb = Database<'static, U64<BE>, Bytes>;
type MetaDb = Database<'static, Str, U64<BE>>;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot create outbox directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("LMDB: {0}")]
    Lmdb(#[from] heed::Error),
    #[error("encoding a record: {0}")]
    Encode(#[from] codec::CodecError),
    #[error("a record of {0} bytes does not fit the outbox budget")]
    TooLarge(u64),
    #[error("outbox writer lock poisoned")]
    Poisoned,
    #[error("outbox files: {0}")]
    Io(#[from] std::io::Error),
    #[error("a fresh outbox failed its own check: {0}")]
    Unrecoverable(String),
}

/// Per-class counters, mirrored in memory and persisted in `meta`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCounters {
    pub count: u64,
    pub bytes: u64,
    pub evicted: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub next_seq: u64,
    pub classes: [ClassCounters; 3],
    pub quarantined: u64,
    /// Opens that found the latest transaction damaged and used the previous snapshot.
    pub recovered: u64,
    /// Times a damaged outbox was set aside for this one.
    pub set_aside: u64,
}

impl Counters {
    pub fn total_bytes(&self) -> u64 {
        self.classes.iter().map(|c| c.bytes).sum()
    }
    pub fn class(&self, c: Class) -> &ClassCounters {
        &self.classes[idx(c)]
    }
}

/// One stored record, read for forwarding.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub record: Record,
}

/// The result of reading a range: decodable entries, and sequence numbers that were not.
#[derive(Debug, Default)]
pub struct ReadBatch {
    pub entries: Vec<Entry>,
    pub undecodable: Vec<u64>,
}

pub struct Outbox {
    env: Env,
    data: [DataDb; 3],
    meta: MetaDb,
    quarantine: DataDb,
    budget: u64,
    /// Serialises writers and holds the committed counters.
    writer: Mutex<Counters>,
    /// Copy of the counters for readers (status), updated after each commit.
    snapshot: Mutex<Counters>,
    /// Sequence numbers below this are reserved durably (see [`seq`]).
    reservation: Mutex<seq::Reservation>,
    /// Read transactions hold it shared; growing the map takes it exclusively (LMDB allows a
    /// resize only while no transaction is active in the process).
    gate: RwLock<()>,
    /// The map may grow up to this on `MDB_MAP_FULL` (4x the size it was opened with).
    max_map: usize,
    recovery: Option<Recovery>,
}

fn idx(c: Class) -> usize {
    match c {
        Class::Alert => 0,
        Class::Status => 1,
        Class::Telemetry => 2,
    }
}

/// Eviction order: telemetry, then status, then alerts.
const EVICTION_ORDER: [Class; 3] = [Class::Telemetry, Class::Status, Class::Alert];

impl Outbox {
    /// Open (or create) the outbox in `dir`, recovering from damage (see [`integrity`]).
    pub fn open(
        dir: &Path,
        budget_bytes: u64,
        durability: Durability,
    ) -> Result<Outbox, OutboxError> {
        let map_size = usize::try_from(budget_bytes.saturating_mul(2).saturating_add(64 << 20))
            .unwrap_or(usize::MAX / 2);
        Outbox::open_sized(dir, budget_bytes, durability, map_size)
    }

    /// [`Outbox::open`] with an explicit LMDB map size (tests use a small one to hit
    /// `MDB_MAP_FULL` before the budget).
    fn open_sized(
        dir: &Path,
        budget_bytes: u64,
        durability: Durability,
        map_size: usize,
    ) -> Result<Outbox, OutboxError> {
        std::fs::create_dir_all(dir).map_err(|source| OutboxError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let (marker, unfinished) = OpenMarker::enter(dir)?;
        let first = if unfinished >= integrity::MAX_UNFINISHED_OPENS {
            Err(OpenFailure::Corrupt(format!(
                "{unfinished} starts in a row stopped while opening the outbox"
            )))
        } else {
            Outbox::open_checked(dir, budget_bytes, durability, map_size, false)
        };
        let outbox = match first {
            Ok(o) => o,
            Err(OpenFailure::Other(e)) => return Err(e),
            Err(OpenFailure::Corrupt(reason)) => {
                tracing::error!(path = %dir.display(), %reason, "The outbox is damaged.");
                let previous = if unfinished >= integrity::MAX_UNFINISHED_OPENS {
                    Err(OpenFailure::Corrupt(reason.clone()))
                } else {
                    Outbox::open_checked(dir, budget_bytes, durability, map_size, true)
                };
                match previous {
                    Ok(mut o) => {
                        o.recovered(Recovery::PreviousSnapshot { reason }, None)?;
                        o
                    }
                    Err(OpenFailure::Other(e)) => return Err(e),
                    Err(OpenFailure::Corrupt(again)) => {
                        let path = integrity::set_aside(dir)?;
                        let floor = seq::Reservation::read(&path).unwrap_or_else(seq::clock_floor);
                        let reason = if again == reason {
                            reason
                        } else {
                            format!("{reason}; previous snapshot: {again}")
                        };
                        let mut o = match Outbox::open_checked(
                            dir,
                            budget_bytes,
                            durability,
                            map_size,
                            false,
                        ) {
                            Ok(o) => o,
                            Err(OpenFailure::Other(e)) => return Err(e),
                            Err(OpenFailure::Corrupt(r)) => {
                                return Err(OutboxError::Unrecoverable(r))
                            }
                        };
                        o.recovered(Recovery::SetAside { reason, path }, Some(floor))?;
                        o
                    }
                }
            }
        };
        if let Some(r) = &outbox.recovery {
            tracing::error!(path = %dir.display(), "Outbox recovery: {r}.");
        }
        outbox.reserve_ahead()?;
        marker.finish()?;
        Ok(outbox)
    }

    /// One open attempt: open the environment, check the file, walk every database.
    fn open_checked(
        dir: &Path,
        budget_bytes: u64,
        durability: Durability,
        map_size: usize,
        previous_snapshot: bool,
    ) -> Result<Outbox, OpenFailure> {
        let mut options = EnvOpenOptions::new();
        options.map_size(map_size).max_dbs(8);
        let mut flags = EnvFlags::empty();
        if matches!(durability, Durability::Batched(_)) {
            flags |= EnvFlags::NO_SYNC;
        }
        if previous_snapshot {
            flags |= EnvFlags::PREV_SNAPSHOT;
        }
        // SAFETY: NO_SYNC only weakens durability to "what the OS has flushed" (our sync task
        // bounds the window); PREV_SNAPSHOT is used by this process alone. Neither affects
        // memory safety.
        unsafe { options.flags(flags) };
        // SAFETY: the agent opens this environment once per process (one Outbox per data dir),
        // and nothing else truncates the files while it is open.
        let env = unsafe { options.open(dir)? };
        let stale = env.clear_stale_readers()?;
        if stale > 0 {
            tracing::info!(stale, "Cleared stale LMDB reader slots.");
        }
        integrity::check_file_length(&env, dir)?;
        let wtxn = env.write_txn()?;
        let (alert, status, telemetry, meta, quarantine) = env
            .create_databases_and_commit(wtxn, |dbo, wtxn| {
                let a: Database<U64<BE>, Bytes> = dbo.create_database(wtxn, Some("alert"))?;
                let s: Database<U64<BE>, Bytes> = dbo.create_database(wtxn, Some("status"))?;
                let t: Database<U64<BE>, Bytes> = dbo.create_database(wtxn, Some("telemetry"))?;
                let m: Database<Str, U64<BE>> = dbo.create_database(wtxn, Some("meta"))?;
                let q: Database<U64<BE>, Bytes> = dbo.create_database(wtxn, Some("quarantine"))?;
                Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit((a, s, t, m, q)))
            })?
            .unwrap_commit();
        let mut outbox = Outbox {
            env,
            data: [alert, status, telemetry],
            meta,
            quarantine,
            budget: budget_bytes,
            writer: Mutex::new(Counters::default()),
            snapshot: Mutex::new(Counters::default()),
            reservation: Mutex::new(seq::Reservation::load(dir)),
            recovery: None,
            gate: RwLock::new(()),
            max_map: map_size.saturating_mul(4),
        };
        let mut counters = outbox.recover()?;
        if matches!(durability, Durability::Batched(_)) {
            // A power cut may have undone commits whose numbers already left: continue above
            // everything ever reserved.
            let reserved = outbox.reservation_lock()?.reserved();
            counters.next_seq = counters.next_seq.max(reserved);
        }
        *outbox.writer.get_mut().map_err(|_| OutboxError::Poisoned)? = counters;
        outbox.publish(counters);
        Ok(outbox)
    }

    /// Record a recovery: continue numbering above `floor` and everything reserved, count it.
    fn recovered(&mut self, recovery: Recovery, floor: Option<u64>) -> Result<(), OutboxError> {
        let reserved = self.reservation_lock()?.reserved();
        let mut guard = self.lock()?;
        let mut c = *guard;
        c.next_seq = c.next_seq.max(reserved).max(floor.unwrap_or(0));
        match recovery {
            Recovery::PreviousSnapshot { .. } => c.recovered += 1,
            Recovery::SetAside { .. } => c.set_aside += 1,
        }
        let mut wtxn = self.env.write_txn()?;
        self.write_counters(&mut wtxn, &c)?;
        wtxn.commit()?;
        *guard = c;
        drop(guard);
        self.publish(c);
        self.recovery = Some(recovery);
        Ok(())
    }

    /// Keep the reservation a block ahead of `next_seq` from the start.
    fn reserve_ahead(&self) -> Result<(), OutboxError> {
        let next = self.counters().next_seq;
        self.reservation_lock()?.cover(next)?;
        Ok(())
    }

    fn reservation_lock(&self) -> Result<MutexGuard<'_, seq::Reservation>, OutboxError> {
        self.reservation.lock().map_err(|_| OutboxError::Poisoned)
    }

    /// What opening had to do to recover from damage, if anything.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    pub fn budget_bytes(&self) -> u64 {
        self.budget
    }

    fn lock(&self) -> Result<MutexGuard<'_, Counters>, OutboxError> {
        self.writer.lock().map_err(|_| OutboxError::Poisoned)
    }

    fn publish(&self, c: Counters) {
        if let Ok(mut s) = self.snapshot.lock() {
            *s = c;
        }
    }

    /// Walk every database (touching every page), load the counters, and rebuild them if they
    /// disagree with the content.
    fn recover(&self) -> Result<Counters, OutboxError> {
        let mut wtxn = self.env.write_txn()?;
        let mut c = self.read_counters(&wtxn)?;
        let mut fixed = false;
        for class in Class::ALL {
            let db = self.data[idx(class)];
            let (mut len, mut bytes, mut last) = (0u64, 0u64, None);
            for item in db.iter(&wtxn)? {
                let (seq, v) = item?;
                len += 1;
                bytes += v.len() as u64 + ENTRY_OVERHEAD;
                last = Some(seq);
            }
            if let Some(last) = last {
                if last >= c.next_seq {
                    c.next_seq = last + 1;
                    fixed = true;
                }
            }
            let cc = &mut c.classes[idx(class)];
            if cc.count != len || cc.bytes != bytes {
                tracing::warn!(
                    class = class.name(),
                    stored = len,
                    counted = cc.count,
                    "Outbox counters did not match its content; rebuilt them."
                );
                cc.count = len;
                cc.bytes = bytes;
                fixed = true;
            }
        }
        let quarantined = self.quarantine.len(&wtxn)?;
        if let Some((last, _)) = self.quarantine.last(&wtxn)? {
            if last >= c.next_seq {
                c.next_seq = last + 1;
                fixed = true;
            }
        }
        if quarantined > c.quarantined {
            c.quarantined = quarantined;
            fixed = true;
        }
        if fixed {
            self.write_counters(&mut wtxn, &c)?;
            wtxn.commit()?;
        } else {
            wtxn.abort();
        }
        Ok(c)
    }

    fn read_counters(&self, txn: &heed::RoTxn) -> Result<Counters, OutboxError> {
        let get = |k: &str| -> Result<u64, OutboxError> { Ok(self.meta.get(txn, k)?.unwrap_or(0)) };
        let mut c = Counters {
            next_seq: get("next_seq")?.max(1),
            quarantined: get("quarantined")?,
            recovered: get("recovered")?,
            set_aside: get("set_aside")?,
            ..Counters::default()
        };
        for class in Class::ALL {
            let n = class.name();
            c.classes[idx(class)] = ClassCounters {
                count: get(&format!("{n}.count"))?,
                bytes: get(&format!("{n}.bytes"))?,
                evicted: get(&format!("{n}.evicted"))?,
            };
        }
        Ok(c)
    }

    fn write_counters(&self, txn: &mut RwTxn, c: &Counters) -> Result<(), OutboxError> {
        self.meta.put(txn, "next_seq", &c.next_seq)?;
        self.meta.put(txn, "quarantined", &c.quarantined)?;
        self.meta.put(txn, "recovered", &c.recovered)?;
        self.meta.put(txn, "set_aside", &c.set_aside)?;
        for class in Class::ALL {
            let n = class.name();
            let cc = c.class(class);
            self.meta.put(txn, &format!("{n}.count"), &cc.count)?;
            self.meta.put(txn, &format!("{n}.bytes"), &cc.bytes)?;
            self.meta.put(txn, &format!("{n}.evicted"), &cc.evicted)?;
        }
        Ok(())
    }

    /// Append records in one transaction; returns their sequence numbers once committed.
    pub fn append(&self, records: &[Record]) -> Result<Vec<u64>, OutboxError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut encoded = Vec::with_capacity(records.len());
        for r in records {
            let mut v = Vec::with_capacity(256);
            v.push(FORMAT_V1);
            v.extend_from_slice(&codec::to_cbor(r)?);
            let size = v.len() as u64 + ENTRY_OVERHEAD;
            if size > self.budget {
                return Err(OutboxError::TooLarge(size));
            }
            encoded.push((r.class(), v));
        }
        let mut guard = self.lock()?;
        loop {
            match self.try_append(&guard, &encoded) {
                Ok((c, seqs)) => {
                    *guard = c;
                    self.publish(c);
                    return Ok(seqs);
                }
                Err(OutboxError::Lmdb(heed::Error::Mdb(heed::MdbError::MapFull)))
                    if self.grow_map()? => {}
                Err(OutboxError::Lmdb(heed::Error::Mdb(heed::MdbError::MapFull)))
                    if guard.total_bytes() > 0 =>
                {
                    // The map is full before the budget is (free pages held by a reader, or a
                    // map smaller than the data needs). Evict a tenth of the content in its own
                    // transaction, so that its pages are free for the retry. Deleting needs
                    // fresh pages too: if even that does not fit, evict less, down to one entry.
                    let total = guard.total_bytes();
                    let mut step = total.div_ceil(10);
                    let c =
                        loop {
                            let mut c = *guard;
                            match self.evict_committed(&mut c, total.saturating_sub(step)) {
                                Ok(()) => break c,
                                Err(OutboxError::Lmdb(heed::Error::Mdb(
                                    heed::MdbError::MapFull,
                                ))) if step > 1 => step /= 2,
                                Err(e) => return Err(e),
                            }
                        };
                    tracing::warn!(
                        before = total,
                        after = c.total_bytes(),
                        "Outbox map full before its budget; evicted more."
                    );
                    *guard = c;
                    self.publish(c);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Double the LMDB map (up to `max_map`); false if it is already that large. Called by the
    /// writer (holding the writer lock, its transaction aborted) with readers shut out.
    fn grow_map(&self) -> Result<bool, OutboxError> {
        let current = self.env.info().map_size;
        if current >= self.max_map {
            return Ok(false);
        }
        let page = self.env.unnamed_database_stat().page_size.max(4096) as usize;
        let new = current.saturating_mul(2).min(self.max_map).div_ceil(page) * page;
        let _gate = self.gate.write().map_err(|_| OutboxError::Poisoned)?;
        // SAFETY: no transaction is active in this process: writers hold the writer lock (we
        // do, and our transaction was aborted), readers are shut out by the gate.
        unsafe { self.env.resize(new)? };
        tracing::warn!(from = current, to = new, "Outbox map full; grew the map.");
        Ok(true)
    }

    /// Evict (in eviction order) until the content is at most `limit` bytes, and commit.
    fn evict_committed(&self, c: &mut Counters, limit: u64) -> Result<(), OutboxError> {
        let mut wtxn = self.env.write_txn()?;
        self.evict_for(&mut wtxn, c, 0, limit)?;
        self.write_counters(&mut wtxn, c)?;
        wtxn.commit()?;
        Ok(())
    }

    fn try_append(
        &self,
        committed: &Counters,
        encoded: &[(Class, Vec<u8>)],
    ) -> Result<(Counters, Vec<u64>), OutboxError> {
        let mut c = *committed;
        self.reservation_lock()?
            .cover(c.next_seq.saturating_add(encoded.len() as u64))?;
        let mut wtxn = self.env.write_txn()?;
        let mut seqs = Vec::with_capacity(encoded.len());
        for (class, v) in encoded {
            let size = v.len() as u64 + ENTRY_OVERHEAD;
            self.evict_for(&mut wtxn, &mut c, size, self.budget)?;
            let seq = c.next_seq;
            c.next_seq += 1;
            self.data[idx(*class)].put(&mut wtxn, &seq, v)?;
            let cc = &mut c.classes[idx(*class)];
            cc.count += 1;
            cc.bytes += size;
            seqs.push(seq);
        }
        self.write_counters(&mut wtxn, &c)?;
        wtxn.commit()?;
        Ok((c, seqs))
    }

    /// Evict oldest entries (telemetry first) until `size` more bytes fit within `limit`.
    fn evict_for(
        &self,
        wtxn: &mut RwTxn,
        c: &mut Counters,
        size: u64,
        limit: u64,
    ) -> Result<(), OutboxError> {
        while c.total_bytes() + size > limit {
            let mut evicted = false;
            for class in EVICTION_ORDER {
                let db = self.data[idx(class)];
                let first = db.first(wtxn)?.map(|(k, v)| (k, v.len() as u64));
                if let Some((seq, len)) = first {
                    db.delete(wtxn, &seq)?;
                    let cc = &mut c.classes[idx(class)];
                    cc.count = cc.count.saturating_sub(1);
                    cc.bytes = cc.bytes.saturating_sub(len + ENTRY_OVERHEAD);
                    cc.evicted += 1;
                    evicted = true;
                    break;
                }
            }
            if !evicted {
                break;
            }
        }
        Ok(())
    }

    /// Read up to `limit` entries of a class with sequence numbers greater than `after`.
    pub fn read_after(
        &self,
        class: Class,
        after: u64,
        limit: usize,
    ) -> Result<ReadBatch, OutboxError> {
        let _gate = self.gate.read().map_err(|_| OutboxError::Poisoned)?;
        let rtxn = self.env.read_txn()?;
        let mut batch = ReadBatch::default();
        let start = after.saturating_add(1);
        for item in self.data[idx(class)].range(&rtxn, &(start..))?.take(limit) {
            let (seq, bytes) = item?;
            match decode(bytes) {
                Some(record) => batch.entries.push(Entry { seq, record }),
                None => batch.undecodable.push(seq),
            }
        }
        Ok(batch)
    }

    /// Delete acknowledged entries (already-evicted ones are skipped).
    pub fn ack(&self, class: Class, seqs: &[u64]) -> Result<(), OutboxError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut guard = self.lock()?;
        let mut c = *guard;
        let mut wtxn = self.env.write_txn()?;
        let db = self.data[idx(class)];
        for seq in seqs {
            let len = db.get(&wtxn, seq)?.map(|v| v.len() as u64);
            if let Some(len) = len {
                db.delete(&mut wtxn, seq)?;
                let cc = &mut c.classes[idx(class)];
                cc.count = cc.count.saturating_sub(1);
                cc.bytes = cc.bytes.saturating_sub(len + ENTRY_OVERHEAD);
            }
        }
        self.write_counters(&mut wtxn, &c)?;
        wtxn.commit()?;
        *guard = c;
        self.publish(c);
        Ok(())
    }

    /// Move undecodable entries aside so they neither block forwarding nor vanish unseen.
    pub fn quarantine(&self, class: Class, seqs: &[u64]) -> Result<(), OutboxError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut guard = self.lock()?;
        let mut c = *guard;
        let mut wtxn = self.env.write_txn()?;
        let db = self.data[idx(class)];
        for seq in seqs {
            let value = db.get(&wtxn, seq)?.map(<[u8]>::to_vec);
            if let Some(v) = value {
                self.quarantine.put(&mut wtxn, seq, &v)?;
                db.delete(&mut wtxn, seq)?;
                let cc = &mut c.classes[idx(class)];
                cc.count = cc.count.saturating_sub(1);
                cc.bytes = cc.bytes.saturating_sub(v.len() as u64 + ENTRY_OVERHEAD);
                c.quarantined += 1;
            }
        }
        self.write_counters(&mut wtxn, &c)?;
        wtxn.commit()?;
        *guard = c;
        self.publish(c);
        tracing::error!(
            class = class.name(),
            count = seqs.len(),
            "Undecodable outbox entries quarantined."
        );
        Ok(())
    }

    /// Flush to disk (for `batched` durability).
    pub fn sync(&self) -> Result<(), OutboxError> {
        Ok(self.env.force_sync()?)
    }

    /// The committed counters.
    pub fn counters(&self) -> Counters {
        self.snapshot.lock().map(|c| *c).unwrap_or_default()
    }

    /// Per-class status, with the event time of each class's oldest record.
    pub fn class_status(&self, now_ns: i64) -> Vec<(Class, ClassStatus)> {
        let c = self.counters();
        let oldest = |class: Class| -> Option<f64> {
            let _gate = self.gate.read().ok()?;
            let rtxn = self.env.read_txn().ok()?;
            let (_, bytes) = self.data[idx(class)].first(&rtxn).ok()??;
            let ts = decode(bytes)?.ts_ns();
            Some((now_ns.saturating_sub(ts)) as f64 / 1e9)
        };
        Class::ALL
            .iter()
            .map(|&class| {
                let cc = c.class(class);
                let status = ClassStatus {
                    depth: cc.count,
                    bytes: cc.bytes,
                    oldest_age_secs: if cc.count > 0 { oldest(class) } else { None },
                    evicted: cc.evicted,
                };
                (class, status)
            })
            .collect()
    }
}

fn decode(bytes: &[u8]) -> Option<Record> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => codec::from_cbor(body).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
