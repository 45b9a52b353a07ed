//! The `outbox` and `codec` groups: the durable store's write and read paths and the encoders.

use super::*;

// outbox
// ------------------------------------------------------------------------------------------

/// A telemetry record as the processor makes them: a 1 s bucket of one signal.
pub(crate) fn telemetry(i: u64) -> Record {
    let a = (i % ASSETS as u64) as usize;
    let k = (i / ASSETS as u64 % SIGNALS.len() as u64) as usize;
    let start = 1_767_600_000_000_000_000 + (i / 50) as i64 * 1_000_000_000;
    let mean = reading(k, a, T0_US + (i / 50) as i64 * 1_000_000, &mut Noise(i | 1));
    Record::Telemetry(Telemetry {
        schema: TELEMETRY_SCHEMA.into(),
        gateway: "gw-bench".into(),
        site: "bench-site".into(),
        asset: format!("asset-{a}"),
        signal: SIGNALS[k].into(),
        unit: Some(UNITS[k].into()),
        start_ns: start,
        end_ns: start + 1_000_000_000,
        count: 100,
        min: mean * 0.98,
        max: mean * 1.02,
        mean,
        last: mean * 1.01,
        meta: AssetMeta {
            line: Some(format!("line-{}", a % 2 + 1)),
            asset_type: Some("pump".into()),
            ..AssetMeta::default()
        },
        method: None,
    })
}

/// `batched` durability's sync tick: `Outbox::sync` every interval, timed by the caller.
pub(crate) struct SyncTick {
    every: Option<Duration>,
    last: Instant,
}

impl SyncTick {
    fn new(d: Durability) -> SyncTick {
        SyncTick {
            every: match d {
                Durability::Full => None,
                Durability::Batched(i) => Some(i),
            },
            last: Instant::now(),
        }
    }

    fn tick(&mut self, outbox: &Outbox) {
        if self.every.is_some_and(|e| self.last.elapsed() >= e) {
            outbox.sync().expect("outbox sync");
            self.last = Instant::now();
        }
    }
}

pub(crate) fn outbox_in(base: &Path, durability: Durability) -> (tempfile::TempDir, Outbox) {
    let dir = tempfile::Builder::new()
        .prefix("forewarn-micro-")
        .tempdir_in(base)
        .unwrap_or_else(|e| panic!("temp dir in {}: {e}", base.display()));
    let outbox =
        Outbox::open(&dir.path().join("outbox"), 256 << 20, durability).expect("open outbox");
    (dir, outbox)
}

pub(crate) fn bench_outbox(c: &mut Criterion) {
    let base = std::env::var_os("FOREWARN_BENCH_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp"));
    let durabilities = [
        ("full", Durability::Full),
        ("batched", Durability::Batched(Duration::from_millis(200))),
    ];
    let mut g = c.benchmark_group("outbox");
    // Appends under `full` take milliseconds: equal-sized samples keep the run short.
    g.sampling_mode(SamplingMode::Flat);
    let records: Vec<Record> = (0..4096).map(telemetry).collect();

    for (dname, durability) in durabilities {
        let (_dir, outbox) = outbox_in(&base, durability);
        for n in [256usize, 4096] {
            let batch = &records[..n];
            let mut tick = SyncTick::new(durability);
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(BenchmarkId::new(format!("append/{dname}"), n), |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let seqs = outbox.append(black_box(batch)).expect("append");
                        tick.tick(&outbox);
                        timed += start.elapsed();
                        // Keep the outbox small: what the forwarder would have delivered.
                        outbox.ack(Class::Telemetry, &seqs).expect("ack");
                    }
                    timed
                })
            });
        }
        drop(outbox);
    }

    for (dname, durability) in durabilities {
        let (_dir, outbox) = outbox_in(&base, durability);
        let limit = 256;
        let mut cursor = 0u64;
        let mut tick = SyncTick::new(durability);
        g.throughput(Throughput::Elements(limit as u64));
        g.bench_function(BenchmarkId::new(format!("drain/{dname}"), limit), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    if outbox.counters().class(Class::Telemetry).count < limit as u64 {
                        // Refill the backlog, untimed.
                        for _ in 0..4 {
                            outbox.append(&records).expect("refill");
                        }
                    }
                    let start = Instant::now();
                    let batch = outbox
                        .read_after(Class::Telemetry, cursor, limit)
                        .expect("read_after");
                    outbox
                        .quarantine(Class::Telemetry, &batch.undecodable)
                        .expect("quarantine");
                    let seqs: Vec<u64> = batch.entries.iter().map(|e| e.seq).collect();
                    cursor = seqs.last().copied().unwrap_or(cursor);
                    outbox.ack(Class::Telemetry, &seqs).expect("ack");
                    tick.tick(&outbox);
                    timed += start.elapsed();
                    assert_eq!(seqs.len(), limit, "drain read a short batch");
                }
                timed
            })
        });
        drop(outbox);
    }
    g.finish();
}

// ------------------------------------------------------------------------------------------
// codec
// ------------------------------------------------------------------------------------------

pub(crate) fn bench_codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    let record = telemetry(42);
    for (name, encoding) in [("json", Encoding::Json), ("cbor", Encoding::Cbor)] {
        g.bench_function(name, |b| {
            b.iter(|| encode_payload(black_box(&record), encoding).expect("encode"))
        });
    }
    g.bench_function("outbox_cbor", |b| {
        b.iter(|| to_cbor(black_box(&record)).expect("encode"))
    });
    g.finish();
}
