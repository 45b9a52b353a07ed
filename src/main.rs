//! The `forewarn` command line: parse arguments, start logging, call the library, map errors
//! to exit codes (0 ok, 1 runtime failure, 2 usage, 3 invalid provisioning file).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use forewarn::codec::Encoding;
use forewarn::config::{self, Durability};

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
    /// Inspect an outbox offline (the agent must not be running on it).
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
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
}

fn parse_encoding(s: &str) -> Result<Encoding, String> {
    match s {
        "json" => Ok(Encoding::Json),
        "cbor" => Ok(Encoding::Cbor),
        _ => Err("expected json or cbor".into()),
    }
}

fn init_logging(default: &str) {
    let filter =
        EnvFilter::try_from_env("FOREWARN_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
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
        tracing::info!("Shutdown requested; draining.");
        token.cancel();
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
                    println!(
                        "{}: ok (gateway {}, {} sources, {} assets, {} rules)",
                        file.display(),
                        c.gateway.id,
                        c.sources.len(),
                        c.assets.len(),
                        c.rules.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprint!("{e}");
                    ExitCode::from(3)
                }
            }
        }
        Command::Run { config: path } => {
            init_logging("info");
            let config = match config::load_file(&path) {
                Ok(c) => c,
                Err(e) => {
                    eprint!("{e}");
                    return ExitCode::from(3);
                }
            };
            runtime_main(|token| async move {
                forewarn::app::run(config, Default::default(), token)
                    .await
                    .map(|_| ())
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
        Command::Outbox {
            command: OutboxCommand::Stats { data_dir },
        } => {
            let dir = data_dir.join("outbox");
            if !dir.join("data.mdb").exists() {
                eprintln!("error: no outbox at {}", dir.display());
                return ExitCode::from(1);
            }
            // Budget 0: this only reads; LMDB sizes the map to the file's committed data.
            match forewarn::outbox::Outbox::open(&dir, 0, Durability::Full) {
                Ok(o) => {
                    let c = o.counters();
                    println!("outbox {}", dir.display());
                    println!("  next sequence number: {}", c.next_seq);
                    for (class, s) in o.class_status(forewarn::record::now_ns()) {
                        println!(
                            "  {:<9} depth={:<8} bytes={:<10} evicted={:<8} oldest_age_secs={}",
                            class.name(),
                            s.depth,
                            s.bytes,
                            s.evicted,
                            s.oldest_age_secs
                                .map(|a| format!("{a:.0}"))
                                .unwrap_or_else(|| "-".into())
                        );
                    }
                    println!("  quarantined: {}", c.quarantined);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
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
    rt.block_on(async {
        let token = CancellationToken::new();
        shutdown_on_signals(token.clone());
        match f(token).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        }
    })
}
