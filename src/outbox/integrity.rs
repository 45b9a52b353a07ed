//! Opening an outbox that may be damaged: detect, recover or set aside, never crash-loop.
//!
//! The ladder at open (see [`super::Outbox::open`]):
//! 1. open normally, check that the data file is as long as its last committed page needs
//!    (a truncated file would fault on access), and walk every database;
//! 2. on corruption, open the previous snapshot (LMDB keeps two meta pages) and walk again:
//!    this loses the last transaction at most;
//! 3. if that fails too, rename the directory to `outbox.corrupt-<UTC time>` and start a fresh
//!    outbox. The set-aside copy stays for `forewarn outbox dump`; the newest
//!    [`KEEP_SET_ASIDE`] copies are kept.
//!
//! A garbled page can make LMDB fault instead of returning an error. A marker file counts
//! starts that died while opening; after [`MAX_UNFINISHED_OPENS`] such starts in a row, the
//! next start goes straight to step 3 instead of faulting again. A start whose open returned
//! (an outbox, or an ordinary error such as EACCES) clears the marker, and the agent installs
//! its SIGTERM, SIGINT and SIGHUP handlers before it opens the outbox, so a `systemctl
//! reload` or stop during a long walk is not counted either. A kill during the walk (SIGKILL
//! after `TimeoutStartSec=`) still is: it cannot be told from a fault.

use std::fs;
use std::path::{Path, PathBuf};

use heed::{Env, MdbError};

use super::seq::write_durably;
use super::OutboxError;

/// Starts that stopped while opening the outbox before it is set aside unopened.
pub const MAX_UNFINISHED_OPENS: u64 = 3;
/// Set-aside copies kept per data directory.
pub const KEEP_SET_ASIDE: usize = 3;
const MARKER: &str = "opening";
const SET_ASIDE_PREFIX: &str = "outbox.corrupt-";

/// Why an open attempt failed.
#[derive(Debug)]
pub enum OpenFailure {
    /// The data is damaged: recover or set aside.
    Corrupt(String),
    /// Anything else (permissions, disk, ...): report it, touch nothing.
    Other(OutboxError),
}

impl From<heed::Error> for OpenFailure {
    fn from(e: heed::Error) -> OpenFailure {
        match e {
            heed::Error::Mdb(
                MdbError::Invalid
                | MdbError::Corrupted
                | MdbError::PageNotFound
                | MdbError::Panic
                | MdbError::VersionMismatch
                | MdbError::BadTxn,
            ) => OpenFailure::Corrupt(format!("LMDB: {e}")),
            e => OpenFailure::Other(OutboxError::Lmdb(e)),
        }
    }
}

impl From<OutboxError> for OpenFailure {
    fn from(e: OutboxError) -> OpenFailure {
        match e {
            OutboxError::Lmdb(e) => e.into(),
            e => OpenFailure::Other(e),
        }
    }
}

/// What opening the outbox had to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The latest transaction was damaged; the previous snapshot was opened.
    PreviousSnapshot { reason: String },
    /// The outbox could not be opened; it was renamed to `path` and a fresh one started.
    SetAside { reason: String, path: PathBuf },
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovery::PreviousSnapshot { reason } => {
                write!(
                    f,
                    "opened the previous snapshot (the latest was damaged: {reason})"
                )
            }
            Recovery::SetAside { reason, path } => write!(
                f,
                "set the outbox aside as {} and started a fresh one ({reason})",
                path.display()
            ),
        }
    }
}

/// Check that the data file holds every page the last committed transaction refers to.
pub fn check_file_length(env: &Env, dir: &Path) -> Result<(), OpenFailure> {
    let page = env.unnamed_database_stat().page_size as u64;
    let last = env.info().last_page_number as u64;
    let needed = last.saturating_add(1).saturating_mul(page);
    let len = fs::metadata(dir.join("data.mdb"))
        .map_err(|e| OpenFailure::Other(OutboxError::Io(e)))?
        .len();
    if len < needed {
        return Err(OpenFailure::Corrupt(format!(
            "data.mdb is {len} bytes but its last committed page ends at byte {needed} (truncated)"
        )));
    }
    Ok(())
}

const ENOSPC: i32 = 28;

/// The marker counting starts that did not finish opening.
pub struct OpenMarker {
    /// `None` when the filesystem was full: that start is not counted.
    path: Option<PathBuf>,
}

impl OpenMarker {
    /// Count this start; returns how many earlier starts did not finish opening.
    pub fn enter(dir: &Path) -> Result<(OpenMarker, u64), OutboxError> {
        let path = dir.join(MARKER);
        let unfinished = fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        match write_durably(&path, format!("{}\n", unfinished + 1).as_bytes()) {
            Ok(()) => Ok((OpenMarker { path: Some(path) }, unfinished)),
            // A full disk must not keep the agent from starting (the outbox makes room by
            // evicting); this start just goes uncounted by the crash-loop breaker.
            Err(e) if e.raw_os_error() == Some(ENOSPC) => {
                tracing::warn!(error = %e, "Cannot write the outbox's open marker (disk full); this start is not counted by the crash-loop breaker.");
                Ok((OpenMarker { path: None }, unfinished))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Opening finished: the next start begins from zero.
    pub fn finish(self) -> Result<(), OutboxError> {
        let Some(path) = self.path else {
            return Ok(());
        };
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Rename `dir` out of the way, prune old copies, and recreate an empty `dir`.
pub fn set_aside(dir: &Path) -> Result<PathBuf, OutboxError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut target = parent.join(format!("{SET_ASIDE_PREFIX}{stamp}"));
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = parent.join(format!("{SET_ASIDE_PREFIX}{stamp}-{n}"));
    }
    fs::rename(dir, &target)?;
    fs::create_dir_all(dir)?;
    fs::File::open(parent)?.sync_all()?;
    prune(parent);
    Ok(target)
}

/// Keep the newest [`KEEP_SET_ASIDE`] set-aside copies (names sort by time).
fn prune(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let mut copies: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(SET_ASIDE_PREFIX)
        })
        .map(|e| e.path())
        .collect();
    copies.sort();
    let excess = copies.len().saturating_sub(KEEP_SET_ASIDE);
    for old in &copies[..excess] {
        match fs::remove_dir_all(old) {
            Ok(()) => tracing::warn!(path = %old.display(), "Removed an old set-aside outbox."),
            Err(e) => {
                tracing::warn!(path = %old.display(), error = %e, "Cannot remove an old set-aside outbox.")
            }
        }
    }
}
