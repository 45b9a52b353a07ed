use std::path::{Path, PathBuf};

use super::*;
use crate::config::Durability;
use crate::record::*;

fn telemetry(i: i64) -> Record {
    Record::Telemetry(Telemetry {
        schema: TELEMETRY_SCHEMA.into(),
        gateway: "gw".into(),
        site: "s".into(),
        asset: "a".into(),
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

fn alert(i: i64) -> Record {
    Record::Alert(Alert {
        schema: ALERT_SCHEMA.into(),
        id: format!("gw/a/r/{i}"),
        event: AlertEvent::Raised,
        gateway: "gw".into(),
        site: "s".into(),
        asset: "a".into(),
        rule: "r".into(),
        severity: Severity::Warning,
        signal: "x".into(),
        value: 1.0,
        limit: 0.5,
        ts_ns: i,
        since_ns: i,
        meta: AssetMeta::default(),
        model: None,
        detector: None,
    })
}

const MIB: u64 = 1024 * 1024;

/// Records for tests elsewhere in the outbox module.
pub(crate) fn telemetry_record(i: i64) -> Record {
    telemetry(i)
}
pub(crate) fn alert_record(i: i64) -> Record {
    alert(i)
}

/// These tests number a fresh outbox from 1, not from the clock (tested on its own below).
const FROM_ONE: seq::Floor = seq::Floor {
    seq: 1,
    clock_wrong: false,
};

fn open(dir: &Path, budget: u64, durability: Durability) -> Result<Outbox, OutboxError> {
    Outbox::open_sized(dir, budget, durability, Outbox::map_size(budget), FROM_ONE)
}

#[test]
fn a_fresh_outbox_numbers_from_the_clock_and_a_wiped_one_continues_above() {
    let dir = tempfile::tempdir().unwrap();
    let before = seq::clock_floor();
    let o = Outbox::open(dir.path(), MIB, Durability::Full).unwrap();
    let first = o.counters().next_seq;
    assert!(first >= before && first <= seq::clock_floor(), "{first}");
    let last = o.append(&[telemetry(1), alert(2)]).unwrap()[1];
    assert_eq!(last, first + 1);
    // Reopening keeps counting; it is not fresh.
    drop(o);
    let o = Outbox::open(dir.path(), MIB, Durability::Full).unwrap();
    assert_eq!(o.counters().next_seq, first + 2);
    drop(o);
    let report = inspect::verify(dir.path()).unwrap();
    assert_eq!(
        (report.first_seq, report.first_seq_clock_wrong),
        (Some(first), false)
    );
    // Wiped (files and reservation gone): the new outbox starts above every earlier number.
    std::fs::remove_dir_all(dir.path()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let o = Outbox::open(dir.path(), MIB, Durability::Full).unwrap();
    assert!(
        o.counters().next_seq > last,
        "{} <= {last}",
        o.counters().next_seq
    );
}

#[test]
fn a_fresh_outbox_with_a_wrong_clock_starts_at_the_sanity_floor_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let floor = seq::fresh_floor(0);
    let o = Outbox::open_sized(
        dir.path(),
        MIB,
        Durability::Full,
        Outbox::map_size(MIB),
        floor,
    )
    .unwrap();
    assert_eq!(o.counters().next_seq, floor.seq);
    drop(o);
    let report = inspect::verify(dir.path()).unwrap();
    assert_eq!(
        (report.first_seq, report.first_seq_clock_wrong),
        (Some(floor.seq), true)
    );
}

fn seqs(o: &Outbox, class: Class) -> Vec<u64> {
    o.read_after(class, 0, usize::MAX)
        .unwrap()
        .entries
        .iter()
        .map(|e| e.seq)
        .collect()
}

#[test]
fn appended_records_survive_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let o = open(dir.path(), MIB, Durability::Full).unwrap();
        assert_eq!(
            o.append(&[telemetry(1), alert(2), telemetry(3)]).unwrap(),
            vec![1, 2, 3]
        );
    }
    let o = open(dir.path(), MIB, Durability::Full).unwrap();
    let t = o.read_after(Class::Telemetry, 0, 10).unwrap();
    assert_eq!(
        t.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(t.entries[1].record, telemetry(3));
    assert_eq!(seqs(&o, Class::Alert), vec![2]);
    assert_eq!(o.counters().class(Class::Telemetry).count, 2);
}

#[test]
fn sequence_numbers_are_never_reused_after_the_outbox_drains() {
    let dir = tempfile::tempdir().unwrap();
    {
        let o = open(
            dir.path(),
            MIB,
            Durability::Batched(std::time::Duration::from_millis(10)),
        )
        .unwrap();
        o.append(&[telemetry(1), telemetry(2)]).unwrap();
        o.ack(Class::Telemetry, &[1, 2]).unwrap();
        o.sync().unwrap();
        assert_eq!(o.counters().class(Class::Telemetry).count, 0);
    }
    let o = open(dir.path(), MIB, Durability::Full).unwrap();
    assert_eq!(o.append(&[telemetry(3)]).unwrap(), vec![3]);
}

#[test]
fn read_after_resumes_from_a_cursor_and_ack_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let o = open(dir.path(), MIB, Durability::Full).unwrap();
    let recs: Vec<Record> = (0..10).map(telemetry).collect();
    o.append(&recs).unwrap();
    let b = o.read_after(Class::Telemetry, 4, 3).unwrap();
    assert_eq!(
        b.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    o.ack(Class::Telemetry, &[5, 6, 7, 99]).unwrap();
    assert_eq!(seqs(&o, Class::Telemetry), vec![1, 2, 3, 4, 8, 9, 10]);
    let c = o.counters();
    assert_eq!(c.class(Class::Telemetry).count, 7);
    assert_eq!(c.class(Class::Telemetry).evicted, 0);
}

#[test]
fn full_budget_evicts_oldest_telemetry_and_keeps_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let o = open(dir.path(), MIB, Durability::Full).unwrap();
    o.append(&[alert(0)]).unwrap();
    let mut appended = 1u64;
    // Fill well past the budget with telemetry, in batches.
    while appended < 20_000 {
        let batch: Vec<Record> = (0..500).map(|i| telemetry(appended as i64 + i)).collect();
        o.append(&batch).unwrap();
        appended += 500;
    }
    o.append(&[alert(1)]).unwrap();
    let c = o.counters();
    assert!(
        c.total_bytes() <= MIB,
        "budget respected: {}",
        c.total_bytes()
    );
    assert_eq!(
        c.class(Class::Alert).count,
        2,
        "alerts stay while telemetry remains"
    );
    assert_eq!(c.class(Class::Alert).evicted, 0);
    let t = c.class(Class::Telemetry);
    assert!(t.evicted > 0);
    assert_eq!(
        t.evicted + t.count,
        20_000,
        "every telemetry record is either kept or counted as evicted"
    );
    // The oldest went first: what remains is one contiguous, newest range.
    let kept = seqs(&o, Class::Telemetry);
    assert_eq!(kept.len() as u64, t.count);
    assert!(kept.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(*kept.last().unwrap(), 20_001);
}

/// Appends `n` alerts in batches of 500.
fn append_alerts(o: &Outbox, n: i64) {
    for from in (0..n).step_by(500) {
        let batch: Vec<Record> = (from..(from + 500).min(n)).map(alert).collect();
        o.append(&batch).unwrap();
    }
}

#[test]
fn alerts_are_evicted_only_when_nothing_else_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let o = open(dir.path(), MIB, Durability::Full).unwrap();
    o.append(&[telemetry(0)]).unwrap();
    append_alerts(&o, 8_000);
    let c = o.counters();
    assert_eq!(c.class(Class::Telemetry).count, 0);
    assert_eq!(c.class(Class::Telemetry).evicted, 1, "telemetry went first");
    assert!(c.class(Class::Alert).evicted > 0);
    assert_eq!(
        c.class(Class::Alert).evicted + c.class(Class::Alert).count,
        8_000
    );
}

/// The alerts topic refuses the agent: alerts pile up, and the budget evicts their oldest
/// rather than the telemetry (which Kafka takes); once the topic takes records again, the usual
/// order is back.
#[test]
fn a_class_whose_topic_refuses_the_agent_is_evicted_first() {
    let dir = tempfile::tempdir().unwrap();
    let o = open(dir.path(), MIB, Durability::Full).unwrap();
    let telemetry_batch: Vec<Record> = (0..100).map(telemetry).collect();
    o.append(&telemetry_batch).unwrap();
    o.set_refused(Class::Alert, true);
    assert_eq!(o.refused_classes(), [Class::Alert]);
    append_alerts(&o, 8_000);
    let c = o.counters();
    assert!(c.total_bytes() <= MIB);
    assert_eq!(c.class(Class::Telemetry).count, 100, "telemetry kept");
    assert_eq!(c.class(Class::Telemetry).evicted, 0);
    let a = c.class(Class::Alert);
    assert!(a.evicted > 0);
    assert_eq!(a.evicted + a.count, 8_000);
    // The oldest went: what is kept is one contiguous range, up to the newest.
    let kept = seqs(&o, Class::Alert);
    assert_eq!(kept.len() as u64, a.count);
    assert!(kept.windows(2).all(|w| w[1] == w[0] + 1), "{kept:?}");
    assert_eq!(*kept.last().unwrap(), c.next_seq - 1);

    o.set_refused(Class::Alert, false);
    assert!(o.refused_classes().is_empty());
    o.append(&[alert(9_000)]).unwrap();
    let c = o.counters();
    assert_eq!(
        c.class(Class::Telemetry).evicted,
        1,
        "telemetry goes first again"
    );
}

#[test]
fn undecodable_entries_are_quarantined_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let o = open(dir.path(), MIB, Durability::Full).unwrap();
    o.append(&[telemetry(1)]).unwrap();
    {
        // Corrupt one entry behind the outbox's back.
        let mut w = o.env.write_txn().unwrap();
        o.data[idx(Class::Telemetry)]
            .put(&mut w, &2, b"\x01garbage")
            .unwrap();
        w.commit().unwrap();
    }
    let b = o.read_after(Class::Telemetry, 0, 10).unwrap();
    assert_eq!(b.entries.len(), 1);
    assert_eq!(b.undecodable, vec![2]);
    o.quarantine(Class::Telemetry, &b.undecodable).unwrap();
    assert_eq!(o.counters().quarantined, 1);
    assert_eq!(seqs(&o, Class::Telemetry), vec![1]);
}

