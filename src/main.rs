//! The `forewarn` command line: parse arguments, start logging, call the library, map errors
//! to exit codes (0 ok, 1 runtime failure, 2 usage, 3 invalid provisioning file).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use forewarn::codec::Encoding;
use forewarn::config;
use forewarn::outbox::inspect::DumpWhat;

#[derive(Parser)]
#[command(
    name = "forewarn",
    version,
    about = "Predictive-maintenance agent for factory gateways"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent with a provisioning file.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Stop when every source has ended (replay files: backfill, footprint runs) instead of
        /// waiting for SIGTERM; first waits up to 5 s for Kafka to take the outbox.
        #[arg(long)]
        exit_when_sources_end: bool,
    },
    /// Validate a provisioning file and list every problem (exit 3 if there are any).
    CheckConfig { file: PathBuf },
    /// Run the whole pipeline on a built-in recording, nothing installed.
    Demo {
        /// Also forward to Kafka at HOST:PORT.
        #[arg(long)]
        kafka: Option<String>,
        /// Payload encoding on Kafka: json or cbor.
        #[arg(long, value_parser = parse_encoding)]
        encoding: Option<Encoding>,
    },
    /// Inspect, verify or benchmark a model package.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Inspect an outbox (read-only: safe beside a running agent).
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Manifest, ONNX inputs and outputs, known tract issues.
    Inspect { package: PathBuf },
    /// Load the package as the agent does: checksum, limits, tract, golden vectors, in a child
    /// process under memory, CPU and time limits (exit 5 if refused).
    Verify {
        package: PathBuf,
        /// Longest the check may take, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// What `verify` and the agent run in the child process: one verdict line on stdout.
    #[command(hide = true)]
    CheckChild { package: PathBuf },
    /// Latency of feature extraction and inference over N runs (p50, p99, max).
    Bench {
        package: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        runs: usize,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Counts, bytes, evictions and sequence numbers per class.
    Stats {
        /// The gateway's data_dir (the outbox is its `outbox/` folder).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Check every entry and counter; list the problems (exit 4 if there are any).
    Verify {
        /// The gateway's data_dir, or an outbox folder itself (e.g. a set-aside copy).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Print entries as JSON lines (undecodable ones as hex).
    Dump {
        /// The gateway's data_dir, or an outbox folder itself (e.g. a set-aside copy).
        #[arg(long)]
        data_dir: PathBuf,
        /// alert, status, telemetry or quarantine; repeat for several (default: all classes).
        #[arg(long = "class", value_parser = parse_dump_class)]
        classes: Vec<DumpWhat>,
        /// First sequence number to print.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Most entries to print.
        #[arg(long, default_value_t = usize::MAX)]
        limit: usize,
    },
}

fn parse_dump_class(s: &str) -> Result<DumpWhat, String> {
    match s {
        "quarantine" => Ok(DumpWhat::Quarantine),
        _ => forewarn::record::Class::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .map(DumpWhat::Class)
            .ok_or_else(|| "expected alert, status, telemetry or quarantine".into()),
    }
}

/// `--data-dir` may name the gateway's data_dir or an outbox folder itself.
fn outbox_dir(data_dir: PathBuf) -> PathBuf {
    if data_dir.join("data.mdb").exists() {
        data_dir
    } else {
        data_dir.join("outbox")
    }
}

fn parse_encoding(s: &str) -> Result<Encoding, String> {
    match s {
        "json" => Ok(Encoding::Json),
        "cbor" => Ok(Encoding::Cbor),
        _ => Err("expected json or cbor".into()),
    }
}

/// Logs to stderr, filtered by FOREWARN_LOG ("info", "warn,forewarn=debug", ...: a default
/// level and per-module levels) or else `default`.
fn init_logging(default: &str) {
    let fallback = || {
        default
            .parse::<Targets>()
            .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO))
    };
    let filter = match std::env::var("FOREWARN_LOG") {
        Ok(s) if !s.trim().is_empty() => s.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!("FOREWARN_LOG={s:?} is not a log filter ({e}); using {default:?}.");
            fallback()
        }),
        _ => fallback(),
    };
    use std::io::IsTerminal;
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(color),
        )
        .with(filter)
        .init();
}

