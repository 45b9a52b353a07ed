//! Opening: map sizing, the open ladder ([`super::integrity`]), and the walk that checks
//! every database and rebuilds counters that disagree with the content.

use std::path::Path;
use std::sync::{Mutex, RwLock};

use heed::byteorder::BE;
use heed::types::{Bytes, Str, U64};
use heed::{CommitOrAbort, Database, EnvFlags, EnvOpenOptions};

use super::integrity::{self, OpenFailure, OpenMarker};
use super::{
    baselines, dead, idx, seq, Counters, Outbox, OutboxError, Recovery, ENTRY_OVERHEAD, FIRST_SEQ,
    FIRST_SEQ_CLOCK_WRONG, STATE_DB,
};
use crate::config::Durability;
use crate::record::Class;

impl Outbox {
    /// Open (or create) the outbox in `dir`, recovering from damage (see [`integrity`]).
    pub fn open(
        dir: &Path,
        budget_bytes: u64,
        durability: Durability,
    ) -> Result<Outbox, OutboxError> {
        let map_size = Outbox::map_size(budget_bytes);
        let floor = seq::fresh_floor(crate::record::now_ns());
        Outbox::open_sized(dir, budget_bytes, durability, map_size, floor)
    }

    /// The LMDB map an outbox of `budget_bytes` opens with: twice the budget plus 64 MiB.
    pub(super) fn map_size(budget_bytes: u64) -> usize {
        usize::try_from(budget_bytes.saturating_mul(2).saturating_add(64 << 20))
            .unwrap_or(usize::MAX / 2)
    }

    /// [`Outbox::open`] with an explicit LMDB map size (tests use a small one to hit
    /// `MDB_MAP_FULL` before the budget) and where a fresh outbox starts numbering (tests
    /// start at 1).
    pub(super) fn open_sized(
        dir: &Path,
        budget_bytes: u64,
        durability: Durability,
        map_size: usize,
        fresh_floor: seq::Floor,
    ) -> Result<Outbox, OutboxError> {
        std::fs::create_dir_all(dir).map_err(|error| OutboxError::Dir {
            path: dir.to_path_buf(),
            error,
        })?;
        // Nothing here yet (first start, or the data directory was wiped): number from the
        // clock, above whatever a wiped outbox handed out.
        let fresh = !dir.join("data.mdb").exists();
        let (marker, faulted) = OpenMarker::enter(dir)?;
        let opened = Outbox::open_ladder(dir, budget_bytes, durability, map_size, faulted);
        // Only a start that faulted while opening (inside LMDB, on a damaged file) is counted
        // by the marker. One that returned, with an outbox or with an ordinary error (EACCES,
        // a missing directory), or that was killed, is not a crash loop.
        let finished = marker.finish();
        let outbox = opened?;
        finished?;
        if fresh {
            outbox.number_from(fresh_floor)?;
            outbox.reserve_ahead()?;
        }
        Ok(outbox)
    }

