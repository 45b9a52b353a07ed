//! `forewarn demo`: the whole pipeline with nothing installed.
//!
//! Runs the embedded provisioning file (`firmware-config/demo.toml`) on the embedded recordings
//! (`firmware-config/recordings/`: turbofan engines, bearing vibration, milling-machine readings)
//! with the three shipped model packages (`models/turbofan-rul`, `models/bearing-fault`,
//! `models/process-failure`), all written to a temporary directory with the outbox, and prints
//! every committed alert, telemetry bucket and status in a readable form. With `--kafka
//! HOST:PORT` it also forwards to Kafka and waits for the outbox to drain.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::app::{run, RunOptions};
use crate::codec::Encoding;
use crate::record::{AlertEvent, Record};

const DEMO_CONFIG: &str = include_str!("../firmware-config/demo.toml");

// (path, gzip'd contents) of everything the demo needs beside its provisioning file:
// recordings relative to `firmware-config/`, packages relative to `models/` (build.rs).
include!(concat!(env!("OUT_DIR"), "/demo_files.rs"));

pub struct DemoOptions {
    pub kafka: Option<String>,
    pub encoding: Option<Encoding>,
}

/// What the demo committed, by kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct DemoSummary {
    pub telemetry: u64,
    pub alerts: u64,
    pub status: u64,
    pub baselines: u64,
    /// Records still in the outbox at the end (with `--kafka`: not yet acknowledged).
    pub backlog: u64,
}

