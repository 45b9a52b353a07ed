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
fn writer(dir: &std::path::Path, budget: u64, retry: Retry) -> (Writer, Arc<Mutex<Vec<usize>>>) {
    let outbox = Arc::new(Outbox::open(dir, budget, Durability::Full).unwrap());
    let groups = Arc::new(Mutex::new(Vec::new()));
    let seen = groups.clone();
    let hook: CommitHook = Box::new(move |g: &[Record]| seen.lock().unwrap().push(g.len()));
    let w = Writer {
        outbox,
        appended: Arc::new(Notify::new()),
        metrics: Arc::new(Metrics::new(&[])),
        on_commit: Some(hook),
        on_failure: None,
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
    let mut group = vec![telemetry(0, &"a".repeat(10_000)), telemetry(1, "a")];
    let started = Instant::now();
    assert_eq!(w.commit(&mut group, &[]).unwrap(), Outcome::Stored);
    assert_eq!(group.len(), 1, "the record it cannot take is removed");
    assert!(started.elapsed() < Duration::from_secs(5), "no retries");
    assert_eq!(metrics.write_lost_count(), 1);
    assert_eq!(
        *groups.lock().unwrap(),
        [1],
        "the hook saw the stored record"
    );
    assert_eq!(stored_starts(&outbox), [1]);
    let only_bad = vec![telemetry(2, &"b".repeat(10_000))];
    assert_eq!(
        w.commit(&mut only_bad.clone(), &[]).unwrap(),
        Outcome::Refused
    );
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

/// A checkpoint whose receipt is `n` (what the MQTT source would acknowledge up to).
fn checkpoint(ledger: &Arc<channel::Ledger>, n: u64) -> Vec<channel::Checkpoint> {
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
}

/// The disk is full and the outbox has nothing to evict (another file took the space): the
/// group fails every retry, the failure hook is called once, and the writer does not beat,
/// so the watchdog sees it stalled. It drops nothing: what comes next is held with the
/// group, no receipt is committed meanwhile (a later checkpoint's receipt would acknowledge
/// the earlier messages too), and once there is room the whole goes in, in order.
#[test]
fn a_writer_that_cannot_commit_holds_everything_and_acknowledges_nothing_until_it_can() {
    let Some(fs) = crate::outbox::tests::Tmpfs::mount(4 << 20) else {
        return;
    };
    let retry = Retry {
        retries: 2,
        first_pause: Duration::from_millis(2),
    };
    let (mut w, groups) = writer(&fs.path().join("outbox"), 1 << 20, retry);
    let failures = Arc::new(Mutex::new(Vec::new()));
    let seen = failures.clone();
    w.on_failure = Some(Box::new(move |e: &OutboxError| {
        seen.lock().unwrap().push(e.to_string())
    }));
    let (outbox, metrics) = (w.outbox.clone(), w.metrics.clone());
    let filler = fs.fill();
    let (tx, rx) = channel::channel::<ToWrite>(256, 1 << 20);
    let handle = w.spawn(rx).unwrap();
    let ledger = Arc::new(channel::Ledger::default());
    tx.blocking_send(ToWrite {
        records: batch(10, 3),
        checkpoints: checkpoint(&ledger, 1),
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while failures.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the failure hook was not called");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A later group, and time for several more tries: still nothing acknowledged.
    tx.blocking_send(ToWrite {
        records: batch(20, 1),
        checkpoints: checkpoint(&ledger, 2),
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(metrics.progress.beats()[Stage::Writer as usize], 0);
    assert_eq!(ledger.committed(), 0, "nothing acknowledged while held");
    assert_eq!(metrics.write_lost_count(), 0, "nothing dropped");
    assert!(!handle.idle());
    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger.committed() < 2 {
        assert!(Instant::now() < deadline, "the held group was not stored");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(tx);
    handle.join().unwrap();
    assert_eq!(
        outbox.checkpoint(crate::outbox::PROCESSING_STATE).unwrap(),
        Some(vec![2])
    );
    assert_eq!(stored_starts(&outbox), [10, 11, 12, 20]);
    assert_eq!(*groups.lock().unwrap(), [4], "one transaction, in order");
    assert_eq!(metrics.progress.beats()[Stage::Writer as usize], 1);
    assert_eq!(metrics.write_lost_count(), 0);
    let failures = failures.lock().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("No space left"), "{failures:?}");
}

/// Storage fails to the end: when every sender is gone the held records are counted lost,
/// with no receipt committed, and the thread ends.
#[test]
fn records_held_at_the_stop_are_counted_lost_and_acknowledge_nothing() {
    let Some(fs) = crate::outbox::tests::Tmpfs::mount(4 << 20) else {
        return;
    };
    let retry = Retry {
        retries: 1,
        first_pause: Duration::from_millis(2),
    };
    let (w, groups) = writer(&fs.path().join("outbox"), 1 << 20, retry);
    let (outbox, metrics) = (w.outbox.clone(), w.metrics.clone());
    let _filler = fs.fill();
    let (tx, rx) = channel::channel::<ToWrite>(256, 1 << 20);
    let ledger = Arc::new(channel::Ledger::default());
    // With a record larger than the budget among them: counted once, not at every try.
    let mut first = batch(10, 3);
    first.push(telemetry(13, &"x".repeat(2 << 20)));
    tx.blocking_send(ToWrite {
        records: first,
        checkpoints: checkpoint(&ledger, 1),
    })
    .unwrap();
    tx.blocking_send(batch(20, 2).into()).unwrap();
    let handle = w.spawn(rx).unwrap();
    drop(tx);
    handle.join().unwrap();
    assert_eq!(metrics.write_lost_count(), 1 + 5);
    assert_eq!(ledger.committed(), 0);
    assert_eq!(metrics.progress.beats()[Stage::Writer as usize], 0);
    assert!(groups.lock().unwrap().is_empty());
    assert_eq!(outbox.counters().class(Class::Telemetry).count, 0);
}