#[test]
fn counters_are_rebuilt_when_they_disagree_with_content() {
    let dir = tempfile::tempdir().unwrap();
    {
        let o = open(dir.path(), MIB, Durability::Full).unwrap();
        o.append(&[telemetry(1), telemetry(2)]).unwrap();
        let mut w = o.env.write_txn().unwrap();
        o.meta.put(&mut w, "telemetry.count", &7).unwrap();
        o.meta.put(&mut w, "next_seq", &1).unwrap();
        w.commit().unwrap();
    }
    let o = open(dir.path(), MIB, Durability::Full).unwrap();
    assert_eq!(o.counters().class(Class::Telemetry).count, 2);
    assert_eq!(
        o.append(&[telemetry(3)]).unwrap(),
        vec![3],
        "sequence continues after the last key"
    );
}

#[test]
fn a_full_map_grows_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    // Budget 8 MiB, LMDB map 1 MiB: appends hit MDB_MAP_FULL long before the budget.
    let o = Outbox::open_sized(
        dir.path(),
        8 * MIB,
        Durability::Full,
        MIB as usize,
        FROM_ONE,
    )
    .unwrap();
    o.append(&[alert(0)]).unwrap();
    for round in 0..50 {
        let batch: Vec<Record> = (0..200).map(|i| telemetry(round * 200 + i)).collect();
        o.append(&batch).unwrap();
    }
    assert!(o.env.info().map_size > MIB as usize, "the map grew");
    let c = o.counters();
    assert_eq!(c.class(Class::Telemetry).evicted, 0, "{c:?}");
    assert_eq!(c.class(Class::Telemetry).count, 50 * 200);
    assert_eq!(c.class(Class::Alert).count, 1);
    // Readers work after the resize.
    assert_eq!(seqs(&o, Class::Alert), vec![1]);
}

