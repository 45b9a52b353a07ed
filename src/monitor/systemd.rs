//! The systemd notification protocol (`sd_notify`), so the unit can be `Type=notify` with a
//! `WatchdogSec=`: `READY=1` once the pipeline runs, `WATCHDOG=1` while it keeps moving,
//! `STATUS=` with a one-line summary for `systemctl status`, `STOPPING=1` at shutdown.
//!
//! The `sd-notify` crate says the protocol: the assignments ([`NotifyState`]) and the reading of
//! `$WATCHDOG_USEC`/`$WATCHDOG_PID` ([`sd_notify::watchdog_enabled`]). The datagram goes out
//! through this module's own socket rather than `sd_notify::notify`, which reads
//! `$NOTIFY_SOCKET` at every call, sends on a blocking socket, and takes `@name` (Linux's
//! abstract namespace) for a file name: one datagram per message to the Unix socket named by
//! `$NOTIFY_SOCKET` (a path, or `@name`). Without `$NOTIFY_SOCKET` (not started by systemd, or
//! `Type=simple`) every call does nothing.
//!
//! Invariants:
//! - Notifying never stops or slows the agent: a failed send is ignored, logged at DEBUG the
//!   first time only, and the socket is non-blocking.
//! - The watchdog is not a free-running timer. [`watchdog`] pings only while no stage of the
//!   pipeline is stalled ([`super::progress`]: processing, models, outbox writer, forwarder;
//!   a stage is stalled when it had work at two checks and made no progress between them),
//!   and it runs on the tokio runtime. A blocked runtime, a model that never returns, or a
//!   writer stuck in a commit while records wait (a dead eMMC, a hung fsync) stops the pings,
//!   the status names the stalled stage, and systemd restarts the agent. Records wait at least
//!   every `heartbeat_secs` (the status record), so a stuck writer is noticed within
//!   `heartbeat_secs + WatchdogSec`.
//! - The notifier is built from explicit values ([`Notifier::new`]); only
//!   [`Notifier::from_env`] reads the environment, so tests never touch it.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::progress::{Stage, StallGate, CHECK_INTERVAL};
use super::Metrics;

use crate::record::Status;

/// Where the notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Path(PathBuf),
    /// Linux abstract namespace (`@name` in `$NOTIFY_SOCKET`; the name without the `@`).
    Abstract(Vec<u8>),
}

/// Sends `sd_notify` messages to systemd; a no-op when the agent was not started by it.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, Target)>,
    watchdog: Option<Duration>,
    send_failed: AtomicBool,
}

impl Notifier {
    /// A notifier that does nothing (no `$NOTIFY_SOCKET`).
    pub fn disabled() -> Self {
        Notifier {
            socket: None,
            watchdog: None,
            send_failed: AtomicBool::new(false),
        }
    }

    /// From the variables systemd sets: `NOTIFY_SOCKET`, and `WATCHDOG_USEC` with
    /// `WATCHDOG_PID` through [`sd_notify::watchdog_enabled`] (which drops another process's
    /// watchdog).
    pub fn from_env() -> Self {
        Self::new(
            std::env::var("NOTIFY_SOCKET").ok().as_deref(),
            sd_notify::watchdog_enabled(),
        )
    }

    /// From explicit values: `notify_socket` as in `$NOTIFY_SOCKET`, `watchdog` as systemd
    /// gave it to this process (`$WATCHDOG_USEC`, when `$WATCHDOG_PID` is absent or this
    /// process). The watchdog is on only when it is longer than zero and notifications go
    /// somewhere.
    pub fn new(notify_socket: Option<&str>, watchdog: Option<Duration>) -> Self {
        let target = match notify_socket {
            Some(s) if s.len() > 1 && s.starts_with('@') => {
                Some(Target::Abstract(s.as_bytes()[1..].to_vec()))
            }
            Some(s) if s.starts_with('/') => Some(Target::Path(PathBuf::from(s))),
            // Empty, relative or `vsock:` addresses: not something systemd gives a service.
            _ => None,
        };
        let socket = target.and_then(|t| match UnixDatagram::unbound() {
            Ok(sock) => {
                // A full socket buffer (systemd busy) must not block a caller on the runtime.
                let _ = sock.set_nonblocking(true);
                Some((sock, t))
            }
            Err(e) => {
                debug!(error = %e, "Cannot create the systemd notification socket.");
                None
            }
        });
        let watchdog = watchdog.filter(|w| !w.is_zero() && socket.is_some());
        Notifier {
            socket,
            watchdog,
            send_failed: AtomicBool::new(false),
        }
    }

