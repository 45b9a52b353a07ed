//! The exit codes of every command, in one place (README, "Exit codes").

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done; for `check-config` and `verify`: no problem found.
    Ok,
    /// 1: a runtime failure (the outbox cannot be opened, the runtime cannot start, an I/O
    /// error while reading an outbox; `run` stopping itself because the outbox could not
    /// commit on any retry).
    Failed,
    /// 2: bad command-line arguments (clap prints the usage).
    Usage,
    /// 3: the provisioning file has problems (`run`, `check-config`).
    InvalidConfig,
    /// 4: `outbox verify` found problems.
    OutboxProblems,
    /// 5: a model package was refused (`model inspect|verify|bench|check-child`).
    PackageRefused,
}

impl Exit {
    pub const ALL: [Exit; 6] = [
        Exit::Ok,
        Exit::Failed,
        Exit::Usage,
        Exit::InvalidConfig,
        Exit::OutboxProblems,
        Exit::PackageRefused,
    ];

    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::InvalidConfig => 3,
            Exit::OutboxProblems => 4,
            Exit::PackageRefused => 5,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_usage_is_clap_s() {
        let mut codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 5]);
        // clap exits with 2 on a usage error; Exit::Usage names that code.
        let err = <super::super::Cli as clap::Parser>::try_parse_from(["forewarn", "nope"])
            .err()
            .map(|e| e.exit_code());
        assert_eq!(err, Some(i32::from(Exit::Usage.code())));
    }
}
