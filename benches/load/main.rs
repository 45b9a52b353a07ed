//! End-to-end load bench: forewarn against the limit and two peers, same workload, same machine,
//! one run. BENCHMARKS.md has the results and how to read them.
//!
//! ```sh
//! benches/peers/install                      # Node-RED and the Python agent, pinned, into the cache
//! cargo bench --bench load                   # every scenario, every consumer
//! cargo bench --bench load -- single batched --consumers agent,limit
//! ```
//!
//! Each run starts a fresh Mosquitto and tansu on loopback, creates the topics, starts one
//! consumer (forewarn, `mosquitto_sub`, Node-RED or the Python agent), publishes the workload
//! (`workload.rs`; `benches/peers/README.md` says what every consumer does with it) and waits
//! until the consumer accounted for every sample at Kafka. It measures:
//! - **samples/s in**: over the middle of the run (20% → 80% of the samples accounted for at
//!   Kafka, summing bucket counts by arrival time), so start-up and the last buckets' closing
//!   delay stay out; for `mosquitto_sub`, the same over the messages it printed;
//! - **records/s out**: messages the consumer produced to Kafka, over the whole run;
//! - **latency**: probe sample (its `ts`, the publisher's clock) → its alert received from Kafka
//!   by the bench, p50 and p99;
//! - **CPU s per million samples**: the consumer process's utime + stime over the run;
//! - **RSS**: peak (VmHWM) and steady (median of the second half, sampled every 100 ms).
//!
//! Scenarios: `single` and `batched` flat out (throughput against the `mosquitto_sub` limit),
//! `single-rate` and `batched-rate` at a rate every consumer sustains (efficiency),
//! `three-models` (forewarn's memory with 50 signals and the three shipped models),
//! `detectors` and `detectors-rate` (`single` and `single-rate` with two detectors on every
//! asset: what learning normal costs the rest of the pipeline), `serial`
//! (CSV lines over a socat pty pair, flat out). The table goes to stdout and the results, with
//! the machine, to `FOREWARN_BENCH_OUT` (default `bench-results/load.json`).
//!
//! Knobs: `FOREWARN_BENCH_SCALE` (1.0) multiplies message counts and durations,
//! `FOREWARN_BENCH_PUBLISHERS` (4) MQTT publisher connections. `--smoke` (also what
//! `cargo test --bench load` runs) makes every run tiny: it checks the harness, not the speed.
//! Nothing here asserts a speed.

#[path = "../../tests/it/harness.rs"]
#[allow(dead_code)]
mod harness;

mod consumers;
mod observe;
mod report;
mod workload;

use std::time::{Duration, Instant};

use consumers::{AgentSetup, Kind};
use harness::{Mosquitto, PtyPair, Tansu};
use observe::{cpu_secs, peak_rss_mib, quantile, steady_rss_mib, KafkaObserver, RssSampler};
use report::RunResult;
use workload::{Load, Shape, SIGNALS};

const TOPICS: [&str; 3] = ["forewarn.telemetry", "forewarn.alerts", "forewarn.status"];
const PARTITIONS: i32 = 3;
/// Probes of the first seconds of a run are left out of its latency figures.
const WARM_UP_NS: f64 = 2e9;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub shape: Shape,
    pub messages: usize,
    pub rate: Option<f64>,
    pub consumers: Vec<Kind>,
    pub setup: AgentSetup,
}

