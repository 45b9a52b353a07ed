//! The `forewarn-fleet` command line (`src/bin/forewarn-fleet.rs` only calls [`main`]).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::consume::{ingest, Reader, Source};
use super::state::{Fleet, Limits};
use crate::command::gate::{Gate, Verdict};
use crate::command::{Action, SecretKey, TrustedKey};
use crate::record::now_ns;

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
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Where the page listens (no login: keep it on loopback or behind a proxy that has one).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
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
        /// Charts kept in all (a signal's telemetry, a rule's alert scores).
        #[arg(long, default_value_t = Limits::default().series)]
        max_series: usize,
        /// Points per chart.
        #[arg(long, default_value_t = Limits::default().points)]
        points: usize,
    },
    /// Print the fleet as a table (or JSON): every gateway's state, last heartbeat, version,
    /// config revision, outbox and time until full, open alerts, sources, stalled stages.
    Status {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Records read back from the end of each status and alerts partition.
        #[arg(long, default_value_t = 2000)]
        history: i64,
        /// Missed heartbeats after which a gateway shows as offline (late before that).
        #[arg(long, default_value_t = 3.0)]
        offline_after: f64,
        /// Longest wait, in seconds, for the topics to be read up to their end.
        #[arg(long, default_value_t = 20.0)]
        wait: f64,
        /// Print again every this many seconds (until SIGINT) instead of once.
        #[arg(long)]
        watch: Option<f64>,
        /// The `/api/fleet` JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Print forewarn records as JSON lines (`topic`, `partition`, `offset`, `key`, `gateway`,
    /// `seq`, `schema`, `content_type`, `record`), JSON and CBOR payloads alike.
    Tail {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Topics to read (default: the status, alerts and telemetry topics).
        #[arg(long = "topic")]
        topics: Vec<String>,
        /// Records read back from the end of each partition first.
        #[arg(long, default_value_t = 10)]
        history: i64,
        /// Every record the topics hold (instead of --history).
        #[arg(long)]
        from_beginning: bool,
        /// Stop after this many records.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Make a signing key: NAME.secret (mode 0600, never overwritten) and NAME.pub; print the
    /// provisioning file lines that trust it.
    Keygen {
        /// NAME: the path of the two files without their extension.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a command for gateways (by id and/or tags): the envelope as one JSON line.
    Sign {
        /// The secret key file (from keygen).
        #[arg(long)]
        key: PathBuf,
        /// A gateway id it is for (repeatable).
        #[arg(long = "gateway")]
        gateways: Vec<String>,
        /// key=value: for every gateway with all these tags (repeatable).
        #[arg(long = "tag", value_parser = key_value)]
        tags: Vec<(String, String)>,
        #[arg(long, value_enum)]
        action: ActionArg,
        /// relearn, reset-baseline: the detector.
        #[arg(long)]
        detector: Option<String>,
        /// relearn, reset-baseline: one asset (default: all the detector's).
        #[arg(long)]
        asset: Option<String>,
        /// rotate-keys: a public key file to trust (repeatable).
        #[arg(long = "add-key")]
        add_keys: Vec<PathBuf>,
        /// rotate-keys: a key id to trust no more (repeatable).
        #[arg(long = "remove-key")]
        remove_keys: Vec<String>,
        /// Seconds the command stays valid.
        #[arg(long, default_value_t = 600.0)]
        expires_in: f64,
        /// Above every seq the gateways accepted (default: now, in microseconds).
        #[arg(long)]
        seq: Option<u64>,
        /// Default: 16 random hex digits.
        #[arg(long)]
        id: Option<String>,
    },
    /// Check an envelope (FILE, or - for stdin) as a gateway would: print the command, or
    /// why it is refused (exit 1).
    Verify {
        /// A public key file the gateway trusts (repeatable).
        #[arg(long = "trusted", required = true)]
        trusted: Vec<PathBuf>,
        #[arg(long)]
        gateway: String,
        /// key=value: the gateway's tags (repeatable).
        #[arg(long = "tag", value_parser = key_value)]
        tags: Vec<(String, String)>,
        /// The highest seq the gateway accepted before.
        #[arg(long, default_value_t = 0)]
        last_seq: u64,
        file: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ActionArg {
    Ping,
    Relearn,
    ResetBaseline,
    RotateKeys,
}

/// Where Kafka is and the topic names (status and tail).
#[derive(clap::Args)]
struct KafkaArgs {
    /// Kafka's `host:port` list.
    #[arg(long, short = 'b')]
    bootstrap_servers: String,
    /// librdkafka property `key=value` (TLS, SASL), repeatable.
    #[arg(long = "property", short = 'X', value_parser = key_value)]
    properties: Vec<(String, String)>,
    #[arg(long, default_value = "forewarn.status")]
    status_topic: String,
    #[arg(long, default_value = "forewarn.alerts")]
    alerts_topic: String,
    #[arg(long, default_value = "forewarn.telemetry")]
    telemetry_topic: String,
}

impl KafkaArgs {
    fn source(self, history: i64) -> Source {
        Source {
            bootstrap_servers: self.bootstrap_servers,
            properties: self.properties,
            status_topic: self.status_topic,
            alerts_topic: self.alerts_topic,
            telemetry_topic: self.telemetry_topic,
            history: history.max(0),
        }
    }
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
            kafka,
            listen,
            history,
            offline_after,
            max_gateways,
            max_assets,
            max_series,
            points,
        } => super::serve(super::Options {
            listen,
            source: kafka.source(history),
            limits: Limits {
                gateways: max_gateways.max(1),
                assets: max_assets.max(1),
                series: max_series.max(1),
                points: points.max(2),
                ..Limits::default()
            },
            offline_after,
        }),
        Command::Status {
            kafka,
            history,
            offline_after,
            wait,
            watch,
            json,
        } => status(kafka.source(history), offline_after, wait, watch, json),
        Command::Keygen { out } => keygen(&out),
        Command::Sign {
            key,
            gateways,
            tags,
            action,
            detector,
            asset,
            add_keys,
            remove_keys,
            expires_in,
            seq,
            id,
        } => (|| {
            let action = match (action, detector) {
                (ActionArg::Ping, _) => Action::Ping,
                (ActionArg::Relearn, Some(detector)) => Action::Relearn { detector, asset },
                (ActionArg::ResetBaseline, Some(detector)) => {
                    Action::ResetBaseline { detector, asset }
                }
                (ActionArg::Relearn | ActionArg::ResetBaseline, None) => {
                    anyhow::bail!("--action relearn and reset-baseline need --detector")
                }
                (ActionArg::RotateKeys, _) => Action::RotateKeys {
                    add: add_keys
                        .iter()
                        .map(|p| Ok(TrustedKey::parse(&read(p)?)?))
                        .collect::<anyhow::Result<_>>()?,
                    remove: remove_keys,
                },
            };
            let key = SecretKey::parse(&read(&key)?)?;
            let now = now_ns();
            let id = match id {
                Some(id) => id,
                None => {
                    let mut b = [0u8; 8];
                    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("{e}"))?;
                    crate::util::hex(&b)
                }
            };
            let command = crate::command::Command {
                schema: crate::command::COMMAND_SCHEMA.into(),
                id,
                target: crate::command::Target {
                    gateways,
                    tags: tags.into_iter().collect(),
                },
                seq: seq.unwrap_or((now / 1000).max(1) as u64),
                issued_ns: now,
                expires_ns: now.saturating_add((expires_in.max(0.0) * 1e9) as i64),
                action,
            };
            println!(
                "{}",
                serde_json::to_string(&crate::command::sign(&command, &key))?
            );
            Ok(())
        })(),
        Command::Verify {
            trusted,
            gateway,
            tags,
            last_seq,
            file,
        } => (|| {
            let keys = trusted
                .iter()
                .map(|p| Ok(TrustedKey::parse(&read(p)?)?))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut gate = Gate::new(&gateway, tags.into_iter().collect(), &keys, last_seq)
                .map_err(|e| anyhow::anyhow!(e))?;
            let bytes = if file.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
                b
            } else {
                std::fs::read(&file)?
            };
            match gate.check(bytes.trim_ascii(), now_ns()) {
                Verdict::Accept(c) => {
                    println!("{}", serde_json::to_string(&c)?);
                    Ok(())
                }
                Verdict::NotForUs => anyhow::bail!("not_for_us: the command is for other gateways"),
                Verdict::Refuse(r, why) => anyhow::bail!("refused, {}: {why}", r.name()),
            }
        })(),
        Command::Tail {
            kafka,
            topics,
            history,
            from_beginning,
            count,
        } => {
            let history = if from_beginning { i64::MAX } else { history };
            tail(kafka.source(history), topics, count)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(1)
        }
    }
}

