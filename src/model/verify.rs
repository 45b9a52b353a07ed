//! Verifying a package in a child process, so that whatever a package does while it loads (an
//! allocation that aborts, memory growth, a model that runs for minutes) costs only the check.
//!
//! The agent runs its own binary (`/proc/self/exe`, which still works after the file was
//! replaced by an upgrade) as `forewarn model check-child PACKAGE`: the child reads the
//! package, checks the resource limits ([`super::limits`]), loads it into tract and runs every
//! golden vector, exactly as the agent would, and prints one verdict line (JSON, prefixed with
//! [`VERDICT_PREFIX`]) on stdout. Before `exec` the child gets, through `setrlimit`:
//!
//! - `RLIMIT_DATA` = [`CheckLimits::memory_bytes`] (default [`DEFAULT_MEMORY_BYTES`], 1 GiB):
//!   heap and anonymous mappings, so an allocation bomb fails in the child;
//! - `RLIMIT_CPU` = the timeout + 1 s: the kernel stops a spinning child even if the agent
//!   cannot;
//! - `RLIMIT_CORE` = 0: a deliberate abort leaves no core file;
//!
//! and its own process group. The agent waits at most [`CheckLimits::timeout`] (default
//! [`DEFAULT_TIMEOUT`], 60 s; `check_timeout_secs` of a `[[models]]` binding), then kills the
//! group. The [`Verdict`] says why a package was refused: its own error, a crash (signal), an
//! exit without a verdict, or the timeout.
//!
//! Under an emulator without binfmt_misc (qemu-user running an ARM build on x86), the agent's
//! binary cannot be exec'd directly: `FOREWARN_CHECK_WRAPPER` (a command line, e.g.
//! `qemu-aarch64 -L /usr/aarch64-linux-gnu`) is put in front of it.
//!
//! [`command`] and [`parse_verdict`] are plain functions (unit-tested); [`run_check`] spawns,
//! waits and kills (exercised by the integration tests, which have the binary).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Default memory limit of the check (`RLIMIT_DATA`).
pub const DEFAULT_MEMORY_BYTES: u64 = 1 << 30;
/// Default wall-clock limit of the check.
pub const DEFAULT_TIMEOUT: Duration = crate::config::DEFAULT_CHECK_TIMEOUT;
/// Longest `check_timeout_secs` a binding may set.
pub const MAX_TIMEOUT: Duration = crate::config::MAX_CHECK_TIMEOUT;
/// Marks the child's verdict line on stdout.
pub const VERDICT_PREFIX: &str = "forewarn-check ";
/// Most stdout read from the child.
const MAX_STDOUT: u64 = 64 << 10;
/// How often the parent looks at the child.
const POLL: Duration = Duration::from_millis(20);

/// Limits of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckLimits {
    pub memory_bytes: u64,
    pub timeout: Duration,
}

impl Default for CheckLimits {
    fn default() -> Self {
        CheckLimits {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// What the child prints: the package it verified, or why it refused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum ChildVerdict {
    Ok {
        name: String,
        version: String,
        sha256: String,
    },
    Refused {
        reason: String,
    },
}

impl ChildVerdict {
    /// The line the child prints.
    pub fn line(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"verdict":"refused","reason":"the verdict could not be encoded"}"#.into()
        });
        format!("{VERDICT_PREFIX}{json}")
    }
}

/// The outcome of a check, as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Verdict {
    #[error("verified in a child process ({name} {version})")]
    Ok {
        name: String,
        version: String,
        sha256: String,
    },
    #[error("{0}")]
    Refused(String),
    #[error("the check crashed with signal {signal} ({}) while loading the package (memory limit {memory_bytes} bytes)", signal_name(.signal))]
    Crashed { signal: i32, memory_bytes: u64 },
    #[error("the check exited with status {code} without a verdict")]
    NoVerdict { code: i32 },
    #[error("the check did not finish within {secs} s and was killed (loading or the golden vectors take too long)")]
    TimedOut { secs: u64 },
    #[error("the check could not run: {0}")]
    Unavailable(String),
    #[error("the check was stopped: the agent is shutting down")]
    Cancelled,
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok { .. })
    }
}

fn signal_name(sig: &i32) -> &'static str {
    match *sig {
        libc::SIGABRT => "SIGABRT: an allocation failed or the process aborted",
        libc::SIGKILL => "SIGKILL: killed, e.g. by the kernel's OOM killer",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGXCPU => "SIGXCPU: the CPU time limit",
        libc::SIGILL => "SIGILL",
        _ => "signal",
    }
}

