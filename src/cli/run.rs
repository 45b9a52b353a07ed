//! `forewarn run` and `forewarn demo`: logging, the runtime, the signals, then the library's
//! [`crate::app::run`] / [`crate::demo::demo`].

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::Exit;
use crate::app::{self, signals};
use crate::codec::Encoding;
use crate::config;

/// `forewarn run --config FILE`: exit 3 if the file has problems, 1 if the agent failed.
pub fn run(path: &Path, exit_when_sources_end: bool) -> Exit {
    init_logging("info");
    let config = match config::load_file_with(path, &crate::model::package::ManifestReader) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return Exit::InvalidConfig;
        }
    };
    config::secret::register(&config);
    for (field, why) in config::secret::cleartext_credentials(&config) {
        tracing::warn!(field = %field, "Credentials without TLS: {why}");
    }
    if let Some(why) = config.metrics.as_ref().and_then(|m| m.exposure()) {
        tracing::warn!(field = "metrics.listen", "Metrics endpoint: {why}");
    }
    // A bad package does not stop the agent: the model stage refuses it (reason in the
    // status) and tries it again at the next reload.
    for p in &config.package_problems {
        tracing::warn!(field = %p.field, problem = %p.message, "Model package problem; starting without it.");
    }
    runtime_main(|token| async move {
        let options = app::RunOptions {
            exit_when_sources_end,
            ..Default::default()
        };
        app::run(config, options, token).await.map(|_| ())
    })
}

/// `forewarn demo [--kafka HOST:PORT] [--encoding json|cbor]`.
pub fn demo(kafka: Option<String>, encoding: Option<Encoding>) -> Exit {
    init_logging("warn");
    runtime_main(|token| async move {
        crate::demo::demo(crate::demo::DemoOptions { kafka, encoding }, token)
            .await
            .map(|_| ())
    })
}

/// Logs to stderr, filtered by FOREWARN_LOG ("info", "warn,forewarn=debug", ...: a default
/// level and per-module levels) or else `default`.
pub fn init_logging(default: &str) {
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
                .with_writer(|| ScrubbedStderr)
                .with_ansi(color),
        )
        .with(filter)
        .init();
}

/// Standard error, with the running configuration's secrets scrubbed from each log line
/// ([`config::secret::scrub`]): what a library logs (librdkafka's messages included) is
/// covered too. The fmt layer writes one event per `write`.
struct ScrubbedStderr;

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        match std::str::from_utf8(buf).map(config::secret::scrub) {
            Ok(std::borrow::Cow::Owned(clean)) => err.write_all(clean.as_bytes())?,
            _ => err.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A multi-thread runtime whose root token SIGINT/SIGTERM cancel ([`signals`]).
fn runtime_main<F, Fut>(f: F) -> Exit
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
            return Exit::Failed;
        }
    };
    let exit = rt.block_on(async {
        let token = CancellationToken::new();
        signals::shutdown_on_signals(token.clone());
        match f(token).await {
            Ok(()) => Exit::Ok,
            Err(e) => {
                eprintln!("error: {}", config::secret::scrub(&format!("{e:#}")));
                Exit::Failed
            }
        }
    });
    // Blocking tasks still running (a join of a model thread left behind at the shutdown
    // deadline) must not keep the process alive.
    rt.shutdown_timeout(Duration::from_millis(500));
    exit
}
