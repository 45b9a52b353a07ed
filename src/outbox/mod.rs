//! The outbox: a durable, byte-budgeted store-and-forward buffer in LMDB.
//!
//! ## Layout
//! One LMDB environment in `<data_dir>/outbox/` with named databases:
//! - `alert`, `status`, `telemetry`: key = sequence number (u64 big-endian, so key order is
//!   append order), value = format byte `1` + the record in CBOR;
//! - `meta`: u64 counters: `next_seq`, and per class `<class>.count`, `<class>.bytes`,
//!   `<class>.evicted`; plus `quarantined`, `recovered`, `set_aside`; `first_seq` (where a
//!   fresh outbox started numbering) and `first_seq_clock_wrong` (1 if the clock was wrong);
//! - `quarantine`: undecodable entries moved aside (key = sequence number, value = raw bytes);
//! - `dead`: records Kafka will never take (key = sequence number, value = class byte + the
//!   stored value), kept for the operator ([`dead`]);
//! - `baselines`, `baseline_requests`: the detectors' learned baselines and the requests of
//!   `forewarn baseline` ([`baselines`]);
//! - `state`: the processing stage's checkpoint ([`PROCESSING_STATE`]) and the model thread's
//!   ([`MODELS_STATE`]), each replaced in the
//!   transaction of the records made before it ([`Outbox::append_with`]); an MQTT message is
//!   acknowledged once the records or the checkpoint holding its samples committed.
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
//! recovery continues above the reservation. A fresh outbox (first start, or the data
//! directory wiped by a re-flash, a new SD card or `dpkg -P`) starts at the clock in
//! microseconds ([`seq::fresh_floor`]), above every number a wiped outbox handed out unless
//! it handed out more than one per microsecond of its life or the clock went back; a clock
//! before 2026-12-01 is taken as unset, logged as an error and marked in `meta`. They are not dense: recoveries and `batched`
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
//!
//! ## Files
//! - `mod.rs`: this design, the types ([`OutboxError`], [`Counters`], [`Entry`],
//!   [`ReadBatch`], [`Outbox`]) and the counters kept in `meta`;
//! - `open.rs`: [`Outbox::open`]: map sizing, the open ladder, the walk that rebuilds
//!   counters;
//! - `write.rs`: [`Outbox::append`], eviction within the budget, growing the map on
//!   `MDB_MAP_FULL`, [`Outbox::sync`];
//! - `read.rs`: [`Outbox::read_after`], [`Outbox::ack`], [`Outbox::quarantine`],
//!   [`Outbox::class_status`], decoding a stored value;
//! - [`writer`]: the writer stage (the `outbox-writer` thread: group commit, retries, lost
//!   records counted);
//! - [`integrity`] (damage checks, set aside, crash-loop marker), [`seq`] (sequence
//!   reservations), [`inspect`] (offline verify and dump).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

use heed::byteorder::BE;
use heed::types::{Bytes, Str, U64};
use heed::{Database, Env, RwTxn};

/// The database of pipeline checkpoints (the processing state under [`PROCESSING_STATE`], the
/// model thread's under [`MODELS_STATE`]).
pub const STATE_DB: &str = "state";
/// The processing stage's checkpoint in [`STATE_DB`].
pub const PROCESSING_STATE: &str = "processing";
/// The model thread's checkpoint in [`STATE_DB`] (model and detector alert states).
pub const MODELS_STATE: &str = "models";

pub mod baselines;
pub mod dead;
mod health;
pub mod inspect;
pub mod integrity;
mod open;
mod read;
pub mod salvage;
pub mod seq;
pub mod sync;
mod write;
pub mod writer;

pub use integrity::Recovery;
use read::decode;

use crate::codec;
use crate::record::{Class, Record};

/// Bytes charged per entry on top of its value (key and bookkeeping).
pub const ENTRY_OVERHEAD: u64 = 16;
const FORMAT_V1: u8 = 1;
/// `meta` keys of a fresh outbox's first sequence number, and of a wrong clock at that time.
const FIRST_SEQ: &str = "first_seq";
const FIRST_SEQ_CLOCK_WRONG: &str = "first_seq_clock_wrong";

type DataDb = Database<'static, U64<BE>, Bytes>;
type MetaDb = Database<'static, Str, U64<BE>>;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot create outbox directory {path}: {error}")]
    Dir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("LMDB: {0}")]
    Lmdb(heed::Error),
    #[error("encoding a record: {0}")]
    Encode(#[from] codec::CodecError),
    #[error("a record of {0} bytes does not fit the outbox budget")]
    TooLarge(u64),
    #[error("outbox writer lock poisoned")]
    Poisoned,
    #[error("outbox files: {0}")]
    Io(std::io::Error),
    #[error("a fresh outbox failed its own check: {0}")]
    Unrecoverable(String),
}

// Not `#[from]`: that would also make the error the source, and a chain printed whole
// (`{:#}`, anyhow) would say it twice; the message already holds it.
impl From<heed::Error> for OutboxError {
    fn from(e: heed::Error) -> OutboxError {
        OutboxError::Lmdb(e)
    }
}

impl From<std::io::Error> for OutboxError {
    fn from(e: std::io::Error) -> OutboxError {
        OutboxError::Io(e)
    }
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
    /// Records held in the dead-letter database (Kafka refused them for good).
    pub dead: u64,
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
    dead: DataDb,
    /// Pipeline checkpoints by name ([`Outbox::append_with`]); not counted in the budget.
    state: Database<'static, Str, Bytes>,
    baseline_dbs: baselines::Dbs,
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
    /// Per class: its Kafka topic refuses the agent ([`Outbox::set_refused`]).
    refused: [AtomicBool; 3],
}

fn idx(c: Class) -> usize {
    match c {
        Class::Alert => 0,
        Class::Status => 1,
        Class::Telemetry => 2,
    }
}

impl Outbox {
    fn reservation_lock(&self) -> Result<MutexGuard<'_, seq::Reservation>, OutboxError> {
        self.reservation.lock().map_err(|_| OutboxError::Poisoned)
    }

    /// Whether `class`'s Kafka topic refuses the agent (an authorization failure, a topic
    /// that does not exist), as the forwarder last found: while it does, the budget evicts that
    /// class's oldest records first, so that a class nobody can deliver does not push out the
    /// others' data.
    pub fn set_refused(&self, class: Class, refused: bool) {
        self.refused[idx(class)].store(refused, Ordering::Relaxed);
    }

    /// The classes whose topic refuses the agent now.
    pub fn refused_classes(&self) -> Vec<Class> {
        Class::ALL
            .into_iter()
            .filter(|c| self.refused[idx(*c)].load(Ordering::Relaxed))
            .collect()
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

    fn read_counters(&self, txn: &heed::RoTxn) -> Result<Counters, OutboxError> {
        let get = |k: &str| -> Result<u64, OutboxError> { Ok(self.meta.get(txn, k)?.unwrap_or(0)) };
        let mut c = Counters {
            next_seq: get("next_seq")?.max(1),
            quarantined: get("quarantined")?,
            dead: get("dead")?,
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
        self.meta.put(txn, "dead", &c.dead)?;
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

    /// The committed counters.
    pub fn counters(&self) -> Counters {
        self.snapshot.lock().map(|c| *c).unwrap_or_default()
    }
}

#[cfg(test)]
pub(crate) mod tests;
