//! The `forewarn` command line: the arguments (clap), one module per command, and the exit
//! codes ([`Exit`]). `src/main.rs` only calls [`main`].
//!
//! | command | module | exit codes |
//! |---|---|---|
//! | `run`, `demo` | [`run`] | 0, 1, 3 |
//! | `check-config` | [`check`] | 0, 3 |
//! | `model inspect\|verify\|bench` | [`model`] | 0, 5 |
//! | `outbox stats\|verify\|dump` | [`outbox`] | 0, 1, 4 |

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::codec::Encoding;
use crate::outbox::inspect::DumpWhat;
use crate::record::Class;

pub mod baseline;
pub mod check;
mod exit;
pub mod model;
pub mod outbox;
pub mod run;

pub use exit::Exit;

#[derive(Parser)]
#[command(
    name = "forewarn",
    version,
    about = "Predictive-maintenance agent for factory gateways"
)]
pub struct Cli {
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
    CheckConfig {
        file: PathBuf,
        /// On a build machine: secret references are checked but not resolved, and the
        /// files, recordings and model packages that live only on the gateway are checked where
        /// present and listed as not checked where not.
        #[arg(long)]
        offline: bool,
    },
    /// Run the whole pipeline on a built-in recording, nothing installed.
    Demo {
        /// Also forward to Kafka at HOST:PORT.
        #[arg(long)]
        kafka: Option<String>,
        /// Payload encoding on Kafka.
        #[arg(long, value_enum)]
        encoding: Option<EncodingArg>,
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
    /// The baselines the detectors learned: show, export, import, reset, relearn (safe beside
    /// a running agent, which follows a change within seconds of its next samples).
    Baseline {
        #[command(subcommand)]
        command: BaselineCommand,
    },
}

#[derive(Subcommand)]
pub enum BaselineCommand {
    /// Every detector's baseline per asset: span, limits, each signal's mean and sd.
    Show {
        #[arg(long, short)]
        config: PathBuf,
        /// Only this detector.
        detector: Option<String>,
    },
    /// Write one baseline as JSON (to stdout, or --output FILE), for `import` elsewhere.
    Export {
        #[arg(long, short)]
        config: PathBuf,
        detector: String,
        asset: String,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Take a baseline exported from another gateway (FILE, or - for stdin); it must fit the
    /// detector here (same signals, grid and method).
    Import {
        #[arg(long, short)]
        config: PathBuf,
        file: PathBuf,
        /// Bind it to this asset instead of the one it was learned for.
        #[arg(long)]
        asset: Option<String>,
    },
    /// Forget a baseline: the detector learns again from the next step (all its assets unless
    /// ASSET is given).
    Reset {
        #[arg(long, short)]
        config: PathBuf,
        detector: String,
        asset: Option<String>,
    },
    /// Learn a new baseline from the next steps while the current one keeps scoring.
    Relearn {
        #[arg(long, short)]
        config: PathBuf,
        detector: String,
        asset: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ModelCommand {
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
pub enum OutboxCommand {
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
    /// Copy the readable records of a set-aside outbox (`outbox.corrupt-<time>`) into the
    /// live one, under their own sequence numbers, for the agent to forward at its next start.
    /// Run it with the agent stopped.
    Salvage {
        /// The agent's configuration file (data_dir and budget).
        #[arg(long)]
        config: PathBuf,
        /// The set-aside outbox folder.
        #[arg(long)]
        from: PathBuf,
    },
    /// Put the dead letters (records Kafka refused for good) back in their classes, for the
    /// agent to send again at its next start (fix the cause first). Run it with the agent
    /// stopped.
    ResendDead {
        /// The agent's configuration file (data_dir and budget).
        #[arg(long)]
        config: PathBuf,
    },
    /// Print entries as JSON lines (undecodable ones as hex).
    Dump {
        /// The gateway's data_dir, or an outbox folder itself (e.g. a set-aside copy).
        #[arg(long)]
        data_dir: PathBuf,
        /// Which entries; repeat for several (default: every record class).
        #[arg(long = "class", value_enum)]
        classes: Vec<DumpClass>,
        /// First sequence number to print.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Most entries to print.
        #[arg(long, default_value_t = usize::MAX)]
        limit: usize,
    },
}

/// `--encoding` of `demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EncodingArg {
    Json,
    Cbor,
}

impl From<EncodingArg> for Encoding {
    fn from(e: EncodingArg) -> Encoding {
        match e {
            EncodingArg::Json => Encoding::Json,
            EncodingArg::Cbor => Encoding::Cbor,
        }
    }
}

/// `--class` of `outbox dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpClass {
    Alert,
    Status,
    Telemetry,
    Quarantine,
    /// Records Kafka will never take.
    Dead,
}

impl From<DumpClass> for DumpWhat {
    fn from(c: DumpClass) -> DumpWhat {
        match c {
            DumpClass::Alert => DumpWhat::Class(Class::Alert),
            DumpClass::Status => DumpWhat::Class(Class::Status),
            DumpClass::Telemetry => DumpWhat::Class(Class::Telemetry),
            DumpClass::Quarantine => DumpWhat::Quarantine,
            DumpClass::Dead => DumpWhat::Dead,
        }
    }
}

/// Parse the arguments and run the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let exit = match cli.command {
        Command::CheckConfig { file, offline } => check::check_config(&file, offline),
        Command::Run {
            config,
            exit_when_sources_end,
        } => run::run(&config, exit_when_sources_end),
        Command::Demo { kafka, encoding } => run::demo(kafka, encoding.map(Encoding::from)),
        Command::Outbox { command } => outbox::command(command),
        Command::Model { command } => model::command(command),
        Command::Baseline { command } => baseline::command(command),
    };
    exit.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_enums_name_what_the_readme_documents() {
        let classes: Vec<String> = DumpClass::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        assert_eq!(
            classes,
            ["alert", "status", "telemetry", "quarantine", "dead"]
        );
        // Each record class's own name is accepted.
        for c in Class::ALL {
            let d = DumpClass::from_str(c.name(), false).map(DumpWhat::from);
            assert_eq!(d, Ok(DumpWhat::Class(c)));
        }
        let enc: Vec<String> = EncodingArg::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        assert_eq!(enc, ["json", "cbor"]);
        assert!(Cli::try_parse_from(["forewarn", "demo", "--encoding", "xml"]).is_err());
    }
}