fn time(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

fn micros(us: Option<f64>) -> String {
    us.map(|u| format!("{u:.0}µs"))
        .unwrap_or_else(|| "-".into())
}

/// One human line per record (model alerts and statuses add indented lines).
pub fn describe(r: &Record) -> String {
    match r {
        Record::Telemetry(t) => {
            format!(
            "TELEMETRY {}/{:<5} {} +{}s  n={:<5} min={:<9.3} mean={:<9.3} max={:<9.3} last={:.3}{}",
            t.asset,
            t.signal,
            time(t.start_ns),
            (t.end_ns - t.start_ns) / 1_000_000_000,
            t.count,
            t.min,
            t.mean,
            t.max,
            t.last,
            t.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
        )
        }
        Record::Alert(a) => format!(
            "ALERT     {} {:<7} {}/{} {}={:.2} (limit {}, since {}, {:?}) id={}{}{}",
            time(a.ts_ns),
            match a.event {
                AlertEvent::Raised => "RAISED",
                AlertEvent::Updated => "updated",
                AlertEvent::Cleared => "cleared",
            },
            a.asset,
            a.rule,
            a.signal,
            a.value,
            a.limit,
            time(a.since_ns),
            a.severity,
            a.id,
            a.model
                .as_ref()
                .map(|m| {
                    let drivers: Vec<String> = m
                        .drivers
                        .iter()
                        .map(|d| format!("{} z={:+.1}", d.feature, d.z))
                        .collect();
                    format!(
                        "\n          model {} {}, window to {}, drivers: {}",
                        m.name,
                        m.version,
                        time(m.window_end_ns),
                        drivers.join(", ")
                    )
                })
                .unwrap_or_default(),
            a.detector
                .as_ref()
                .map(|d| {
                    let named: Vec<String> = d
                        .contributions
                        .iter()
                        .map(|c| format!("{} {:.0}% z={:+.1}", c.signal, c.share * 100.0, c.z))
                        .collect();
                    format!(
                        "\n          detector {}, step to {}, contributions: {}",
                        d.name,
                        time(d.step_end_ns),
                        named.join(", ")
                    )
                })
                .unwrap_or_default()
        ),
        Record::Baseline(b) => format!(
            "BASELINE  {} {}/{} generation {} ({:?}): {} steps from {}, {}",
            time(b.learned_to_ns),
            b.detector,
            b.asset,
            b.generation,
            b.trigger,
            b.steps,
            time(b.learned_from_ns),
            b.summary()
        ),
        Record::Status(s) => {
            let sources: Vec<String> = s
                .sources
                .iter()
                .map(|(n, st)| {
                    format!(
                        "{n}: received={} samples={} rejected={:?}",
                        st.received, st.samples, st.rejected
                    )
                })
                .collect();
            let outbox: Vec<String> = s
                .outbox
                .iter()
                .map(|(c, st)| format!("{c}={}", st.depth))
                .collect();
            let models: String = s
                .models
                .iter()
                .map(|(n, m)| {
                    format!(
                        "\n          model {n} {}: windows={} inferences={} errors={} latency p50={} p99={}",
                        m.version,
                        m.windows,
                        m.inferences,
                        m.errors,
                        micros(m.latency_p50_us),
                        micros(m.latency_p99_us)
                    )
                })
                .collect();
            format!(
                "STATUS    uptime={:.1}s {} | outbox {} | delivered={} errors={}{models}",
                s.uptime_secs,
                sources.join(", "),
                outbox.join(" "),
                s.delivered,
                s.delivery_errors
            )
        }
    }
}

pub async fn demo(opts: DemoOptions, shutdown: CancellationToken) -> anyhow::Result<DemoSummary> {
    let dir = tempfile::Builder::new()
        .prefix("forewarn-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    for (path, bytes) in FILES {
        let to = if path.starts_with("recordings/") {
            dir.path().join("firmware-config").join(path)
        } else {
            dir.path().join("models").join(path)
        };
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut data = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut data)
            .with_context(|| format!("inflating the embedded {path}"))?;
        std::fs::write(&to, data).with_context(|| format!("writing {}", to.display()))?;
    }
    // The repository's layout, so the provisioning file's relative paths resolve the same way
    // in the repository (`check-config firmware-config/demo.toml`) and here.
    let base = dir.path().join("firmware-config");
    let mut config = crate::config::parse_str_with(
        DEMO_CONFIG,
        "demo.toml (embedded)",
        &base,
        &crate::model::package::ManifestReader,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    config.gateway.data_dir = dir.path().join("data");
    if let Some(k) = &opts.kafka {
        config.kafka.bootstrap_servers = k.clone();
    }
    if let Some(e) = opts.encoding {
        config.kafka.encoding = e;
    }
    let mut out = std::io::stdout();
    writeln!(
        out,
        "forewarn demo: replaying real recordings through the pipeline and the shipped models\n  \
         turbofan-rul:    NASA C-MAPSS FD001 test engines 81 (near end of life) and 89 (young), one cycle per second\n  \
         bearing-fault:   CWRU drive-end vibration at 12 kHz, a healthy bearing and one with an inner-race fault\n  \
         process-failure: 40 AI4I 2020 milling-machine readings, 8 of them failures"
    )?;
    writeln!(
        out,
        "  outbox: {}",
        config.gateway.data_dir.join("outbox").display()
    )?;
    match &opts.kafka {
        Some(k) => writeln!(
            out,
            "  forwarding to Kafka at {k} (topics {}, {}, {})",
            config.kafka.alerts_topic, config.kafka.telemetry_topic, config.kafka.status_topic
        )?,
        None => writeln!(
            out,
            "  no Kafka (--kafka HOST:PORT forwards too): records stay in the outbox"
        )?,
    }
    let summary = Arc::new(Mutex::new(DemoSummary::default()));
    let hook_summary = summary.clone();
    let hook = Box::new(move |records: &[Record]| {
        let mut stdout = std::io::stdout().lock();
        let mut s = hook_summary.lock().unwrap_or_else(|e| e.into_inner());
        for r in records {
            match r {
                Record::Telemetry(_) => s.telemetry += 1,
                Record::Alert(_) => s.alerts += 1,
                Record::Status(_) => s.status += 1,
                Record::Baseline(_) => s.baselines += 1,
            }
            let _ = writeln!(stdout, "{}", describe(r));
        }
    });
    let options = RunOptions {
        forward: opts.kafka.is_some(),
        exit_when_sources_end: true,
        drain: Duration::from_secs(30),
        on_commit: Some(hook),
    };
    let report = run(config, options, shutdown).await?;
    let mut result = *summary.lock().unwrap_or_else(|e| e.into_inner());
    result.backlog = report.backlog();
    writeln!(
        out,
        "summary: {} telemetry buckets, {} alert events, {} status heartbeats, {} baselines committed; {} left in the outbox",
        result.telemetry, result.alerts, result.status, result.baselines, result.backlog
    )?;
    Ok(result)
}
