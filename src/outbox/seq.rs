//! Sequence-number reservations: a floor for sequence numbers that survives what LMDB may not.
//!
//! The outbox persists `next_seq` in LMDB with each append. Three events can take LMDB back
//! to an older `next_seq` while records with later numbers may already have reached Kafka:
//! a power cut under `batched` durability (unsynced commits vanish), opening the previous
//! snapshot after corruption, and setting a corrupt outbox aside for a fresh one. Reusing a
//! number there would make consumers drop a new record as a "duplicate" of an old one.
//!
//! So the outbox reserves numbers in blocks: before a commit uses a number at or above the
//! reservation, it writes a new reservation to `seq.reserved` (write to a temporary file,
//! fsync, rename, fsync the directory). Every number ever handed out is below the durable
//! reservation, and after any of the events above the outbox continues from the reservation.
//! One small file write per [`BLOCK`] sequence numbers.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Sequence numbers reserved per file write.
pub const BLOCK: u64 = 1 << 20;
const FILE: &str = "seq.reserved";

/// The reservation file of one outbox directory.
#[derive(Debug)]
pub struct Reservation {
    path: PathBuf,
    /// Every sequence number handed out is below this (once it was written).
    reserved: u64,
}

impl Reservation {
    /// Read the reservation in `dir`: `None` when the file is missing or unreadable.
    pub fn read(dir: &Path) -> Option<u64> {
        let text = fs::read_to_string(dir.join(FILE)).ok()?;
        text.trim().parse().ok()
    }

    /// The reservation of `dir`, starting from what the file says (0 if nothing).
    pub fn load(dir: &Path) -> Reservation {
        Reservation {
            path: dir.join(FILE),
            reserved: Reservation::read(dir).unwrap_or(0),
        }
    }

    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Make sure numbers below `end` are reserved, writing a new block if they are not.
    pub fn cover(&mut self, end: u64) -> std::io::Result<()> {
        if end <= self.reserved {
            return Ok(());
        }
        let next = end.saturating_add(BLOCK);
        write_durably(&self.path, format!("{next}\n").as_bytes())?;
        self.reserved = next;
        Ok(())
    }
}

/// Replace `path` with `bytes` so that a crash leaves either the old or the new content.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// A floor from the wall clock (microseconds since the epoch), for a fresh outbox that
/// replaces one whose reservation could not be read. Unique as long as the replaced outbox
/// handed out fewer numbers than microseconds passed since its creation, and the clock is set.
pub fn clock_floor() -> u64 {
    fresh_floor(crate::record::now_ns()).seq
}

/// No clock that reads before this (2026-12-01T00:00:00Z, when this rule was written) is set:
/// a gateway without a battery-backed clock boots in 1970 until NTP answers.
pub const CLOCK_NOT_BEFORE_NS: i64 = 1_796_083_200 * 1_000_000_000;

/// Where a fresh outbox starts numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    pub seq: u64,
    /// The clock read before [`CLOCK_NOT_BEFORE_NS`]: the floor is that date's, and numbers
    /// can repeat those of an outbox wiped after that date.
    pub clock_wrong: bool,
}

/// The first sequence number of an outbox created with the clock at `now_ns`: the clock in
/// microseconds, so that numbering continues above every number of an outbox that was
/// wiped (a re-flash, a new SD card, `dpkg -P`), as long as that outbox handed out fewer
/// numbers than microseconds passed since it was created. A clock that is obviously wrong
/// (before [`CLOCK_NOT_BEFORE_NS`]) gives that date's floor instead, and says so.
pub fn fresh_floor(now_ns: i64) -> Floor {
    let clock_wrong = now_ns < CLOCK_NOT_BEFORE_NS;
    let ns = now_ns.max(CLOCK_NOT_BEFORE_NS);
    Floor {
        seq: u64::try_from(ns / 1_000).unwrap_or(1).max(1),
        clock_wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covering_writes_a_block_ahead_only_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Reservation::load(dir.path());
        assert_eq!(r.reserved(), 0);
        r.cover(10).unwrap();
        assert_eq!(r.reserved(), 10 + BLOCK);
        assert_eq!(Reservation::read(dir.path()), Some(10 + BLOCK));
        fs::write(dir.path().join(FILE), "7\n").unwrap();
        r.cover(BLOCK).unwrap(); // still covered in memory: no write
        assert_eq!(Reservation::read(dir.path()), Some(7));
        assert_eq!(Reservation::load(dir.path()).reserved(), 7);
    }

    #[test]
    fn a_fresh_floor_follows_the_clock_and_never_falls_below_the_sanity_date() {
        let day = 86_400 * 1_000_000_000i64;
        let now = CLOCK_NOT_BEFORE_NS + 30 * day;
        let f = fresh_floor(now);
        assert_eq!(f.seq, (now / 1_000) as u64);
        assert!(!f.clock_wrong);
        // Later is higher: a wipe a second later starts a million numbers above.
        assert_eq!(fresh_floor(now + 1_000_000_000).seq - f.seq, 1_000_000);
        for wrong in [0, -5, i64::MIN, CLOCK_NOT_BEFORE_NS - 1] {
            let f = fresh_floor(wrong);
            assert!(f.clock_wrong, "{wrong}");
            assert_eq!(f.seq, (CLOCK_NOT_BEFORE_NS / 1_000) as u64);
        }
        assert_eq!(fresh_floor(i64::MAX).seq, (i64::MAX / 1_000) as u64);
    }

    #[test]
    fn a_garbled_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), b"\xff\x00garbage").unwrap();
        assert_eq!(Reservation::read(dir.path()), None);
        assert_eq!(Reservation::load(dir.path()).reserved(), 0);
    }
}
