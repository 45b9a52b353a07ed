//! The `forewarn-fleet` command line (`src/bin/forewarn-fleet.rs` only calls [`main`]).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use super::consume::Source;
use super::state::Limits;

#[derive(Parser)]
#[command(
    name = "forewarn-fleet",
    version,
    about = "The center's side of forewarn: the fleet's gateways, alerts and telemetry, read from Kafka"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the fleet page: every gateway (online, late, offline, stopped), open alerts, the
    /// alert timeline and per asset its telemetry and alert scores, live.
    Serve {
        /// Kafka's `host:port` list.
        #[arg(long, short = 'b')]
        bootstrap_servers: String,
        /// Where the page listens (no login: keep it on loopback or behind a proxy that has one).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// librdkafka property `key=value` (TLS, SASL), repeatable.
        #[arg(long = "property", short = 'X', value_parser = key_value)]
        properties: Vec<(String, String)>,
        #[arg(long, default_value = "forewarn.status")]
        status_topic: String,
        #[arg(long, default_value = "forewarn.alerts")]
        alerts_topic: String,
        #[arg(long, default_value = "forewarn.telemetry")]
        telemetry_topic: String,
        /// Records read back from the end of each partition at start.
        #[arg(long, default_value_t = 2000)]
        history: i64,
        /// Missed heartbeats after which a gateway shows as offline (late before that).
        #[arg(long, default_value_t = 3.0)]
        offline_after: f64,
        /// Gateways kept (past it, the one heard from least recently is forgotten).
        #[arg(long, default_value_t = Limits::default().gateways)]
        max_gateways: usize,
        /// Assets kept per gateway.
        #[arg(long, default_value_t = Limits::default().assets)]
        max_assets: usize,
        /// Points per chart.
        #[arg(long, default_value_t = Limits::default().points)]
        points: usize,
    },
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    crate::cli::run::init_logging("info");
    let result = match cli.command {
        Command::Serve {
            bootstrap_servers,
            listen,
            properties,
            status_topic,
            alerts_topic,
            telemetry_topic,
            history,
            offline_after,
            max_gateways,
            max_assets,
            points,
        } => super::serve(super::Options {
            listen,
            source: Source {
                bootstrap_servers,
                properties,
                status_topic,
                alerts_topic,
                telemetry_topic,
                history: history.max(0),
            },
            limits: Limits {
                gateways: max_gateways.max(1),
                assets: max_assets.max(1),
                points: points.max(2),
                ..Limits::default()
            },
            offline_after,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(1)
        }
    }
}