    /// Whether notifications go anywhere.
    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// How often to ping the watchdog: half of `WatchdogSec`, as `sd_watchdog_enabled(3)`
    /// advises. `None` when the unit has no watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// The pipeline runs: `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(&one_line(status))]);
    }

    /// A new status line for `systemctl status`.
    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(&one_line(status))]);
    }

    /// The pipeline is alive.
    pub fn watchdog_ping(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// Shutdown began (the drain follows).
    pub fn stopping(&self, status: &str) {
        self.send(&[
            NotifyState::Stopping,
            NotifyState::Status(&one_line(status)),
        ]);
    }

    /// One datagram: the assignments, one a line (`READY=1\nSTATUS=...`).
    fn send(&self, states: &[NotifyState]) {
        let Some((sock, target)) = &self.socket else {
            return;
        };
        let msg = states
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        let sent = match target {
            Target::Path(p) => sock.send_to(msg.as_bytes(), p),
            Target::Abstract(name) => send_abstract(sock, name, msg.as_bytes()),
        };
        if let Err(e) = sent {
            if !self.send_failed.swap(true, Ordering::Relaxed) {
                debug!(error = %e, "Cannot notify systemd; further failures are not logged.");
            }
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(sock: &UnixDatagram, name: &[u8], msg: &[u8]) -> std::io::Result<usize> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sock.send_to_addr(msg, &addr)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &[u8]) -> std::io::Result<usize> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract socket addresses exist only on Linux",
    ))
}

/// A `STATUS=` value must be one line: the protocol separates assignments by newlines.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// The status heartbeat as one line for `systemctl status`.
pub fn status_line(s: &Status) -> String {
    let connected = s.sources.values().filter(|x| x.connected).count();
    let backlog: u64 = s.outbox.values().map(|c| c.depth).sum();
    let evicted: u64 = s.outbox.values().map(|c| c.evicted).sum();
    let mut line = format!(
        "{connected}/{} sources connected, outbox backlog {backlog}, delivered {}",
        s.sources.len(),
        s.delivered
    );
    if evicted > 0 {
        line.push_str(&format!(", evicted {evicted}"));
    }
    if s.outbox_write_lost > 0 {
        line.push_str(&format!(
            ", lost to outbox write failures {}",
            s.outbox_write_lost
        ));
    }
    if !s.stalled.is_empty() {
        line.push_str(&format!(", stalled: {}", s.stalled.join(" ")));
    }
    if !s.clock_ok {
        line.push_str(", clock before the release date");
    }
    if let Some(e) = &s.last_delivery_error {
        line.push_str(&format!(", last delivery error: {e}"));
    }
    line
}