/// The program and leading arguments that run this agent's binary: the wrapper from
/// `FOREWARN_CHECK_WRAPPER`, if set, then `/proc/self/exe` (or the path it was started as).
pub fn self_command(wrapper: Option<&str>) -> Vec<String> {
    let exe = if Path::new("/proc/self/exe").exists() && wrapper.is_none() {
        PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().unwrap_or_else(|_| PathBuf::from("forewarn"))
    };
    let mut argv: Vec<String> = wrapper
        .map(|w| w.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    argv.push(exe.display().to_string());
    argv
}

/// The command that checks `package`: `prefix` (see [`self_command`]) then
/// `model check-child PACKAGE`.
pub fn command(prefix: &[String], package: &Path) -> Option<Command> {
    let (program, args) = prefix.split_first()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .arg("model")
        .arg("check-child")
        .arg(package)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // The child's logs and panics go to the agent's stderr; it needs no other setting.
        .env_remove("FOREWARN_CHECK_WRAPPER");
    Some(cmd)
}

/// Reads the verdict from the child's exit status and stdout.
pub fn parse_verdict(status: ExitStatus, stdout: &[u8], memory_bytes: u64) -> Verdict {
    use std::os::unix::process::ExitStatusExt;
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(VERDICT_PREFIX));
    if let Some(sig) = status.signal() {
        return Verdict::Crashed {
            signal: sig,
            memory_bytes,
        };
    }
    match line.map(serde_json::from_str::<ChildVerdict>) {
        Some(Ok(ChildVerdict::Ok {
            name,
            version,
            sha256,
        })) if status.success() => Verdict::Ok {
            name,
            version,
            sha256,
        },
        Some(Ok(ChildVerdict::Refused { reason })) => Verdict::Refused(reason),
        _ => Verdict::NoVerdict {
            code: status.code().unwrap_or(-1),
        },
    }
}

/// Sets the limits in the child, between fork and exec: only async-signal-safe calls.
fn limit_child(cmd: &mut Command, limits: CheckLimits) {
    use std::os::unix::process::CommandExt;
    let memory = limits.memory_bytes as libc::rlim_t;
    let cpu = limits.timeout.as_secs().saturating_add(1) as libc::rlim_t;
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit,
    // setpgid and prctl, which are async-signal-safe; it touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            let set = |what, v: libc::rlim_t| {
                let r = libc::rlimit {
                    rlim_cur: v,
                    rlim_max: v,
                };
                if libc::setrlimit(what, &r) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            set(libc::RLIMIT_DATA, memory)?;
            set(libc::RLIMIT_CPU, cpu)?;
            set(libc::RLIMIT_CORE, 0)?;
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Die with the thread that waits for us (the agent's checker).
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            Ok(())
        });
    }
}

/// Checks `package` in a child process under `limits`; `stop` is polled while waiting and
/// cancels the check (the agent is shutting down).
pub fn run_check(package: &Path, limits: CheckLimits, stop: &dyn Fn() -> bool) -> Verdict {
    let wrapper = std::env::var("FOREWARN_CHECK_WRAPPER")
        .ok()
        .filter(|w| !w.trim().is_empty());
    let prefix = self_command(wrapper.as_deref());
    let Some(cmd) = command(&prefix, package) else {
        return Verdict::Unavailable("no program to run".into());
    };
    match run_limited(cmd, limits, stop) {
        Ok((status, stdout)) => parse_verdict(status, &stdout, limits.memory_bytes),
        Err(v) => v,
    }
}