/// SIGINT or SIGTERM cancels the root token.
fn shutdown_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::error!("Cannot install signal handlers.");
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!(
            deadline_secs = forewarn::app::SHUTDOWN_DEADLINE.as_secs(),
            "Shutdown requested; draining (a second signal exits at once)."
        );
        token.cancel();
        // A second signal: the operator does not want to wait for the drain. Whatever was
        // committed to the outbox stays committed.
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                tracing::warn!("Second signal: exiting without draining.");
                std::process::exit(1);
            }
        }
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => {
            match config::load_file(&file) {
                Ok(c) => {
                    if let Err(e) = forewarn::forward::check_properties(&c.kafka, &c.gateway.id) {
                        eprintln!("{}: 1 problem(s)\n  {}: kafka.properties: librdkafka refuses them: {e}", file.display(), file.display());
                        return ExitCode::from(3);
                    }
                    // Package problems stop `check-config` (not `run`); every package that
                    // reads is then verified as the agent would, in a child under limits.
                    let mut refused: Vec<String> = c
                        .package_problems
                        .iter()
                        .map(|p| match (p.line, p.column) {
                            (Some(l), Some(col)) => {
                                format!(":{l}:{col}: {}: {}", p.field, p.message)
                            }
                            _ => format!(": {}: {}", p.field, p.message),
                        })
                        .collect();
                    if refused.is_empty() {
                        for m in &c.models {
                            let limits = forewarn::model::verify::CheckLimits {
                                timeout: m.check_timeout,
                                ..Default::default()
                            };
                            let v =
                                forewarn::model::verify::run_check(&m.package, limits, &|| false);
                            if !v.is_ok() {
                                refused.push(format!(": models ({}): {v}", m.package.display()));
                            }
                        }
                    }
                    if !refused.is_empty() {
                        eprintln!("{}: {} problem(s)", file.display(), refused.len());
                        for r in refused {
                            eprintln!("  {}{r}", file.display());
                        }
                        return ExitCode::from(3);
                    }
                    println!(
                        "{}: ok (gateway {}, {} sources, {} assets, {} rules, {} models)",
                        file.display(),
                        c.gateway.id,
                        c.sources.len(),
                        c.assets.len(),
                        c.rules.len(),
                        c.models.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprint!("{e}");
                    ExitCode::from(3)
                }
            }
        }
        Command::Run {
            config: path,
            exit_when_sources_end,
        } => {
            init_logging("info");
            let config = match config::load_file(&path) {
                Ok(c) => c,
                Err(e) => {
                    eprint!("{e}");
                    return ExitCode::from(3);
                }
            };
            // A bad package does not stop the agent: the model stage refuses it (reason in
            // the status) and tries it again at the next reload.
            for p in &config.package_problems {
                tracing::warn!(field = %p.field, problem = %p.message, "Model package problem; starting without it.");
            }
            runtime_main(|token| async move {
                let options = forewarn::app::RunOptions {
                    exit_when_sources_end,
                    ..Default::default()
                };
                forewarn::app::run(config, options, token).await.map(|_| ())
            })
        }
        Command::Demo { kafka, encoding } => {
            init_logging("warn");
            runtime_main(|token| async move {
                forewarn::demo::demo(forewarn::demo::DemoOptions { kafka, encoding }, token)
                    .await
                    .map(|_| ())
            })
        }
        Command::Outbox { command } => outbox_command(command),
        Command::Model { command } => model_command(command),
    }
}

