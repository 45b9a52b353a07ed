//! The results: one line per run while it goes, a table, the goals of the benchmark issue set
//! against what was measured (ratios within this run), and a JSON file.

use super::consumers::Kind;
use super::workload::Published;
use super::Scenario;

#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub scenario: String,
    pub consumer: &'static str,
    pub shape: &'static str,
    pub target_rate_msgs: Option<f64>,
    pub messages: usize,
    pub samples: u64,
    pub publish_secs: f64,
    /// Samples the consumer had to account for (load, plus probes) and did.
    pub expected: u64,
    pub accounted: u64,
    pub wall_secs: f64,
    pub in_rate: Option<f64>,
    pub records_out: u64,
    pub probe_alerts: u64,
    pub model_alerts: u64,
    /// Baselines the detectors learned (baseline records on the status topic).
    pub baselines: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub cpu_secs: f64,
    pub peak_rss_mib: f64,
    pub steady_rss_mib: f64,
}

impl RunResult {
    pub fn new(s: &Scenario, kind: Kind, p: &Published) -> RunResult {
        RunResult {
            scenario: s.name.to_string(),
            consumer: kind.name(),
            shape: s.shape.name(),
            target_rate_msgs: s.rate,
            messages: p.messages,
            samples: p.samples,
            publish_secs: p.secs,
            ..RunResult::default()
        }
    }

    pub fn cpu_per_million(&self) -> f64 {
        self.cpu_secs / (self.samples.max(1) as f64 / 1e6)
    }

    pub fn records_per_sec(&self) -> f64 {
        self.records_out as f64 / self.wall_secs.max(1e-9)
    }

    pub fn one_line(&self) -> String {
        format!(
            "{} samples in {:.1} s (published in {:.1} s): {} samples/s, {} records out, p50/p99 {} / {} ms, CPU {:.2} s ({:.2} s/M samples), RSS peak {:.1} MiB steady {:.1} MiB{}{}",
            self.accounted,
            self.wall_secs,
            self.publish_secs,
            fmt_rate(self.in_rate),
            self.records_out,
            fmt_ms(self.latency_p50_ms),
            fmt_ms(self.latency_p99_ms),
            self.cpu_secs,
            self.cpu_per_million(),
            self.peak_rss_mib,
            self.steady_rss_mib,
            if self.baselines > 0 {
                format!(", {} baselines learned", self.baselines)
            } else {
                String::new()
            },
            if self.accounted < self.expected {
                format!(", MISSING {}", self.expected - self.accounted)
            } else {
                String::new()
            }
        )
    }
}

fn fmt_rate(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 1e6 => format!("{:.2} M", r / 1e6),
        Some(r) => format!("{:.1} k", r / 1e3),
        None => "-".into(),
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub mem_gib: f64,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("unknown")
            .trim()
            .to_string();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let mem_kb: f64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu,
            cores,
            kernel,
            mem_gib: mem_kb / 1048576.0,
        }
    }
}

pub fn print_table(results: &[RunResult]) {
    println!();
    println!(
        "| scenario | consumer | samples | samples/s in | × limit | records/s out | p50 ms | p99 ms | CPU s / M samples | peak RSS MiB | steady RSS MiB | complete |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in results {
        let limit = results
            .iter()
            .find(|l| l.scenario == r.scenario && l.consumer == "mosquitto_sub")
            .and_then(|l| l.in_rate);
        let ratio = match (r.in_rate, limit) {
            (Some(a), Some(l)) if r.consumer != "mosquitto_sub" => format!("{:.2}", a / l),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.1} | {} | {} | {:.2} | {:.1} | {:.1} | {} |",
            r.scenario,
            r.consumer,
            r.samples,
            fmt_rate(r.in_rate),
            ratio,
            r.records_per_sec(),
            fmt_ms(r.latency_p50_ms),
            fmt_ms(r.latency_p99_ms),
            r.cpu_per_million(),
            r.peak_rss_mib,
            r.steady_rss_mib,
            if r.accounted >= r.expected {
                "yes".to_string()
            } else {
                format!("no ({} of {})", r.accounted, r.expected)
            }
        );
    }
}

