//! The `fleet` group: the fleet page's state (`forewarn-fleet serve`) at its default limits.

use super::*;
use forewarn::fleet::state::{Fleet, Limits};
use forewarn::record::Status;

/// Gateways filled (a tenth in `cargo test --bench`, CI's smoke run of an unoptimised build).
fn gateways() -> usize {
    if test_mode() {
        100
    } else {
        1000
    }
}
/// Assets per gateway with one telemetry signal each: 1000 gateways × 10 = the default chart
/// budget.
const FLEET_ASSETS: usize = 10;
const NS: i64 = 1_000_000_000;

fn fleet_telemetry(i: usize) -> Telemetry {
    let n = gateways();
    let g = i % n;
    let a = i / n % FLEET_ASSETS;
    let minute = (i / (n * FLEET_ASSETS)) as i64;
    let start = 1_767_600_000_000_000_000 + minute * 60 * NS;
    Telemetry {
        schema: TELEMETRY_SCHEMA.into(),
        gateway: format!("gw-{g:04}"),
        site: format!("plant-{}", g % 20),
        asset: format!("asset-{a}"),
        signal: "temp".into(),
        unit: Some("degC".into()),
        start_ns: start,
        end_ns: start + 60 * NS,
        count: 60,
        min: 40.0,
        max: 60.0,
        mean: 50.0 + (i % 7) as f64,
        last: 51.0,
        meta: AssetMeta::default(),
        method: None,
    }
}

fn fleet_status(g: usize, ts_ns: i64) -> Status {
    let s: Status = serde_json::from_value(serde_json::json!({
        "schema": "forewarn.status.v1", "gateway": format!("gw-{g:04}"),
        "site": format!("plant-{}", g % 20), "version": "0.1.0", "ts_ns": ts_ns,
        "uptime_secs": 3600.0, "sources": {}, "outbox": {
            "alert": {"depth": 0, "bytes": 0, "evicted": 0},
            "telemetry": {"depth": 12, "bytes": 4800, "evicted": 0}
        },
        "outbox_budget_bytes": 268_435_456u64, "pipeline_drops": {}, "delivered": 1000,
        "delivery_errors": 0, "heartbeat_secs": 30, "config_revision": "0123456789abcdef"
    }))
    .expect("status");
    s
}

/// Heap bytes in use (glibc's count of allocated chunks).
fn heap_bytes() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    unsafe { libc::mallinfo2() }.uordblks
}

/// VmRSS of this process, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `ingest/telemetry`: one telemetry record (made outside the timing) into a fleet filled to
/// its chart budget (1000 gateways × 10 assets, 120 points each), thrpt: records/s. `view/1000_gateways`: what
/// `/api/fleet` does per request: the view and its JSON, one iteration per request. Before the
/// group, the bench fills the fleet and prints the RSS it added (the memory bound's measure).
pub fn bench_fleet(c: &mut Criterion) {
    let limits = Limits::default();
    let n = gateways();
    let now = 1_767_700_000_000_000_000;
    // One record per chart, moved a minute on each time it is used.
    let mut cycle: Vec<Telemetry> = (0..n * FLEET_ASSETS).map(fleet_telemetry).collect();
    let mut next = 0usize;
    let mut take = move || {
        let i = next % cycle.len();
        next += 1;
        let t = &mut cycle[i];
        t.start_ns += 60 * NS;
        t.end_ns += 60 * NS;
        t.clone()
    };
    let (before, heap_before) = (rss_kib(), heap_bytes());
    let mut fleet = Fleet::new(limits, 3.0);
    for g in 0..n {
        fleet.status(&fleet_status(g, now), true, now);
    }
    let fill = n * FLEET_ASSETS * limits.points;
    let started = Instant::now();
    for _ in 0..fill {
        fleet.telemetry(&take(), now);
    }
    let took = started.elapsed();
    let heap = heap_bytes().saturating_sub(heap_before);
    let json = serde_json::to_vec(&fleet.view(now, 200)).expect("view");
    println!(
        "fleet: {fill} telemetry records into {} charts of {} points in {took:.2?} (records \
         cloned from a ring included); the filled fleet holds {} KiB of heap ({} B per chart), RSS \
         +{} KiB; /api/fleet answer {} bytes; over limits: {:?}",
        n * FLEET_ASSETS,
        limits.points,
        heap / 1024,
        heap / (n * FLEET_ASSETS),
        rss_kib().saturating_sub(before),
        json.len(),
        fleet.counts.over_limit
    );
    let mut g = c.benchmark_group("fleet");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ingest/telemetry", |b| {
        b.iter_batched(
            &mut take,
            |t| fleet.telemetry(black_box(&t), now),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("view/1000_gateways", |b| {
        b.iter(|| serde_json::to_vec(&fleet.view(black_box(now), 200)).map(|v| v.len()))
    });
    g.finish();
}
