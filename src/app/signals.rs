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

/// SIGINT or SIGTERM cancels `token`; a second one exits the process.
pub fn shutdown_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        if terminate().await.is_none() {
            error!("Cannot install signal handlers.");
            return;
        }
        info!(
            deadline_secs = super::SHUTDOWN_DEADLINE.as_secs(),
            "Shutdown requested; draining (a second signal exits at once)."
        );
        token.cancel();
        if terminate().await.is_some() {
            warn!("Second signal: exiting without draining.");
            std::process::exit(1);
        }
    });
}

/// The next SIGINT or SIGTERM (`None`: the handlers could not be installed).
async fn terminate() -> Option<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (mut term, mut int) = (
            signal(SignalKind::terminate()).ok()?,
            signal(SignalKind::interrupt()).ok()?,
        );
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Some(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok()
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

/// Without model packages there is nothing to reload: log each SIGHUP and go on.
pub fn ignore_hangups(stop: CancellationToken) {
    let mut rx = hangups(stop.clone());
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
