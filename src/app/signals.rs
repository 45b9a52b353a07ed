//! Every process signal the agent handles, in one place.
//!
//! - SIGINT / SIGTERM: the first cancels the root token (an orderly drain within
//!   [`super::SHUTDOWN_DEADLINE`]); a second exits at once (status 1). Whatever was committed
//!   to the outbox stays committed.
//! - SIGHUP: a reload request ([`hangups`]), delivered to the model stage's watcher; without
//!   model packages it is logged and ignored (its default action would end the process, and
//!   `systemctl reload` must not stop the agent).

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// SIGINT or SIGTERM cancels `token`; a second one exits the process. The handlers are in
/// place when this returns (before the outbox opens: a SIGTERM during a long open then ends
/// the agent in order instead of killing it mid-walk, which the crash-loop marker would count).
pub fn shutdown_on_signals(token: CancellationToken) {
    let Some(mut signals) = Terminate::install() else {
        error!("Cannot install signal handlers.");
        return;
    };
    tokio::spawn(async move {
        signals.next().await;
        info!(
            deadline_secs = super::SHUTDOWN_DEADLINE.as_secs(),
            "Shutdown requested; draining (a second signal exits at once)."
        );
        token.cancel();
        signals.next().await;
        warn!("Second signal: exiting without draining.");
        std::process::exit(1);
    });
}

/// SIGINT and SIGTERM, installed.
struct Terminate {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Terminate {
    fn install() -> Option<Terminate> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Some(Terminate {
                term: signal(SignalKind::terminate()).ok()?,
                int: signal(SignalKind::interrupt()).ok()?,
            })
        }
        #[cfg(not(unix))]
        Some(Terminate {})
    }

    /// The next SIGINT or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// SIGHUPs as a channel, until `stop`. Several signals before one is taken count as one.
pub fn hangups(stop: CancellationToken) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            got = hup.recv() => match got {
                                Some(()) => { let _ = tx.try_send(()); }
                                None => break,
                            },
                        }
                    }
                });
            }
            Err(e) => {
                error!(error = %e, "Cannot install the SIGHUP handler; reload by file change only.")
            }
        }
    }
    #[cfg(not(unix))]
    drop((tx, stop));
    rx
}

/// Without model packages there is nothing to reload: log each SIGHUP of `rx` and go on.
pub fn ignore_hangups(mut rx: mpsc::Receiver<()>, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                got = rx.recv() => match got {
                    Some(()) => info!("SIGHUP: nothing to reload (no [[models]])."),
                    None => break,
                },
            }
        }
    });
}
