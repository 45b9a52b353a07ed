//! Draining a large backlog: memory stays flat because the forwarder streams the outbox from
//! LMDB by cursor with a bounded number of records in flight.
//!
//! `cargo bench --bench outbox_drain` (needs mosquitto and tansu, as for `tests/run`).
//! Writes `FOREWARN_DRAIN_RECORDS` (default 1,000,000) telemetry records into an outbox, as a
//! Kafka outage would leave them, starts the agent on it with the broker up, and reports the
//! drain rate, the agent's heap (anonymous) and file-backed (LMDB map) resident memory sampled
//! every 50 ms at each tenth of the drain, peak RSS and CPU time. Completion and the count of
//! acknowledged records come from the agent's own status heartbeat.

#[path = "../tests/it/harness.rs"]
#[allow(dead_code)]
mod harness;

#[path = "load/observe.rs"]
#[allow(dead_code)]
mod observe;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use forewarn::config::Durability;
use forewarn::outbox::Outbox;
use forewarn::record::{AssetMeta, Record, Telemetry, TELEMETRY_SCHEMA};
use harness::{agent_config, consume, Agent, Mosquitto, Tansu};
use observe::{cpu_secs, status_kb as proc_kb};

fn telemetry(i: u64) -> Record {
    let start = 1_767_900_000_000_000_000 + (i / 10) as i64 * 1_000_000_000;
    Record::Telemetry(Telemetry {
        schema: TELEMETRY_SCHEMA.into(),
        gateway: "gw-test".into(),
        site: "test-site".into(),
        asset: format!("asset-{}", i % 10),
        signal: "vib".into(),
        unit: Some("mm/s".into()),
        start_ns: start,
        end_ns: start + 1_000_000_000,
        count: 100,
        min: -1.5,
        max: 2.25,
        mean: 0.125 + (i % 7) as f64,
        last: 0.5,
        meta: AssetMeta::default(),
        method: None,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let records: u64 = std::env::var("FOREWARN_DRAIN_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let budget: u64 = 4 << 30;

    let dir = tempfile::tempdir().expect("temp dir");
    let outbox_dir = dir.path().join("data").join("outbox");
    let t = Instant::now();
    {
        let o = Outbox::open(
            &outbox_dir,
            budget,
            Durability::Batched(Duration::from_secs(1)),
        )
        .expect("open outbox");
        let mut i = 0;
        while i < records {
            let n = (records - i).min(4096);
            let batch: Vec<Record> = (i..i + n).map(telemetry).collect();
            o.append(&batch).expect("append");
            i += n;
        }
        o.sync().expect("sync");
    }
    let file_mb = std::fs::metadata(outbox_dir.join("data.mdb"))
        .map(|m| m.len())
        .unwrap_or(0) as f64
        / 1048576.0;
    println!(
        "outbox_drain: {records} telemetry records written in {:.1} s; data.mdb {file_mb:.0} MiB",
        t.elapsed().as_secs_f64()
    );

    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let rest = format!(
        "\n[[sources]]\ntype = \"mqtt\"\nname = \"plant\"\nhost = \"127.0.0.1\"\nport = {}\ntopics = [\"plant/+\"]\ntopic_pattern = \"plant/{{asset}}\"\n\n[[assets]]\nid = \"asset-0\"\ninterval_secs = 1\nsignals = [{{ name = \"vib\" }}]\n",
        mqtt.port
    );
    let config = agent_config(&kafka.bootstrap(), &rest).replace(
        "budget_bytes = 16777216",
        &format!("budget_bytes = {budget}"),
    );
    let agent = Agent::start_in(dir, &config);
    let pid = agent.pid().expect("agent pid");
    agent.wait_log("Kafka forwarder started.", Duration::from_secs(120));
    let start = Instant::now();
    let cpu0 = cpu_secs(pid);

    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while sampling.load(Ordering::Relaxed) {
                samples.push((
                    start.elapsed().as_secs_f64(),
                    proc_kb(pid, "RssAnon:"),
                    proc_kb(pid, "RssFile:"),
                ));
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        })
    };
    // Status records go ahead of telemetry: the first heartbeat that reports an empty
    // telemetry outbox marks the end of the drain.
    let statuses = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(3600),
        |m| {
            m.iter().any(|s| {
                s.json["outbox"]["telemetry"]["depth"].as_u64() == Some(0)
                    && s.json["delivered"].as_u64() >= Some(records)
            })
        },
    );
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_secs(pid) - cpu0;
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    let done = statuses
        .iter()
        .find(|s| s.json["outbox"]["telemetry"]["depth"].as_u64() == Some(0))
        .unwrap_or_else(|| panic!("the backlog never drained\n{}", agent.log()));
    let delivered = done.json["delivered"].as_u64().unwrap_or(0);
    let peak = proc_kb(pid, "VmHWM:");
    println!(
        "  drained in {secs:.1} s: {:.0} records/s; {delivered} records acknowledged by the broker; agent CPU {cpu:.1} s",
        records as f64 / secs
    );
    println!("  resident memory during the drain (heap / file-backed incl. LMDB map):");
    for tenth in 0..=10 {
        let at = secs * tenth as f64 / 10.0;
        if let Some((t, anon, file)) = samples.iter().find(|s| s.0 >= at).or(samples.last()) {
            println!(
                "    t={t:>6.1} s  heap {:>6.1} MiB  file {:>7.1} MiB",
                *anon as f64 / 1024.0,
                *file as f64 / 1024.0
            );
        }
    }
    let max_anon = samples.iter().map(|s| s.1).max().unwrap_or(0);
    println!(
        "  peak heap {:.1} MiB; peak RSS (VmHWM) {:.1} MiB",
        max_anon as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}