fn scenarios(scale: f64) -> Vec<Scenario> {
    use Kind::*;
    let n = |x: f64| ((x * scale) as usize).max(20);
    vec![
        Scenario {
            name: "single",
            shape: Shape::Single,
            messages: n(1_500_000.0),
            rate: None,
            consumers: vec![Limit, Agent, NodeRed, Python],
            setup: AgentSetup::Compare,
        },
        Scenario {
            name: "batched",
            shape: Shape::Batched,
            messages: n(300_000.0),
            rate: None,
            consumers: vec![Limit, Agent, NodeRed, Python],
            setup: AgentSetup::Compare,
        },
        Scenario {
            name: "single-rate",
            shape: Shape::Single,
            messages: n(100_000.0),
            rate: Some(5_000.0),
            consumers: vec![Agent, NodeRed, Python],
            setup: AgentSetup::Compare,
        },
        Scenario {
            name: "batched-rate",
            shape: Shape::Batched,
            messages: n(20_000.0),
            rate: Some(1_000.0),
            consumers: vec![Agent, NodeRed, Python],
            setup: AgentSetup::Compare,
        },
        Scenario {
            name: "three-models",
            shape: Shape::Single,
            messages: n(100_000.0),
            rate: Some(5_000.0),
            consumers: vec![Agent],
            setup: AgentSetup::ThreeModels,
        },
        Scenario {
            name: "detectors",
            shape: Shape::Single,
            messages: n(1_500_000.0),
            rate: None,
            consumers: vec![Agent],
            setup: AgentSetup::Detectors,
        },
        Scenario {
            name: "detectors-rate",
            shape: Shape::Single,
            messages: n(100_000.0),
            rate: Some(5_000.0),
            consumers: vec![Agent],
            setup: AgentSetup::Detectors,
        },
        Scenario {
            name: "serial",
            shape: Shape::Single,
            messages: n(400_000.0),
            rate: None,
            consumers: vec![Agent],
            setup: AgentSetup::Serial,
        },
    ]
}

fn create_topics(bootstrap: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topics: Vec<NewTopic> = TOPICS
        .iter()
        .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let results = rt
        .block_on(admin.create_topics(&topics, &AdminOptions::new()))
        .expect("create topics");
    for r in results {
        if let Err((t, e)) = r {
            panic!("create topic {t}: {e}");
        }
    }
}

/// Samples per second through a consumer: from the first publish until the marker (the last
/// probe, published once the broker had acknowledged the whole load, or the serial run's last
/// line) came back from Kafka as an alert. `None` without a marker.
fn in_rate(samples: u64, t0_ns: f64, marker: Option<(f64, f64)>) -> Option<f64> {
    let (_, received_ns) = marker?;
    let secs = (received_ns - t0_ns) / 1e9;
    (secs > 0.0).then(|| samples as f64 / secs)
}

/// How long to wait for a consumer to account for everything after the last publish.
fn drain_timeout(published_secs: f64) -> Duration {
    Duration::from_secs_f64(120.0 + published_secs * 10.0)
}