/// A real small filesystem for storage faults: a tmpfs of a given size, which can be
/// remounted read-only. Needs the right to mount (root, as CI runs); without it a test says
/// so and ends.
pub(crate) struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    pub(crate) fn mount(bytes: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
            return None;
        }
        Some(Tmpfs(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        self.0.path()
    }

    /// Fill the filesystem with a file until writes fail with `ENOSPC`; returns the file.
    pub(crate) fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0xA5u8; 4096];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// A filesystem that fills before the budget: a 4 MiB tmpfs under an outbox whose budget is
/// 64 MiB.
mod disk_full {
    use super::*;

    #[test]
    fn a_full_disk_before_the_budget_evicts_telemetry_and_alerts_still_go_in() {
        let Some(fs) = Tmpfs::mount(4 * MIB) else {
            return;
        };
        let dir = fs.0.path().join("outbox");
        let o = open(&dir, 64 * MIB, Durability::Full).unwrap();
        let mut i = 0i64;
        // Telemetry until the disk is full and the outbox had to evict for it.
        while o.counters().class(Class::Telemetry).evicted == 0 {
            let batch: Vec<Record> = (0..64).map(|k| telemetry(i + k)).collect();
            o.append(&batch)
                .unwrap_or_else(|e| panic!("telemetry append {i}: {e}"));
            i += 64;
            assert!(i < 1_000_000, "the disk never filled");
        }
        let stored = o.counters().total_bytes();
        assert!(stored < 4 * MIB, "{stored}");
        // Alerts keep going in, evicting telemetry.
        for k in 0..200 {
            o.append(&[alert(k)])
                .unwrap_or_else(|e| panic!("alert {k} on a full disk: {e}"));
        }
        let c = o.counters();
        assert_eq!(c.class(Class::Alert).count, 200);
        assert_eq!(c.class(Class::Alert).evicted, 0);
        drop(o);
        // What was committed reads back after a reopen.
        let o = open(&dir, 64 * MIB, Durability::Full).unwrap();
        assert_eq!(o.counters().class(Class::Alert).count, 200);
        // And the disk is still full: a start goes on appending.
        for k in 200..300 {
            o.append(&[alert(k), telemetry(k)])
                .unwrap_or_else(|e| panic!("alert {k} after a restart on a full disk: {e}"));
        }
        assert_eq!(o.counters().class(Class::Alert).count, 300);
    }
}

