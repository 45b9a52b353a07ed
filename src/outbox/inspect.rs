//! Offline inspection: `forewarn outbox verify|dump`. Opens the environment read-only, so it
//! changes nothing and may run beside a live agent (LMDB readers never block the writer).

use std::io::Write;
use std::path::{Path, PathBuf};

use heed::byteorder::BE;
use heed::types::{Bytes, Str, U64};
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions};

use super::{decode, idx, integrity, seq, ClassCounters, OutboxError, ENTRY_OVERHEAD};
use crate::record::Class;

/// What one data database holds, counted by walking it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCheck {
    pub entries: u64,
    pub bytes: u64,
    pub undecodable: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Event time of the first decodable entry (the oldest record).
    pub oldest_ts_ns: Option<i64>,
}

/// The result of `verify`: what was found, and every problem.
#[derive(Debug, Default)]
pub struct Report {
    pub path: PathBuf,
    pub file_bytes: u64,
    pub last_txn: u64,
    /// Counters as stored in `meta`.
    pub next_seq: u64,
    /// Where this outbox started numbering (`None` for one made before this was kept), and
    /// whether the clock was wrong then.
    pub first_seq: Option<u64>,
    pub first_seq_clock_wrong: bool,
    pub stored: [ClassCounters; 3],
    pub quarantined: u64,
    pub recovered: u64,
    pub set_aside: u64,
    /// Counted by walking.
    pub walked: [ClassCheck; 3],
    pub quarantine_entries: u64,
    pub reserved: Option<u64>,
    pub problems: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn walked(&self, c: Class) -> &ClassCheck {
        &self.walked[idx(c)]
    }

    pub fn stored(&self, c: Class) -> &ClassCounters {
        &self.stored[idx(c)]
    }
}

type DataDb = Database<'static, U64<BE>, Bytes>;

/// A read-only view: the environment, and the databases once the file passed its length check.
struct ReadOnly {
    env: Env,
}

struct Dbs {
    data: [Option<DataDb>; 3],
    meta: Option<Database<'static, Str, U64<BE>>>,
    quarantine: Option<DataDb>,
    dead: Option<DataDb>,
}

impl ReadOnly {
    fn open(dir: &Path) -> Result<ReadOnly, OutboxError> {
        if !dir.join("data.mdb").exists() {
            return Err(OutboxError::Dir {
                path: dir.to_path_buf(),
                error: std::io::Error::new(std::io::ErrorKind::NotFound, "no data.mdb here"),
            });
        }
        let mut options = EnvOpenOptions::new();
        options.max_dbs(16);
        // SAFETY: read-only; the agent never truncates the file while it runs.
        unsafe { options.flags(EnvFlags::READ_ONLY) };
        // SAFETY: opened once in this process, read-only.
        let env = unsafe { options.open(dir)? };
        Ok(ReadOnly { env })
    }

    /// Open the named databases (reads pages: only after [`integrity::check_file_length`]).
    fn databases(&self) -> Result<Dbs, OutboxError> {
        let rtxn = self.env.read_txn()?;
        let dbs = self
            .env
            .open_databases_and_commit(rtxn, |dbo, rtxn| {
                let data = |name: &str| dbo.open_database::<U64<BE>, Bytes>(rtxn, Some(name));
                let dbs = (
                    data("alert")?,
                    data("status")?,
                    data("telemetry")?,
                    dbo.open_database::<Str, U64<BE>>(rtxn, Some("meta"))?,
                    data("quarantine")?,
                    data(super::dead::DEAD_DB)?,
                );
                Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit(dbs))
            })?
            .unwrap_commit();
        let (a, s, t, meta, quarantine, dead) = dbs;
        Ok(Dbs {
            data: [a, s, t],
            meta,
            quarantine,
            dead,
        })
    }
}

/// Check an outbox without changing it: file length, every entry decodable, counters equal to
/// content, sequence numbers ahead of every key and covered by the reservation.
pub fn verify(dir: &Path) -> Result<Report, OutboxError> {
    let ro = ReadOnly::open(dir)?;
    let mut r = Report {
        path: dir.to_path_buf(),
        file_bytes: std::fs::metadata(dir.join("data.mdb"))?.len(),
        last_txn: ro.env.info().last_txn_id as u64,
        reserved: seq::Reservation::read(dir),
        ..Report::default()
    };
    if let Err(integrity::OpenFailure::Corrupt(why)) = integrity::check_file_length(&ro.env, dir) {
        r.problems.push(why);
        return Ok(r); // walking a truncated file would fault
    }
    if let Err(e) = walk(&ro, &mut r) {
        r.problems
            .push(format!("walking the databases failed: {e}"));
    }
    Ok(r)
}

