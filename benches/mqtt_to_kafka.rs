//! End-to-end load run: MQTT → forewarn → Kafka, on loopback, with real Mosquitto and tansu.
//!
//! `cargo bench --bench mqtt_to_kafka` (needs mosquitto and tansu, as for `tests/run`).
//! Publishes `FOREWARN_BENCH_MESSAGES` (default 20000) QoS 1 messages as fast as one rumqttc
//! publisher can, each a JSON batch of `FOREWARN_BENCH_BATCH` objects (default 20) of 5
//! signals, spread over 10 assets, and reports samples/s through the agent (from the first
//! publish until the agent's status counts every sample; the heartbeat comes once a second, so
//! the figure errs low by up to a second), CPU seconds per million samples and peak RSS.

#[path = "../tests/it/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use harness::{agent_config, consume, Agent, Mosquitto, Tansu};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let messages = env_or("FOREWARN_BENCH_MESSAGES", 20_000);
    let batch = env_or("FOREWARN_BENCH_BATCH", 20);
    const ASSETS: usize = 10;
    const SIGNALS: [&str; 5] = ["temp", "vib", "pressure", "current", "speed"];
    let total_samples = (messages * batch * SIGNALS.len()) as u64;

    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    let mut assets = String::new();
    for a in 0..ASSETS {
        assets.push_str(&format!(
            "\n[[assets]]\nid = \"asset-{a}\"\ninterval_secs = 1\nsignals = [{}]\n",
            SIGNALS
                .iter()
                .map(|s| format!("{{ name = \"{s}\" }}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let rest = format!(
        "\n[[sources]]\ntype = \"mqtt\"\nname = \"plant\"\nhost = \"127.0.0.1\"\nport = {}\ntopics = [\"plant/+\"]\ntopic_pattern = \"plant/{{asset}}\"\ntimestamp = {{ field = \"ts\", unit = \"ms\" }}\n{assets}",
        mqtt.port
    );
    let agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log("MQTT subscribed.", Duration::from_secs(30));
    let pid = agent.pid().expect("agent pid");
    let cpu_before = cpu_secs(pid);

    // Sample anonymous (heap) and file-backed (LMDB map) resident memory while the load runs.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let (mut anon, mut file) = (0u64, 0u64);
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                anon = anon.max(proc_field(pid, "status", "RssAnon:").unwrap_or(0));
                file = file.max(proc_field(pid, "status", "RssFile:").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(50));
            }
            (anon, file)
        })
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    let start_wall = harness_now();
    rt.block_on(async {
        let mut opts = MqttOptions::new("bench-publisher", "127.0.0.1", mqtt.port);
        opts.set_max_packet_size(1 << 20, 1 << 20)
            .set_inflight(1000);
        let (client, mut eventloop) = AsyncClient::new(opts, 1000);
        let pump = tokio::spawn(async move {
            let mut acked = 0;
            while acked < messages {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                    Ok(_) => {}
                    Err(e) => panic!("publisher: {e}"),
                }
            }
        });
        let t0: u64 = 1_767_600_000_000;
        for m in 0..messages {
            let asset = m % ASSETS;
            let items: Vec<String> = (0..batch)
                .map(|i| {
                    let ts = t0 + ((m / ASSETS) * batch + i) as u64 * 10;
                    let fields: Vec<String> = SIGNALS
                        .iter()
                        .enumerate()
                        .map(|(k, s)| format!("\"{s}\":{}.{k}", i % 97))
                        .collect();
                    format!("{{\"ts\":{ts},{}}}", fields.join(","))
                })
                .collect();
            let payload = format!("[{}]", items.join(","));
            client
                .publish(
                    format!("plant/asset-{asset}"),
                    QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .await
                .expect("publish");
        }
        pump.await.expect("publisher acks");
    });
    let published = started.elapsed();
    // Wait for the agent to count every sample (status heartbeat, once a second).
    let status = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(300),
        |msgs| {
            msgs.iter()
                .any(|m| m.json["sources"]["plant"]["samples"].as_u64() >= Some(total_samples))
        },
    );
    let done = status
        .iter()
        .find(|m| m.json["sources"]["plant"]["samples"].as_u64() >= Some(total_samples))
        .unwrap_or_else(|| {
            let last = status
                .last()
                .map(|m| m.json["sources"].to_string())
                .unwrap_or_default();
            panic!(
                "agent never counted every sample; last status: {last}\n{}",
                agent
                    .log()
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
    let in_secs = done.json["ts_ns"].as_i64().unwrap_or(0) as f64 / 1e9 - start_wall;
    let cpu = cpu_secs(pid) - cpu_before;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let (anon_kb, file_kb) = sampler.join().unwrap_or_default();
    let peak_kb = proc_field(pid, "status", "VmHWM:").unwrap_or(0);
    let rejected = &done.json["sources"]["plant"]["rejected"];
    println!("mqtt_to_kafka: {messages} messages x {batch} objects x {} signals = {total_samples} samples, {ASSETS} assets", SIGNALS.len());
    println!(
        "  publisher done in {:.2} s ({:.0} msgs/s)",
        published.as_secs_f64(),
        messages as f64 / published.as_secs_f64()
    );
    println!(
        "  agent counted every sample within {:.2} s (status heartbeat resolution 1 s)",
        in_secs
    );
    println!(
        "  throughput: {:.0} samples/s in",
        total_samples as f64 / in_secs
    );
    println!(
        "  agent CPU: {:.2} s total, {:.3} CPU-s per million samples",
        cpu,
        cpu / (total_samples as f64 / 1e6)
    );
    println!(
        "  agent peak RSS: {:.1} MiB (sampled peaks: heap {:.1} MiB, file-backed incl. LMDB map {:.1} MiB)",
        peak_kb as f64 / 1024.0,
        anon_kb as f64 / 1024.0,
        file_kb as f64 / 1024.0
    );
    println!("  rejected: {rejected}");
    drop(agent);
}

fn harness_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