mod damage {
    //! Damaged files at open: the outbox recovers or sets the data aside, and never reuses a
    //! sequence number.
    use super::*;
    use std::fs::OpenOptions;
    use std::io::{Seek, SeekFrom, Write};

    const PAGE: u64 = 4096;

    /// An outbox in `dir` with `n` telemetry records in `n` transactions; returns next_seq.
    fn filled(dir: &Path, n: i64) -> u64 {
        let o = open(dir, MIB, Durability::Full).unwrap();
        for i in 0..n {
            o.append(&[telemetry(i)]).unwrap();
        }
        o.counters().next_seq
    }

    fn overwrite(dir: &Path, offset: u64, bytes: &[u8]) {
        let mut f = OpenOptions::new()
            .write(true)
            .open(dir.join("data.mdb"))
            .unwrap();
        f.seek(SeekFrom::Start(offset)).unwrap();
        f.write_all(bytes).unwrap();
        f.sync_all().unwrap();
    }

    fn set_aside_copies(parent: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("outbox.corrupt-"))
            .collect();
        v.sort();
        v
    }

    /// Opening after damage: works, accepts appends, numbers above everything handed out.
    fn reopen_after_damage(dir: &Path, handed_out: u64) -> Outbox {
        let o = open(dir, MIB, Durability::Full).unwrap();
        assert!(o.recovery().is_some(), "damage must be reported");
        let seq = o.append(&[alert(1)]).unwrap()[0];
        assert!(
            seq >= handed_out,
            "seq {seq} reuses a number below {handed_out}"
        );
        o
    }

    #[test]
    fn a_truncated_file_is_set_aside_and_a_fresh_outbox_continues_numbering() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("outbox");
        let next = filled(&dir, 300);
        let len = std::fs::metadata(dir.join("data.mdb")).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(dir.join("data.mdb"))
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let o = reopen_after_damage(&dir, next);
        match o.recovery() {
            Some(Recovery::SetAside { reason, path }) => {
                assert!(reason.contains("truncated"), "{reason}");
                assert!(path.join("data.mdb").exists());
            }
            other => panic!("expected set-aside, got {other:?}"),
        }
        assert_eq!(o.counters().set_aside, 1);
        assert_eq!(set_aside_copies(root.path()).len(), 1);
        drop(o);
        // The next start is a normal one.
        let o = open(&dir, MIB, Durability::Full).unwrap();
        assert_eq!(o.recovery(), None);
        assert_eq!(o.counters().class(Class::Alert).count, 1);
        assert_eq!(o.counters().set_aside, 1);
    }

    #[test]
    fn garbled_meta_pages_are_set_aside() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("outbox");
        let next = filled(&dir, 10);
        overwrite(&dir, 0, &[0xA5; 2 * PAGE as usize]);
        let o = reopen_after_damage(&dir, next);
        assert!(matches!(o.recovery(), Some(Recovery::SetAside { .. })));
    }

    #[test]
    fn zeroed_data_pages_are_recovered_or_set_aside_without_a_crash() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("outbox");
        let next = filled(&dir, 400);
        let len = std::fs::metadata(dir.join("data.mdb")).unwrap().len();
        // Zero everything after the two meta pages, as unwritten blocks read after a power cut.
        overwrite(&dir, 2 * PAGE, &vec![0; (len - 2 * PAGE) as usize]);
        let o = reopen_after_damage(&dir, next);
        let c = o.counters();
        assert_eq!(c.recovered + c.set_aside, 1, "{c:?}");
        eprintln!("zeroed pages: {:?}", o.recovery());
    }

    #[test]
    fn starts_that_die_while_opening_lead_to_set_aside_not_a_crash_loop() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("outbox");
        let next = filled(&dir, 5);
        // Three starts that never finished opening (as if LMDB had faulted each time).
        std::fs::write(dir.join("opening"), "3\n").unwrap();
        let o = reopen_after_damage(&dir, next);
        match o.recovery() {
            Some(Recovery::SetAside { reason, .. }) => {
                assert!(reason.contains("3 starts"), "{reason}")
            }
            other => panic!("expected set-aside, got {other:?}"),
        }
        assert!(
            !dir.join("opening").exists(),
            "a finished open clears the marker"
        );
    }

    /// Issue 16: starts that end with an ordinary error (here the data file is unreadable as
    /// such: a directory stands in its place) are not crashes; three in a row must not set a
    /// healthy outbox aside once the error is gone.
    #[test]
    fn opens_that_return_an_error_are_not_counted_as_a_crash_loop() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("outbox");
        filled(&dir, 5);
        let data = dir.join("data.mdb");
        let away = root.path().join("data.mdb.away");
        std::fs::rename(&data, &away).unwrap();
        std::fs::create_dir(&data).unwrap();
        for _ in 0..integrity::MAX_FAULTED_OPENS + 1 {
            assert!(open(&dir, MIB, Durability::Full).is_err());
        }
        std::fs::remove_dir(&data).unwrap();
        std::fs::rename(&away, &data).unwrap();
        let o = open(&dir, MIB, Durability::Full).unwrap();
        assert_eq!(o.recovery(), None);
        assert_eq!(o.counters().class(Class::Telemetry).count, 5);
        assert!(set_aside_copies(root.path()).is_empty());
    }

    /// A set-aside outbox's records go back into the live one under their own numbers, in
    /// front of the new ones for the forwarder; a second run restores nothing twice.
    #[test]
    fn salvage_puts_a_set_aside_outboxs_records_back_under_their_numbers() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("outbox");
        {
            let o = open(&dir, MIB, Durability::Full).unwrap();
            for i in 0..1500 {
                o.append(&[telemetry(i)]).unwrap();
            }
            o.append(&[alert(7), alert(8)]).unwrap();
        }
        std::fs::write(dir.join("opening"), "3\n").unwrap();
        let o = open(&dir, MIB, Durability::Full).unwrap();
        assert!(matches!(o.recovery(), Some(Recovery::SetAside { .. })));
        let copy = set_aside_copies(root.path()).pop().unwrap();
        let new = o.append(&[telemetry(9_000)]).unwrap()[0];
        assert!(new > 1502, "{new}");

        let s = salvage::salvage(&copy, &o).unwrap();
        assert_eq!(s.of(Class::Telemetry), (1500, 0, 0));
        assert_eq!(s.of(Class::Alert), (2, 0, 0));
        assert_eq!(seqs(&o, Class::Alert), vec![1501, 1502]);
        let t = seqs(&o, Class::Telemetry);
        assert_eq!(t.len(), 1501);
        assert_eq!((t[0], t[1499], t[1500]), (1, 1500, new));
        let c = o.counters();
        assert_eq!(c.class(Class::Telemetry).count, 1501);
        assert!(c.next_seq > new, "numbering goes on above");
        // Twice: nothing restored again.
        let again = salvage::salvage(&copy, &o).unwrap();
        assert_eq!(again.total_restored(), 0);
        assert_eq!(again.of(Class::Telemetry), (0, 1500, 0));
        // Counters agree with the content after a reopen's walk.
        drop(o);
        let report = inspect::verify(&dir).unwrap();
        assert!(report.ok(), "{:?}", report.problems);
    }

    #[test]
    fn only_the_newest_set_aside_copies_are_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("outbox");
        for _ in 0..(integrity::KEEP_SET_ASIDE + 2) {
            filled(&dir, 2);
            std::fs::write(dir.join("opening"), "9\n").unwrap();
            open(&dir, MIB, Durability::Full).unwrap();
        }
        assert_eq!(
            set_aside_copies(root.path()).len(),
            integrity::KEEP_SET_ASIDE
        );
    }

    #[test]
    fn batched_outbox_continues_above_its_reservation_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let handed_out = {
            let o = open(
                dir.path(),
                MIB,
                Durability::Batched(std::time::Duration::from_secs(1)),
            )
            .unwrap();
            o.append(&[telemetry(1), telemetry(2)]).unwrap();
            o.counters().next_seq
        };
        // Simulate a power cut that lost the commits: LMDB's next_seq is back at 1.
        {
            let o = open(dir.path(), MIB, Durability::Full).unwrap();
            let mut w = o.env.write_txn().unwrap();
            for class in Class::ALL {
                o.data[idx(class)].clear(&mut w).unwrap();
            }
            o.meta.clear(&mut w).unwrap();
            w.commit().unwrap();
        }
        let o = open(
            dir.path(),
            MIB,
            Durability::Batched(std::time::Duration::from_secs(1)),
        )
        .unwrap();
        let seq = o.append(&[telemetry(3)]).unwrap()[0];
        assert!(
            seq >= handed_out,
            "seq {seq} reuses a number below {handed_out}"
        );
    }
}