/// Ctrl-C (SIGINT) or SIGTERM sets the flag (the commands below poll it).
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let _ = signal_flag(signal, stop.clone());
    }
    stop
}

/// A flag a signal sets, through a thread that waits for it with tokio's signal handling
/// on a small runtime of its own.
fn signal_flag(signal: i32, flag: Arc<AtomicBool>) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("fleet-signal".into())
        .spawn(move || {
            runtime.block_on(async {
                use tokio::signal::unix::{signal as listen, SignalKind};
                if let Ok(mut s) = listen(SignalKind::from_raw(signal)) {
                    s.recv().await;
                    flag.store(true, Ordering::Relaxed);
                }
            })
        })?;
    Ok(())
}

/// Read the status and alerts topics up to their end (or for `wait` seconds), then print;
/// with `watch`, keep reading and print again every `watch` seconds.
fn status(
    mut source: Source,
    offline_after: f64,
    wait: f64,
    watch: Option<f64>,
    json: bool,
) -> anyhow::Result<()> {
    // Telemetry is not in the table: reading it would only cost time.
    source.telemetry_topic = String::new();
    let topics = [source.status_topic.as_str(), source.alerts_topic.as_str()];
    let mut reader = Reader::new(
        &source.bootstrap_servers,
        &source.properties,
        &topics,
        source.history,
    )?;
    let mut fleet = Fleet::new(Limits::default(), offline_after);
    let stop = stop_flag();
    let deadline = Instant::now() + Duration::from_secs_f64(wait.max(0.0));
    while !reader.caught_up() && Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        reader.poll(|m, live| ingest(m, &source, live, &mut fleet));
    }
    if let Some(state) = reader.take_state().filter(|_| !reader.caught_up()) {
        tracing::warn!(
            missing = ?state.missing,
            last_error = ?state.last_error,
            "Not read up to the end within --wait; printing what was read."
        );
    }
    let print = |fleet: &Fleet| -> anyhow::Result<()> {
        let view = fleet.view(now_ns(), 20);
        let text = if json {
            serde_json::to_string(&view)? + "\n"
        } else {
            super::table::render(&view)
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    };
    print(&fleet)?;
    let Some(every) = watch else {
        return Ok(());
    };
    let every = Duration::from_secs_f64(every.max(0.5));
    let mut next = Instant::now() + every;
    while !stop.load(Ordering::Relaxed) {
        reader.poll(|m, live| ingest(m, &source, live, &mut fleet));
        if Instant::now() >= next {
            println!();
            print(&fleet)?;
            next = Instant::now() + every;
        }
    }
    Ok(())
}