/// Runs `cmd` under `limits` in its own process group; its exit status and stdout (at most
/// 64 KiB), or the verdict that ended it early (timeout, cancel, could not start).
fn run_limited(
    mut cmd: Command,
    limits: CheckLimits,
    stop: &dyn Fn() -> bool,
) -> Result<(ExitStatus, Vec<u8>), Verdict> {
    limit_child(&mut cmd, limits);
    let mut child = cmd
        .spawn()
        .map_err(|e| Verdict::Unavailable(format!("starting {:?}: {e}", cmd.get_program())))?;
    // The verdict is one short line; read stdout beside the wait so that a child writing
    // more than a pipe holds cannot block.
    let reader = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.take(MAX_STDOUT).read_to_end(&mut buf);
            buf
        })
    });
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + limits.timeout;
    let kill_group = || {
        // SAFETY: signals the child's own process group (set up in pre_exec), and the child
        // itself, which has no group yet if it is stuck before pre_exec ran (seen under
        // qemu-user: a fork that never reached exec, so a cancel or timeout killed nothing and
        // the wait never ended). The child is not reaped yet, so its pid (= the group id)
        // cannot have been reused.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGKILL);
        }
    };
    let status = loop {
        let early = match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if stop() => Some(Verdict::Cancelled),
            Ok(None) if Instant::now() >= deadline => Some(Verdict::TimedOut {
                secs: limits.timeout.as_secs(),
            }),
            Ok(None) => None,
            Err(e) => Some(Verdict::Unavailable(format!("waiting for the check: {e}"))),
        };
        if let Some(v) = early {
            kill_group();
            let _ = child.wait();
            return Err(v);
        }
        std::thread::sleep(POLL);
    };
    let stdout = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    Ok((status, stdout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn the_verdict_line_round_trips() {
        let ok = ChildVerdict::Ok {
            name: "level".into(),
            version: "1.0.0".into(),
            sha256: "ab".into(),
        };
        let out = format!("some noise\n{}\n", ok.line());
        assert_eq!(
            parse_verdict(exited(0), out.as_bytes(), 1),
            Verdict::Ok {
                name: "level".into(),
                version: "1.0.0".into(),
                sha256: "ab".into()
            }
        );
        let refused = ChildVerdict::Refused {
            reason: "golden vector 0 gave [1.0]\nsecond line \"quoted\"".into(),
        };
        assert_eq!(
            parse_verdict(exited(5), refused.line().as_bytes(), 1),
            Verdict::Refused("golden vector 0 gave [1.0]\nsecond line \"quoted\"".into())
        );
    }

    #[test]
    fn a_signal_is_a_crash_whatever_was_printed() {
        let ok = ChildVerdict::Ok {
            name: "m".into(),
            version: "1".into(),
            sha256: "x".into(),
        };
        let v = parse_verdict(ExitStatus::from_raw(libc::SIGABRT), ok.line().as_bytes(), 7);
        assert_eq!(
            v,
            Verdict::Crashed {
                signal: libc::SIGABRT,
                memory_bytes: 7
            }
        );
        assert!(v.to_string().contains("SIGABRT"), "{v}");
    }

    #[test]
    fn no_line_or_an_ok_with_a_failing_status_is_no_verdict() {
        assert_eq!(
            parse_verdict(exited(101), b"thread panicked", 1),
            Verdict::NoVerdict { code: 101 }
        );
        let ok = ChildVerdict::Ok {
            name: "m".into(),
            version: "1".into(),
            sha256: "x".into(),
        };
        assert_eq!(
            parse_verdict(exited(1), ok.line().as_bytes(), 1),
            Verdict::NoVerdict { code: 1 }
        );
        assert_eq!(
            parse_verdict(exited(0), b"forewarn-check {not json", 1),
            Verdict::NoVerdict { code: 0 }
        );
    }

    #[test]
    fn the_command_runs_the_hidden_subcommand_behind_a_wrapper() {
        let prefix = self_command(Some("qemu-aarch64 -L /usr/aarch64-linux-gnu"));
        assert_eq!(
            &prefix[..3],
            ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]
        );
        let cmd = command(&prefix, Path::new("/pkg/level")).unwrap();
        assert_eq!(cmd.get_program(), "qemu-aarch64");
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            &args[args.len() - 3..],
            ["model", "check-child", "/pkg/level"]
        );
        assert_eq!(self_command(None), ["/proc/self/exe"]);
        assert!(command(&[], Path::new("x")).is_none());
    }

    // The limits, the timeout and the kill on a real child: `sh` stands in for the agent's
    // binary, which the unit tests do not have (tests/it/model_packages.rs runs the real one).
    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).stdout(Stdio::piped());
        cmd
    }

    const LIMITS: CheckLimits = CheckLimits {
        memory_bytes: 64 << 20,
        timeout: Duration::from_secs(1),
    };

    #[test]
    fn the_child_runs_under_the_memory_and_core_limits() {
        let (status, out) =
            run_limited(sh("ulimit -d; ulimit -c; ulimit -t"), LIMITS, &|| false).unwrap();
        assert!(status.success());
        // ulimit reports KiB for -d, seconds for -t (timeout + 1).
        let out = String::from_utf8_lossy(&out);
        if std::env::var("FOREWARN_AGENT_WRAPPER").is_ok_and(|w| w.contains("qemu")) {
            // Under qemu-user (cross/test) the emulator keeps RLIMIT_DATA for itself and does
            // not apply the guest's setrlimit of it; a real ARM kernel does. Core and CPU apply.
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines.len(), 3, "{out}");
            assert_eq!(lines[1..], ["0", "2"], "{out}");
        } else {
            assert_eq!(out, "65536\n0\n2\n");
        }
    }

    #[test]
    fn a_timeout_kills_the_child_and_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let t = Instant::now();
        let v = run_limited(sh(&script), LIMITS, &|| false).unwrap_err();
        assert_eq!(v, Verdict::TimedOut { secs: 1 });
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            // A zombie waiting for init to reap it counts as gone.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.split_whitespace().nth(2) == Some("Z"))
        });
        assert!(gone, "the grandchild {pid} survived the kill");
    }

    #[test]
    fn a_child_killed_by_a_signal_is_a_crash() {
        // What an allocation failure does to the child: abort, SIGABRT.
        let (status, out) = run_limited(sh("kill -ABRT $$"), LIMITS, &|| false).unwrap();
        let v = parse_verdict(status, &out, LIMITS.memory_bytes);
        assert_eq!(
            v,
            Verdict::Crashed {
                signal: libc::SIGABRT,
                memory_bytes: 64 << 20
            }
        );
        assert!(!is_transient_for_tests(&v));
    }

    fn is_transient_for_tests(v: &Verdict) -> bool {
        crate::model::stage::reload::is_transient(v)
    }

    #[test]
    fn stop_cancels_a_running_check() {
        let t = Instant::now();
        let v = run_limited(sh("sleep 30"), LIMITS, &|| {
            t.elapsed() > Duration::from_millis(100)
        })
        .unwrap_err();
        assert_eq!(v, Verdict::Cancelled);
        let v = run_limited(Command::new("/nonexistent/forewarn"), LIMITS, &|| false).unwrap_err();
        assert!(matches!(v, Verdict::Unavailable(_)), "{v}");
    }
}