mod offline {
    //! `outbox verify` and `outbox dump`: read-only, and they report what they find.
    use super::*;
    use inspect::{dump, verify, DumpWhat};

    #[test]
    fn verify_counts_a_healthy_outbox_and_finds_no_problem() {
        let dir = tempfile::tempdir().unwrap();
        {
            let o = open(dir.path(), MIB, Durability::Full).unwrap();
            o.append(&[telemetry(5), alert(6), telemetry(7)]).unwrap();
            o.ack(Class::Telemetry, &[1]).unwrap();
        }
        let r = verify(dir.path()).unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        assert_eq!(r.next_seq, 4);
        assert_eq!(r.walked(Class::Telemetry).entries, 1);
        assert_eq!(r.walked(Class::Telemetry).first_seq, Some(3));
        assert_eq!(r.walked(Class::Telemetry).oldest_ts_ns, Some(8)); // telemetry time = bucket end
        assert_eq!(r.walked(Class::Alert).entries, 1);
        assert_eq!(r.stored(Class::Alert).count, 1);
        assert!(r.reserved.is_some_and(|x| x >= 4));
    }

    #[test]
    fn verify_reports_undecodable_entries_and_wrong_counters_and_dump_shows_them() {
        let dir = tempfile::tempdir().unwrap();
        {
            let o = open(dir.path(), MIB, Durability::Full).unwrap();
            o.append(&[telemetry(1), telemetry(2)]).unwrap();
            let mut w = o.env.write_txn().unwrap();
            o.data[idx(Class::Telemetry)]
                .put(&mut w, &2, b"\x01garbage")
                .unwrap();
            o.meta.put(&mut w, "alert.count", &9).unwrap();
            w.commit().unwrap();
        }
        let r = verify(dir.path()).unwrap();
        assert!(!r.ok());
        assert_eq!(r.walked(Class::Telemetry).undecodable, 1);
        let text = r.problems.join("\n");
        assert!(
            text.contains("1 telemetry entries are undecodable (first: [2])"),
            "{text}"
        );
        assert!(text.contains("alert counters say 9 entries"), "{text}");

        let mut out = Vec::new();
        let n = dump(
            dir.path(),
            &[DumpWhat::Class(Class::Telemetry)],
            0,
            10,
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 2);
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["seq"], 1);
        assert_eq!(lines[0]["record"]["start_ns"], 1);
        assert_eq!(
            lines[1]["undecodable_hex"],
            "01676172626167 65".replace(' ', "")
        );
        // --from and --limit
        let mut out = Vec::new();
        assert_eq!(
            dump(
                dir.path(),
                &[DumpWhat::Class(Class::Telemetry)],
                2,
                10,
                &mut out
            )
            .unwrap(),
            1
        );
        let mut out = Vec::new();
        assert_eq!(
            dump(
                dir.path(),
                &[DumpWhat::Class(Class::Telemetry)],
                0,
                1,
                &mut out
            )
            .unwrap(),
            1
        );
    }

    #[test]
    fn verify_reports_a_truncated_file_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let o = open(dir.path(), MIB, Durability::Full).unwrap();
            for i in 0..200 {
                o.append(&[telemetry(i)]).unwrap();
            }
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("data.mdb"))
            .unwrap();
        f.set_len(3 * 4096).unwrap();
        let r = verify(dir.path()).unwrap();
        assert!(
            r.problems.iter().any(|p| p.contains("truncated")),
            "{:?}",
            r.problems
        );
        assert!(dump(dir.path(), &[DumpWhat::Quarantine], 0, 10, &mut Vec::new()).is_err());
    }
}