/// One consumer through one MQTT scenario.
fn run_mqtt(s: &Scenario, kind: Kind, publishers: usize) -> RunResult {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    create_topics(&kafka.bootstrap());
    let consumer = consumers::start(kind, &mqtt, &kafka.bootstrap(), s.shape, s.setup, None);
    let observer = (kind != Kind::Limit)
        .then(|| KafkaObserver::start(&kafka.bootstrap(), &TOPICS, PARTITIONS));
    let pid = consumer.pid();
    let cpu0 = cpu_secs(pid);
    let rss = RssSampler::start(pid);
    let t0 = Instant::now();
    let t0_ns = workload::now_us() as f64 * 1e3;
    let load = Load {
        shape: s.shape,
        messages: s.messages,
        rate: s.rate,
        publishers,
        probes: kind != Kind::Limit,
    };
    let published = workload::publish(mqtt.port, &load);
    let timeout = drain_timeout(published.secs);
    let per_msg = s.shape.samples_per_message() as f64;
    let mut r = RunResult::new(s, kind, &published);
    match &observer {
        None => {
            // mosquitto_sub: every load message printed.
            let end = Instant::now() + timeout;
            let expected = published.messages as u64;
            let printed = || {
                consumer
                    .lines
                    .as_ref()
                    .map_or(0, |l| l.lock().map_or(0, |a| a.total))
            };
            while printed() < expected && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            r.wall_secs = t0.elapsed().as_secs_f64();
            let got = printed();
            r.expected = expected * per_msg as u64;
            r.accounted = got * per_msg as u64;
            if let Some(lines) = &consumer.lines {
                let lines = lines.lock().expect("lines");
                let secs = (lines.last_ns - t0_ns) / 1e9;
                r.in_rate = (secs > 0.0).then(|| lines.total as f64 * per_msg / secs);
            }
        }
        Some(obs) => {
            let expected = published.samples + published.probes;
            r.accounted = obs.wait_samples(expected, timeout);
            r.wall_secs = t0.elapsed().as_secs_f64();
            r.expected = expected;
        }
    }
    r.cpu_secs = cpu_secs(pid) - cpu0;
    let samples = rss.finish();
    r.peak_rss_mib = peak_rss_mib(pid);
    r.steady_rss_mib = steady_rss_mib(&samples);
    if let Some(obs) = observer {
        let seen = obs.finish();
        r.in_rate = in_rate(published.samples, t0_ns, seen.marker);
        r.records_out = seen.records;
        r.model_alerts = seen.model_alerts;
        r.probe_alerts = seen.probe_alerts;
        r.baselines = seen.baselines;
        // The first 2 s warm up: the Kafka producer's first connection, the observer's first
        // fetch. Latency is that of the run after them.
        let lat: Vec<f64> = seen
            .latencies
            .iter()
            .filter(|(ts, _)| *ts >= t0_ns + WARM_UP_NS)
            .map(|l| l.1)
            .collect();
        r.latency_p50_ms = quantile(&lat, 0.5);
        r.latency_p99_ms = quantile(&lat, 0.99);
    }
    if r.accounted < r.expected {
        eprintln!(
            "  {} accounted for {} of {} samples; its log ends:\n{}",
            kind.name(),
            r.accounted,
            r.expected,
            consumer.log_tail()
        );
    }
    consumer.stop();
    r
}