/// Checks every stage's progress ([`super::progress`]) every [`Notifier::watchdog_interval`]
/// (or [`CHECK_INTERVAL`] without a watchdog), publishes the stalled stages for the status,
/// and pings the watchdog only while none is stalled. `work` says which stages have input
/// waiting, in [`Stage::ALL`] order. Ends at `stop`.
pub async fn watchdog(
    notifier: Arc<Notifier>,
    metrics: Arc<Metrics>,
    work: impl Fn() -> [bool; Stage::ALL.len()],
    stop: CancellationToken,
) {
    let every = notifier.watchdog_interval().unwrap_or(CHECK_INTERVAL);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gate = StallGate::default();
    let mut was_stalled = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let stalled = gate.check(metrics.progress.beats(), work());
        metrics.progress.set_stalled(&stalled);
        if stalled.is_empty() {
            if was_stalled {
                warn!("The pipeline moves again.");
            }
            notifier.watchdog_ping();
        } else {
            let names: Vec<_> = stalled.iter().map(|s| s.name()).collect();
            warn!(stalled = ?names, "Stages with work made no progress; no watchdog ping.");
        }
        was_stalled = !stalled.is_empty();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(dir: &tempfile::TempDir) -> (UnixDatagram, String) {
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (sock, path.to_str().unwrap().to_string())
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn pending_messages(sock: &UnixDatagram) -> Vec<String> {
        sock.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn ready_status_and_stopping_reach_the_socket_as_systemd_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, path) = listener(&dir);
        let n = Notifier::new(Some(&path), None);
        assert!(n.enabled());
        n.ready("running\n3 sources");
        assert_eq!(recv(&sock), "READY=1\nSTATUS=running 3 sources");
        n.status("2/3 sources connected");
        assert_eq!(recv(&sock), "STATUS=2/3 sources connected");
        n.watchdog_ping();
        assert_eq!(recv(&sock), "WATCHDOG=1");
        n.stopping("draining");
        assert_eq!(recv(&sock), "STOPPING=1\nSTATUS=draining");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_abstract_socket_address_starting_with_at_is_used() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!(
            "forewarn-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        );
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier::new(Some(&format!("@{name}")), None);
        n.ready("up");
        assert_eq!(recv(&sock), "READY=1\nSTATUS=up");
    }

    #[test]
    fn without_notify_socket_nothing_is_sent_and_there_is_no_watchdog() {
        let n = Notifier::new(None, Some(Duration::from_secs(30)));
        assert!(!n.enabled());
        assert_eq!(n.watchdog_interval(), None);
        n.ready("up");
        n.watchdog_ping();
        n.stopping("down");
        assert!(!Notifier::new(Some(""), None).enabled());
        assert!(!Notifier::new(Some("relative.sock"), None).enabled());
    }

    #[test]
    fn the_watchdog_pings_at_half_of_watchdog_sec() {
        let dir = tempfile::tempdir().unwrap();
        let (_sock, path) = listener(&dir);
        let every = |w| Notifier::new(Some(&path), w).watchdog_interval();
        assert_eq!(
            every(Some(Duration::from_secs(30))),
            Some(Duration::from_secs(15))
        );
        assert_eq!(every(Some(Duration::ZERO)), None);
        assert_eq!(every(None), None);
    }

    /// Not a test of its own: what [`Notifier::from_env`] makes of the environment, printed
    /// for [`the_environment_systemd_sets_is_read_only_for_this_pid`], which runs it in a child
    /// process (tests never set their own process's environment).
    #[test]
    #[ignore = "run by the_environment_systemd_sets_is_read_only_for_this_pid"]
    fn print_the_notifier_from_env() {
        let n = Notifier::from_env();
        println!(
            "FROM_ENV enabled={} watchdog={:?}",
            n.enabled(),
            n.watchdog_interval()
        );
    }

    #[test]
    fn the_environment_systemd_sets_is_read_only_for_this_pid() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("notify.sock");
        let from_env = |assignments: &str| {
            // `exec` keeps the shell's pid, so `$$` is the child's own. Under qemu-user
            // (cross/test sets FOREWARN_AGENT_WRAPPER) the ARM test binary runs through the
            // emulator, which keeps the pid too.
            let wrapper = std::env::var("FOREWARN_AGENT_WRAPPER")
                .ok()
                .filter(|w| w.contains("qemu"))
                .unwrap_or_default();
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "{assignments} exec {wrapper} \"$0\" --exact \
                     monitor::systemd::tests::print_the_notifier_from_env --ignored --nocapture"
                ))
                .arg(std::env::current_exe().unwrap())
                .env_remove("NOTIFY_SOCKET")
                .env_remove("WATCHDOG_USEC")
                .env_remove("WATCHDOG_PID")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            stdout
                .lines()
                .find_map(|l| l.strip_prefix("FROM_ENV ").map(str::to_string))
                .unwrap_or_else(|| panic!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
        };
        let sock = socket.display();
        assert_eq!(
            from_env(&format!("NOTIFY_SOCKET={sock} WATCHDOG_USEC=30000000")),
            "enabled=true watchdog=Some(15s)"
        );
        assert_eq!(
            from_env(&format!(
                "NOTIFY_SOCKET={sock} WATCHDOG_USEC=30000000 WATCHDOG_PID=$$"
            )),
            "enabled=true watchdog=Some(15s)"
        );
        assert_eq!(
            from_env(&format!(
                "NOTIFY_SOCKET={sock} WATCHDOG_USEC=30000000 WATCHDOG_PID=$(($$ + 1))"
            )),
            "enabled=true watchdog=None",
            "another pid's watchdog"
        );
        assert_eq!(
            from_env(&format!("NOTIFY_SOCKET={sock} WATCHDOG_USEC=0")),
            "enabled=true watchdog=None"
        );
        assert_eq!(
            from_env(&format!("NOTIFY_SOCKET={sock} WATCHDOG_USEC=soon")),
            "enabled=true watchdog=None"
        );
        assert_eq!(
            from_env("WATCHDOG_USEC=30000000"),
            "enabled=false watchdog=None"
        );
    }

    #[test]
    fn a_failed_send_is_ignored_and_later_sends_still_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.sock");
        let n = Notifier::new(Some(path.to_str().unwrap()), None);
        n.ready("nobody listens yet");
        n.status("still nobody");
        assert!(n.send_failed.load(Ordering::Relaxed));
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        n.status("listening now");
        assert_eq!(recv(&sock), "STATUS=listening now");
    }

    #[tokio::test]
    async fn a_stalled_stage_stops_the_pings_and_a_moving_one_gets_them() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, path) = listener(&dir);
        // WatchdogSec=40ms: a check every 20 ms. Records always wait for the writer here.
        let n = Arc::new(Notifier::new(Some(&path), Some(Duration::from_millis(40))));
        let metrics = Arc::new(Metrics::new(&[]));
        let stop = CancellationToken::new();
        let work = || [false, false, true, false];
        let task = tokio::spawn(watchdog(n, metrics.clone(), work, stop.clone()));
        // Moving: the writer finishes a group every 5 ms.
        for _ in 0..30 {
            metrics.progress.beat(Stage::Writer);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let moving = pending_messages(&sock);
        assert!(
            moving.len() >= 3 && moving.iter().all(|m| m == "WATCHDOG=1"),
            "{moving:?}"
        );
        assert!(metrics.progress.stalled().is_empty());
        // Stuck: no group finishes. The first check may still see the last group.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = pending_messages(&sock);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(pending_messages(&sock), Vec::<String>::new());
        assert_eq!(metrics.progress.stalled(), vec!["outbox_writer"]);
        stop.cancel();
        task.await.unwrap();
    }

    #[test]
    fn the_status_line_sums_up_sources_backlog_and_trouble() {
        let s: Status = serde_json::from_value(serde_json::json!({
            "schema": "forewarn.status.v1", "gateway": "gw", "site": "s", "version": "0",
            "ts_ns": 0, "uptime_secs": 1.0,
            "sources": {
                "rs485": {"connected": true, "received": 1, "samples": 1, "rejected": {}, "reconnects": 0},
                "plc": {"connected": false, "received": 0, "samples": 0, "rejected": {}, "reconnects": 3}
            },
            "outbox": {
                "alert": {"depth": 2, "bytes": 10, "evicted": 0},
                "telemetry": {"depth": 40, "bytes": 900, "evicted": 7}
            },
            "outbox_budget_bytes": 1000, "pipeline_drops": {}, "delivered": 12,
            "delivery_errors": 1, "last_delivery_error": "broker down"
        }))
        .unwrap();
        assert_eq!(
            status_line(&s),
            "1/2 sources connected, outbox backlog 42, delivered 12, evicted 7, \
             last delivery error: broker down"
        );
    }

    #[tokio::test]
    async fn without_a_watchdog_stalls_are_still_named_for_the_status() {
        let n = Arc::new(Notifier::disabled());
        let metrics = Arc::new(Metrics::new(&[]));
        let stop = CancellationToken::new();
        let task = tokio::spawn(watchdog(
            n,
            metrics.clone(),
            || [false, true, false, false],
            stop.clone(),
        ));
        // Checks at 0 and CHECK_INTERVAL: the second one names the stage.
        tokio::time::sleep(CHECK_INTERVAL + Duration::from_millis(500)).await;
        assert_eq!(metrics.progress.stalled(), vec!["models"]);
        stop.cancel();
        task.await.unwrap();
    }
}