/// Print records as JSON lines until `count` or SIGINT.
fn tail(source: Source, topics: Vec<String>, count: Option<u64>) -> anyhow::Result<()> {
    let topics: Vec<&str> = if topics.is_empty() {
        source.topics().to_vec()
    } else {
        topics.iter().map(String::as_str).collect()
    };
    let mut reader = Reader::new(
        &source.bootstrap_servers,
        &source.properties,
        &topics,
        source.history,
    )?;
    let stop = stop_flag();
    let mut printed = 0u64;
    let mut failed: Option<std::io::Error> = None;
    while !stop.load(Ordering::Relaxed) && count.is_none_or(|c| printed < c) && failed.is_none() {
        reader.poll(|m, _| match super::tail::line(m) {
            Ok(line) => {
                let mut out = std::io::stdout().lock();
                if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
                    failed = Some(e); // a closed pipe (`| head`) ends the command
                }
                printed += 1;
            }
            Err(e) => tracing::warn!("Not decodable, skipped: {e}"),
        });
    }
    match failed {
        Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Write NAME.secret (0600, only if new) and NAME.pub; print the lines that trust the key.
fn keygen(out: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let key = SecretKey::generate()?;
    let secret = out.with_extension("secret");
    let public = out.with_extension("pub");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret)
        .map_err(|e| anyhow::anyhow!("{}: {e}", secret.display()))?;
    f.write_all(key.to_file().as_bytes())?;
    f.sync_all()?;
    let trusted = key.trusted();
    std::fs::write(&public, trusted.to_file())?;
    println!(
        "# {} (secret: {}; keep it off the gateways)\n[[commands.trusted_keys]]\nid = \"{}\"\npublic_key = \"{}\"",
        public.display(),
        secret.display(),
        trusted.id,
        trusted.public_key
    );
    Ok(())
}