fn walk(ro: &ReadOnly, r: &mut Report) -> Result<(), OutboxError> {
    let dbs = ro.databases()?;
    let txn = ro.env.read_txn()?;
    let Some(meta) = dbs.meta else {
        r.problems.push("no meta database".into());
        return Ok(());
    };
    let get = |k: &str| -> Result<u64, OutboxError> { Ok(meta.get(&txn, k)?.unwrap_or(0)) };
    r.next_seq = get("next_seq")?.max(1);
    r.first_seq = meta.get(&txn, super::FIRST_SEQ)?;
    r.first_seq_clock_wrong = get(super::FIRST_SEQ_CLOCK_WRONG)? == 1;
    r.quarantined = get("quarantined")?;
    r.recovered = get("recovered")?;
    r.set_aside = get("set_aside")?;
    let mut max_key = 0u64;
    for class in Class::ALL {
        let n = class.name();
        r.stored[idx(class)] = ClassCounters {
            count: get(&format!("{n}.count"))?,
            bytes: get(&format!("{n}.bytes"))?,
            evicted: get(&format!("{n}.evicted"))?,
        };
        let Some(db) = dbs.data[idx(class)] else {
            r.problems.push(format!("no {n} database"));
            continue;
        };
        let w = &mut r.walked[idx(class)];
        let mut undecodable = Vec::new();
        for item in db.iter(&txn)? {
            let (seq, v) = item?;
            w.entries += 1;
            w.bytes += v.len() as u64 + ENTRY_OVERHEAD;
            w.first_seq.get_or_insert(seq);
            w.last_seq = Some(seq);
            max_key = max_key.max(seq);
            let record = decode(v);
            if w.oldest_ts_ns.is_none() {
                w.oldest_ts_ns = record.as_ref().map(|r| r.ts_ns());
            }
            if record.is_none() {
                w.undecodable += 1;
                if undecodable.len() < 5 {
                    undecodable.push(seq);
                }
            }
        }
        if w.undecodable > 0 {
            r.problems.push(format!(
                "{} {n} entries are undecodable (first: {undecodable:?}); the agent quarantines them when it reaches them",
                w.undecodable
            ));
        }
        let s = r.stored[idx(class)];
        if (s.count, s.bytes) != (w.entries, w.bytes) {
            r.problems.push(format!(
                "{n} counters say {} entries / {} bytes, the database holds {} / {}; the agent rebuilds them at start",
                s.count, s.bytes, w.entries, w.bytes
            ));
        }
    }
    if let Some(q) = dbs.quarantine {
        r.quarantine_entries = q.len(&txn)?;
        if let Some((last, _)) = q.last(&txn)? {
            max_key = max_key.max(last);
        }
    }
    if max_key >= r.next_seq {
        r.problems.push(format!(
            "next sequence number {} is not above the highest key {max_key}",
            r.next_seq
        ));
    }
    if let Some(reserved) = r.reserved {
        if reserved < r.next_seq {
            r.problems.push(format!(
                "the sequence reservation {reserved} is below the next sequence number {}",
                r.next_seq
            ));
        }
    }
    Ok(())
}

/// Which entries `dump` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpWhat {
    Class(Class),
    Quarantine,
    /// Dead letters: `class` is `dead/<class>`.
    Dead,
}

/// Write entries as JSON lines (`{"seq", "class", "record"}`; undecodable ones as
/// `{"seq", "class", "undecodable_hex"}`), from sequence number `from`, at most `limit`.
/// Returns the number of lines written.
pub fn dump(
    dir: &Path,
    what: &[DumpWhat],
    from: u64,
    limit: usize,
    out: &mut dyn Write,
) -> Result<u64, OutboxError> {
    let ro = ReadOnly::open(dir)?;
    if let Err(integrity::OpenFailure::Corrupt(why)) = integrity::check_file_length(&ro.env, dir) {
        return Err(OutboxError::Unrecoverable(why));
    }
    let dbs = ro.databases()?;
    let txn = ro.env.read_txn()?;
    let mut written = 0u64;
    for w in what {
        let (name, quarantined, db) = match w {
            DumpWhat::Class(c) => (c.name(), false, dbs.data[idx(*c)]),
            DumpWhat::Quarantine => ("quarantine", true, dbs.quarantine),
            DumpWhat::Dead => ("dead", false, dbs.dead),
        };
        let Some(db) = db else {
            continue;
        };
        for item in db.range(&txn, &(from..))? {
            if written as usize >= limit {
                return Ok(written);
            }
            let (seq, v) = item?;
            // A dead letter: its class's byte, then the stored value.
            let (name, v) = match (w, v.split_first()) {
                (DumpWhat::Dead, Some((&b, rest))) => {
                    let class = Class::ALL.into_iter().find(|c| idx(*c) == b as usize);
                    let name = class.map_or("dead/?".to_string(), |c| format!("dead/{}", c.name()));
                    (name, rest)
                }
                _ => (name.to_string(), v),
            };
            let line = match (quarantined, decode(v)) {
                (false, Some(record)) => {
                    serde_json::json!({ "seq": seq, "class": name, "record": record })
                }
                _ => serde_json::json!({ "seq": seq, "class": name, "undecodable_hex": hex(v) }),
            };
            writeln!(out, "{line}")?;
            written += 1;
        }
    }
    Ok(written)
}

/// Up to `limit` decodable records of `class` from sequence number `from` on, for
/// `forewarn outbox salvage`; also the number of undecodable entries passed over and the
/// sequence number to continue from (`None` at the end).
pub fn readable(
    dir: &Path,
    class: Class,
    from: u64,
    limit: usize,
) -> Result<Readable, OutboxError> {
    let ro = ReadOnly::open(dir)?;
    if let Err(integrity::OpenFailure::Corrupt(why)) = integrity::check_file_length(&ro.env, dir) {
        return Err(OutboxError::Unrecoverable(why));
    }
    let dbs = ro.databases()?;
    let txn = ro.env.read_txn()?;
    let mut out = Readable::default();
    let Some(db) = dbs.data[idx(class)] else {
        return Ok(out);
    };
    for (seen, item) in db.range(&txn, &(from..))?.enumerate() {
        let (seq, v) = item?;
        if seen == limit {
            out.next = Some(seq);
            break;
        }
        match decode(v) {
            Some(record) => out.records.push((seq, record)),
            None => out.undecodable += 1,
        }
    }
    Ok(out)
}

/// A batch read by [`readable`].
#[derive(Debug, Default)]
pub struct Readable {
    pub records: Vec<(u64, crate::record::Record)>,
    pub undecodable: u64,
    pub next: Option<u64>,
}

use crate::util::hex;