mod model {
    //! Model-based property test: random append / ack / reopen sequences against a simple
    //! in-memory model (a map per class from sequence number to record, plus the eviction rule).
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Append(Vec<(bool, i64)>),
        AckOldest(Class, usize),
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => proptest::collection::vec((any::<bool>(), 0i64..1_000_000), 1..400).prop_map(Op::Append),
            3 => (prop_oneof![Just(Class::Alert), Just(Class::Telemetry)], 0usize..300)
                .prop_map(|(c, n)| Op::AckOldest(c, n)),
            1 => Just(Op::Reopen),
        ]
    }

    fn size(r: &Record) -> u64 {
        (1 + crate::codec::to_cbor(r).map(|v| v.len()).unwrap_or(0)) as u64 + ENTRY_OVERHEAD
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn outbox_matches_a_simple_model(ops in proptest::collection::vec(op(), 1..40)) {
            let dir = tempfile::tempdir().unwrap();
            let budget = 64 * 1024; // small, so that eviction happens in most sequences
            let mut o = Some(open(dir.path(), budget, Durability::Full).unwrap());
            let mut model: BTreeMap<Class, BTreeMap<u64, Record>> = BTreeMap::new();
            let mut next = 1u64;
            let mut evicted: BTreeMap<Class, u64> = BTreeMap::new();
            let mut total = 0u64;
            for op in ops {
                let ob = o.as_ref().unwrap();
                match op {
                    Op::Append(items) => {
                        let recs: Vec<Record> = items.iter().map(|(a, i)| if *a { alert(*i) } else { telemetry(*i) }).collect();
                        let seqs = ob.append(&recs).unwrap();
                        for r in recs {
                            // The model's eviction: oldest telemetry, then status, then alerts.
                            let need = size(&r);
                            loop {
                                if total + need <= budget { break; }
                                let victim = [Class::Telemetry, Class::Status, Class::Alert]
                                    .into_iter()
                                    .find(|c| model.get(c).is_some_and(|m| !m.is_empty()));
                                let Some(c) = victim else { break };
                                let m = model.get_mut(&c).unwrap();
                                let first = *m.keys().next().unwrap();
                                if let Some(gone) = m.remove(&first) { total -= size(&gone); }
                                *evicted.entry(c).or_default() += 1;
                            }
                            total += need;
                            model.entry(r.class()).or_default().insert(next, r);
                            next += 1;
                        }
                        prop_assert_eq!(seqs.last().copied(), Some(next - 1));
                    }
                    Op::AckOldest(c, n) => {
                        let seqs: Vec<u64> = model.get(&c).map(|m| m.keys().take(n).copied().collect()).unwrap_or_default();
                        ob.ack(c, &seqs).unwrap();
                        if let Some(m) = model.get_mut(&c) {
                            for s in &seqs {
                                if let Some(gone) = m.remove(s) { total -= size(&gone); }
                            }
                        }
                    }
                    Op::Reopen => {
                        drop(o.take());
                        o = Some(open(dir.path(), budget, Durability::Full).unwrap());
                    }
                }
                let ob = o.as_ref().unwrap();
                let counters = ob.counters();
                for c in Class::ALL {
                    let got: Vec<(u64, Record)> = ob.read_after(c, 0, usize::MAX).unwrap().entries.into_iter().map(|e| (e.seq, e.record)).collect();
                    let want: Vec<(u64, Record)> = model.get(&c).map(|m| m.iter().map(|(k, v)| (*k, v.clone())).collect()).unwrap_or_default();
                    prop_assert_eq!(&got, &want, "class {:?}", c);
                    prop_assert_eq!(counters.class(c).count, want.len() as u64);
                    prop_assert_eq!(counters.class(c).evicted, evicted.get(&c).copied().unwrap_or(0));
                }
                prop_assert_eq!(counters.next_seq, next);
            }
        }
    }
}