    /// The open ladder ([`integrity`]): as it is, else the previous snapshot, else set aside.
    fn open_ladder(
        dir: &Path,
        budget_bytes: u64,
        durability: Durability,
        map_size: usize,
        faulted: u64,
    ) -> Result<Outbox, OutboxError> {
        let first = if faulted >= integrity::MAX_FAULTED_OPENS {
            Err(OpenFailure::Corrupt(format!(
                "{faulted} starts in a row faulted while opening the outbox"
            )))
        } else {
            Outbox::open_checked(dir, budget_bytes, durability, map_size, false)
        };
        let outbox = match first {
            Ok(o) => o,
            Err(OpenFailure::Other(e)) => return Err(e),
            Err(OpenFailure::Corrupt(reason)) => {
                tracing::error!(path = %dir.display(), %reason, "The outbox is damaged.");
                let previous = if faulted >= integrity::MAX_FAULTED_OPENS {
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
        options.map_size(map_size).max_dbs(16);
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
        let (alert, status, telemetry, meta, quarantine, baselines, requests, dead, state) = env
            .create_databases_and_commit(wtxn, |dbo, wtxn| {
                let a: Database<U64<BE>, Bytes> = dbo.create_database(wtxn, Some("alert"))?;
                let s: Database<U64<BE>, Bytes> = dbo.create_database(wtxn, Some("status"))?;
                let t: Database<U64<BE>, Bytes> = dbo.create_database(wtxn, Some("telemetry"))?;
                let m: Database<Str, U64<BE>> = dbo.create_database(wtxn, Some("meta"))?;
                let q: Database<U64<BE>, Bytes> = dbo.create_database(wtxn, Some("quarantine"))?;
                let b: Database<Str, Bytes> =
                    dbo.create_database(wtxn, Some(baselines::BASELINES))?;
                let r: Database<Str, Bytes> =
                    dbo.create_database(wtxn, Some(baselines::REQUESTS_DB))?;
                let d: Database<U64<BE>, Bytes> = dbo.create_database(wtxn, Some(dead::DEAD_DB))?;
                let st: Database<Str, Bytes> = dbo.create_database(wtxn, Some(STATE_DB))?;
                Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit((a, s, t, m, q, b, r, d, st)))
            })?
            .unwrap_commit();
        let mut outbox = Outbox {
            env,
            data: [alert, status, telemetry],
            meta,
            quarantine,
            dead,
            state,
            baseline_dbs: baselines::Dbs {
                baselines,
                requests,
            },
            budget: budget_bytes,
            writer: Mutex::new(Counters::default()),
            snapshot: Mutex::new(Counters::default()),
            reservation: Mutex::new(seq::Reservation::load(dir)),
            recovery: None,
            refused: Default::default(),
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

    /// A fresh outbox: start numbering at `floor` (if nothing was numbered yet) and keep it
    /// as `first_seq`, which `outbox stats` shows.
    fn number_from(&self, floor: seq::Floor) -> Result<(), OutboxError> {
        let mut guard = self.lock()?;
        let mut c = *guard;
        if c.next_seq > 1 {
            return Ok(());
        }
        c.next_seq = c.next_seq.max(floor.seq);
        let mut wtxn = self.env.write_txn()?;
        self.write_counters(&mut wtxn, &c)?;
        self.meta.put(&mut wtxn, FIRST_SEQ, &c.next_seq)?;
        if floor.clock_wrong {
            self.meta.put(&mut wtxn, FIRST_SEQ_CLOCK_WRONG, &1)?;
        }
        wtxn.commit()?;
        *guard = c;
        drop(guard);
        self.publish(c);
        if floor.clock_wrong {
            tracing::error!(
                first_seq = c.next_seq,
                "A new outbox, and the clock reads before 2026-12-01: sequence numbers start \
                 from that date's floor and may repeat those of an outbox wiped since. Set the \
                 clock (NTP) before the agent's first start."
            );
        } else {
            tracing::info!(
                first_seq = c.next_seq,
                "A new outbox; numbering from the clock."
            );
        }
        Ok(())
    }

    /// Keep the reservation a block ahead of `next_seq` from the start.
    fn reserve_ahead(&self) -> Result<(), OutboxError> {
        let next = self.counters().next_seq;
        self.reservation_lock()?.cover(next)?;
        Ok(())
    }

    /// Walk every database (touching every page), load the counters, and rebuild them if they
    /// disagree with the content.
    fn recover(&self) -> Result<Counters, OutboxError> {
        let mut wtxn = self.env.write_txn()?;
        let mut c = self.read_counters(&wtxn)?;
        let mut fixed = false;
        // The checkpoints' pages are read too (a fault here is caught like one in the data).
        for item in self.state.iter(&wtxn)? {
            item?;
        }
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
        let dead = self.dead.len(&wtxn)?;
        if dead != c.dead {
            c.dead = dead;
            fixed = true;
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
}