/// forewarn reading CSV lines from a socat pty pair, written flat out.
fn run_serial(s: &Scenario) -> RunResult {
    let mqtt = Mosquitto::start();
    let kafka = Tansu::start();
    create_topics(&kafka.bootstrap());
    let dir = tempfile::tempdir().expect("temp dir");
    let pty = PtyPair::start(dir.path());
    let consumer = consumers::start(
        Kind::Agent,
        &mqtt,
        &kafka.bootstrap(),
        s.shape,
        AgentSetup::Serial,
        Some(&pty.device),
    );
    let observer = KafkaObserver::start(&kafka.bootstrap(), &TOPICS, PARTITIONS);
    let pid = consumer.pid();
    let cpu0 = cpu_secs(pid);
    let rss = RssSampler::start(pid);
    let t0 = Instant::now();
    let t0_ns = workload::now_us() as f64 * 1e3;
    let lines = s.messages;
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&pty.peer)
            .expect("open pty peer");
        let mut last_ts = 0;
        let mut written = 0;
        while written < lines {
            let n = (lines - written).min(5_000);
            f.write_all(workload::serial_lines(n, written, &mut last_ts).as_bytes())
                .expect("write to pty");
            written += n;
        }
        f.write_all(workload::serial_end_line(&mut last_ts).as_bytes())
            .expect("write to pty");
        f.flush().expect("flush pty");
    }
    let published = workload::Published {
        messages: lines,
        samples: (lines * SIGNALS.len()) as u64,
        probes: 0,
        secs: t0.elapsed().as_secs_f64(),
    };
    let mut r = RunResult::new(s, Kind::Agent, &published);
    // The load and the end marker's line.
    r.expected = published.samples + SIGNALS.len() as u64;
    r.accounted = observer.wait_samples(r.expected, drain_timeout(published.secs));
    r.wall_secs = t0.elapsed().as_secs_f64();
    r.cpu_secs = cpu_secs(pid) - cpu0;
    let samples = rss.finish();
    r.peak_rss_mib = peak_rss_mib(pid);
    r.steady_rss_mib = steady_rss_mib(&samples);
    let seen = observer.finish();
    r.in_rate = in_rate(published.samples, t0_ns, seen.marker);
    r.records_out = seen.records;
    if r.accounted < r.expected {
        eprintln!(
            "  serial: accounted for {} of {}; log:\n{}",
            r.accounted,
            r.expected,
            consumer.log_tail()
        );
    }
    consumer.stop();
    r
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --bench load` does not: that is the smoke run.
    let smoke = args.iter().any(|a| a == "--smoke") || !args.iter().any(|a| a == "--bench");
    let mut only_consumers: Option<Vec<Kind>> = None;
    let mut names = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(list) = a
            .strip_prefix("--consumers=")
            .map(str::to_string)
            .or_else(|| (a == "--consumers").then(|| args.get(i + 1).cloned().unwrap_or_default()))
        {
            if a == "--consumers" {
                i += 1;
            }
            only_consumers = Some(
                list.split(',')
                    .map(|c| Kind::parse(c).unwrap_or_else(|| panic!("unknown consumer {c}")))
                    .collect(),
            );
        } else if !a.starts_with("--") {
            names.push(a.clone());
        }
        i += 1;
    }
    let env_f = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let scale = if smoke {
        0.01
    } else {
        env_f("FOREWARN_BENCH_SCALE", 1.0)
    };
    let publishers = env_f("FOREWARN_BENCH_PUBLISHERS", 4.0) as usize;
    let mut all = scenarios(scale);
    if !names.is_empty() {
        for n in &names {
            assert!(
                all.iter().any(|s| s.name == n),
                "unknown scenario {n} (known: single batched single-rate batched-rate three-models detectors detectors-rate serial)"
            );
        }
        all.retain(|s| names.iter().any(|n| n == s.name));
    }
    for s in &mut all {
        if let Some(only) = &only_consumers {
            s.consumers.retain(|k| only.contains(k));
        }
        for k in &s.consumers {
            assert!(
                consumers::installed(*k),
                "{} is not installed: run benches/peers/install first",
                k.name()
            );
        }
    }
    let machine = report::Machine::read();
    println!(
        "load bench{}: {} ({} cores), publishers {publishers}, scale {scale}",
        if smoke {
            " (smoke: sizes too small to mean anything)"
        } else {
            ""
        },
        machine.cpu,
        machine.cores
    );
    let mut results = Vec::new();
    for s in &all {
        for &kind in &s.consumers {
            eprintln!(
                "== {} / {}: {} {} messages{}",
                s.name,
                kind.name(),
                s.messages,
                s.shape.name(),
                s.rate
                    .map(|r| format!(" at {r} msgs/s"))
                    .unwrap_or_else(|| " flat out".into())
            );
            let r = if s.setup == AgentSetup::Serial {
                run_serial(s)
            } else {
                run_mqtt(s, kind, publishers)
            };
            eprintln!("   {}", r.one_line());
            results.push(r);
        }
    }
    report::print_table(&results);
    report::print_goals(&results);
    let out = std::env::var("FOREWARN_BENCH_OUT").unwrap_or_else(|_| {
        consumers::repo()
            .join(if smoke {
                "bench-results/load-smoke.json"
            } else {
                "bench-results/load.json"
            })
            .display()
            .to_string()
    });
    report::write_json(&out, &machine, smoke, publishers, scale, &results);
    println!("results: {out}");
    // forewarn or the limit not accounting for every sample is a failure of the agent or the
    // harness; a peer that loses data is a finding, reported in the table.
    let incomplete: Vec<String> = results
        .iter()
        .filter(|r| r.accounted < r.expected && matches!(r.consumer, "forewarn" | "mosquitto_sub"))
        .map(|r| format!("{}/{}", r.scenario, r.consumer))
        .collect();
    if !incomplete.is_empty() {
        // Lost or late data is a harness or consumer failure, not a speed.
        eprintln!("runs that did not account for every sample: {incomplete:?}");
        std::process::exit(1);
    }
}