fn model_command(command: ModelCommand) -> ExitCode {
    use forewarn::model::load::load_package;
    use forewarn::model::package::Package;
    match command {
        ModelCommand::Inspect { package } => {
            let p = match Package::read(&package) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(5);
                }
            };
            let m = &p.manifest;
            println!("{} {} ({})", m.name, m.version, package.display());
            if !m.description.is_empty() {
                println!("  {}", m.description);
            }
            println!("  onnx: {} sha256 {}", m.onnx, m.sha256);
            println!("  signals: {}", m.signals.join(", "));
            println!("  window: {:?}", m.window);
            println!("  features ({}):", m.features.len());
            for f in m.features.names() {
                println!("    {f}");
            }
            println!("  output: {:?} = {:?}", m.output_name, m.output);
            for a in &m.alerts {
                println!(
                    "  alert {}: {:?} on {} off {} ({} of {} windows), {:?}",
                    a.name, a.direction, a.on, a.off, a.k, a.n, a.severity
                );
            }
            match forewarn::model::onnx::OnnxModel::load(&p.onnx, m.features.len()) {
                Ok(model) => {
                    println!("  onnx input: {}", model.input());
                    for o in model.outputs() {
                        println!("  onnx output: {o}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: tract cannot load it: {e}");
                    ExitCode::from(5)
                }
            }
        }
        ModelCommand::Verify {
            package,
            timeout_secs,
        } => {
            use forewarn::model::verify::{run_check, CheckLimits, Verdict};
            let limits = CheckLimits {
                timeout: std::time::Duration::from_secs(timeout_secs.clamp(1, 3600)),
                ..Default::default()
            };
            match run_check(&package, limits, &|| false) {
                Verdict::Ok { name, version, .. } => {
                    println!("{name} {version}: ok (loaded and every golden vector matched, in a child process under limits)");
                    ExitCode::SUCCESS
                }
                v => {
                    eprintln!("refused: {v}");
                    ExitCode::from(5)
                }
            }
        }
        ModelCommand::CheckChild { package } => {
            let v = forewarn::model::load::check_child(&package);
            println!("{}", v.line());
            if matches!(v, forewarn::model::verify::ChildVerdict::Ok { .. }) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(5)
            }
        }
        ModelCommand::Bench { package, runs } => match load_package(&package) {
            Ok(m) => {
                let r = forewarn::model::bench::bench(&m, runs.max(1));
                println!(
                    "{} {}: {} runs",
                    m.manifest.name, m.manifest.version, r.runs
                );
                println!(
                    "  feature extraction per window ({} samples x {} signals): p50 {:.1} us, p99 {:.1} us, max {:.1} us",
                    r.window_len, r.signals, r.features.p50_us, r.features.p99_us, r.features.max_us
                );
                println!(
                    "  inference: p50 {:.1} us, p99 {:.1} us, max {:.1} us",
                    r.inference.p50_us, r.inference.p99_us, r.inference.max_us
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("refused: {e}");
                ExitCode::from(5)
            }
        },
    }
}

fn outbox_command(command: OutboxCommand) -> ExitCode {
    use forewarn::outbox::inspect;
    let (dir, verbose) = match &command {
        OutboxCommand::Stats { data_dir } => (outbox_dir(data_dir.clone()), false),
        OutboxCommand::Verify { data_dir } => (outbox_dir(data_dir.clone()), true),
        OutboxCommand::Dump {
            data_dir,
            classes,
            from,
            limit,
        } => {
            let dir = outbox_dir(data_dir.clone());
            let what = if classes.is_empty() {
                forewarn::record::Class::ALL
                    .into_iter()
                    .map(DumpWhat::Class)
                    .collect()
            } else {
                classes.clone()
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            return match inspect::dump(&dir, &what, *from, *limit, &mut out) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {}: {e}", dir.display());
                    ExitCode::from(1)
                }
            };
        }
    };
    let report = match inspect::verify(&dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            return ExitCode::from(1);
        }
    };
    let now = forewarn::record::now_ns();
    println!("outbox {}", dir.display());
    println!("  next sequence number: {}", report.next_seq);
    if verbose {
        println!(
            "  data file: {} bytes, last transaction {}",
            report.file_bytes, report.last_txn
        );
        match report.reserved {
            Some(r) => println!("  sequence numbers reserved below: {r}"),
            None => println!("  sequence numbers reserved below: (no reservation file)"),
        }
    }
    for class in forewarn::record::Class::ALL {
        let w = report.walked(class);
        let stored = report.stored(class);
        println!(
            "  {:<9} depth={:<8} bytes={:<10} evicted={:<8} oldest_age_secs={}",
            class.name(),
            w.entries,
            w.bytes,
            stored.evicted,
            w.oldest_ts_ns
                .map(|t| format!("{:.0}", now.saturating_sub(t) as f64 / 1e9))
                .unwrap_or_else(|| "-".into())
        );
        if verbose {
            if let (Some(a), Some(b)) = (w.first_seq, w.last_seq) {
                println!("            seq {a}..={b}, undecodable {}", w.undecodable);
            }
        }
    }
    println!(
        "  quarantined: {} (entries held: {})",
        report.quarantined, report.quarantine_entries
    );
    println!(
        "  recovered from previous snapshot: {}, set aside: {}",
        report.recovered, report.set_aside
    );
    if report.ok() {
        if verbose {
            println!("ok");
        }
        ExitCode::SUCCESS
    } else {
        for p in &report.problems {
            println!("problem: {p}");
        }
        if verbose {
            ExitCode::from(4)
        } else {
            ExitCode::SUCCESS
        }
    }
}

fn runtime_main<F, Fut>(f: F) -> ExitCode
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(async {
        let token = CancellationToken::new();
        shutdown_on_signals(token.clone());
        match f(token).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        }
    });
    // Blocking tasks still running (a join of a model thread left behind at the shutdown
    // deadline) must not keep the process alive.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}
