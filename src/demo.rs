//! `forewarn demo`: the whole pipeline with nothing installed.
//!
//! Runs the embedded provisioning file (`firmware-config/demo.toml`) on the embedded recording
//! (`firmware-config/recordings/cmapss-fd001-units1-2.csv`), with the outbox in a temporary
//! directory, and prints every committed alert, telemetry bucket and status in a readable form.
//! With `--kafka HOST:PORT` it also forwards to Kafka and waits for the outbox to drain.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::app::{run, RunOptions};
use crate::codec::Encoding;
use crate::record::{AlertEvent, Record};

const DEMO_CONFIG: &str = include_str!("../firmware-config/demo.toml");
const RECORDING_PATH: &str = "recordings/cmapss-fd001-units1-2.csv";
const RECORDING: &str = include_str!("../firmware-config/recordings/cmapss-fd001-units1-2.csv");

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
    /// Records still in the outbox at the end (with `--kafka`: not yet acknowledged).
    pub backlog: u64,
}

fn time(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// One human line per record.
pub fn describe(r: &Record) -> String {
    match r {
        Record::Telemetry(t) => {
            format!(
            "TELEMETRY {}/{:<5} {} +{}m  n={:<3} min={:<9.3} mean={:<9.3} max={:<9.3} last={:.3}{}",
            t.asset,
            t.signal,
            time(t.start_ns),
            (t.end_ns - t.start_ns) / 60_000_000_000,
            t.count,
            t.min,
            t.mean,
            t.max,
            t.last,
            t.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
        )
        }
        Record::Alert(a) => format!(
            "ALERT     {} {:<7} {}/{} {}={:.2} (limit {}, since {}, {:?}) id={}",
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
            a.id
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
            format!(
                "STATUS    uptime={:.1}s {} | outbox {} | delivered={} errors={}",
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
    let rec = dir.path().join(RECORDING_PATH);
    if let Some(parent) = rec.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&rec, RECORDING)?;
    let mut config = crate::config::parse_str(DEMO_CONFIG, "demo.toml (embedded)", dir.path())
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
        "forewarn demo: replaying NASA C-MAPSS FD001 units 1-2 ({} rows, 7 sensors each) through the pipeline",
        RECORDING.lines().count() - 1
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
        "summary: {} telemetry buckets, {} alert events, {} status heartbeats committed; {} left in the outbox",
        result.telemetry, result.alerts, result.status, result.backlog
    )?;
    Ok(result)
}