fn find<'a>(results: &'a [RunResult], scenario: &str, consumer: &str) -> Option<&'a RunResult> {
    results
        .iter()
        .find(|r| r.scenario == scenario && r.consumer == consumer)
}

/// The goals, each as measured in this run. Only ratios within the run are compared.
pub fn print_goals(results: &[RunResult]) {
    println!();
    println!("goals (ratios within this run):");
    let line = |goal: &str, value: Option<f64>, target: f64, higher_better: bool| {
        let verdict = match value {
            Some(v) if (higher_better && v >= target) || (!higher_better && v <= target) => "met",
            Some(_) => "NOT met",
            None => "not measured",
        };
        let shown = value
            .map(|v| format!("{v:.2}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "  {goal:<66} {shown:>9}  target {} {target}: {verdict}",
            if higher_better { ">=" } else { "<=" }
        );
    };
    for sc in ["single", "batched"] {
        let v = find(results, sc, "forewarn")
            .and_then(|a| a.in_rate)
            .zip(find(results, sc, "mosquitto_sub").and_then(|l| l.in_rate))
            .map(|(a, l)| a / l);
        line(
            &format!("{sc}: forewarn samples/s ÷ mosquitto_sub's"),
            v,
            0.8,
            true,
        );
    }
    for sc in ["single-rate", "batched-rate"] {
        let agent = find(results, sc, "forewarn");
        let ratio = |peer: &str, f: fn(&RunResult) -> f64| {
            agent
                .zip(find(results, sc, peer))
                .map(|(a, p)| f(p) / f(a).max(1e-9))
        };
        line(
            &format!("{sc}: Node-RED CPU/M samples ÷ forewarn's"),
            ratio("node-red", RunResult::cpu_per_million),
            20.0,
            true,
        );
        line(
            &format!("{sc}: Python CPU/M samples ÷ forewarn's"),
            ratio("python", RunResult::cpu_per_million),
            10.0,
            true,
        );
        line(
            &format!("{sc}: Node-RED peak RSS ÷ forewarn's"),
            ratio("node-red", |r| r.peak_rss_mib),
            10.0,
            true,
        );
        line(
            &format!("{sc}: Python peak RSS ÷ forewarn's"),
            ratio("python", |r| r.peak_rss_mib),
            1.0,
            true,
        );
    }
    line(
        "three-models: forewarn steady RSS (MiB), 50 signals, 3 models",
        find(results, "three-models", "forewarn").map(|r| r.steady_rss_mib),
        20.0,
        false,
    );
}

pub fn write_json(
    path: &str,
    machine: &Machine,
    smoke: bool,
    publishers: usize,
    scale: f64,
    results: &[RunResult],
) {
    let runs: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "scenario": r.scenario,
                "consumer": r.consumer,
                "shape": r.shape,
                "target_rate_msgs_per_sec": r.target_rate_msgs,
                "messages": r.messages,
                "samples": r.samples,
                "publish_secs": r.publish_secs,
                "expected_samples": r.expected,
                "accounted_samples": r.accounted,
                "wall_secs": r.wall_secs,
                "samples_per_sec_in": r.in_rate,
                "records_out": r.records_out,
                "records_per_sec_out": r.records_per_sec(),
                "probe_alerts": r.probe_alerts,
                "model_alerts": r.model_alerts,
                "baselines": r.baselines,
                "latency_p50_ms": r.latency_p50_ms,
                "latency_p99_ms": r.latency_p99_ms,
                "cpu_secs": r.cpu_secs,
                "cpu_secs_per_million_samples": r.cpu_per_million(),
                "peak_rss_mib": r.peak_rss_mib,
                "steady_rss_mib": r.steady_rss_mib,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "bench": "load",
        "smoke": smoke,
        "publishers": publishers,
        "scale": scale,
        "machine": {
            "cpu": machine.cpu,
            "cores": machine.cores,
            "kernel": machine.kernel,
            "mem_gib": machine.mem_gib,
        },
        "unix_time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        "runs": runs,
    });
    if let Some(dir) = std::path::Path::new(path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string_pretty(&doc).expect("results as JSON");
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("cannot write {path}: {e}");
    }
}
