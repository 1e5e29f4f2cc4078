//! Defines the one exit-status type of the `cassachange` binary.
//!
//! Every command returns one of these; the README's "Exit codes" table and `--help`
//! describe the same list, so scripts in CI can rely on the numbers.

use std::process::ExitCode;

/// How a `cassachange` run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `0`: the command did what was asked.
    Success,
    /// `1`: the command ran but its outcome is a failure: a script failed, validation
    /// found errors, a rollback could not complete, checksum drift under `checksum_drift: error`,
    /// `deploy --plan` with a plan that is no longer what would run, schema drift under
    /// `schema_drift: error`, `drift` found drift.
    Failure,
    /// `2`: nothing was attempted because of a usage, configuration, connection or
    /// environment error (bad flag, unreadable config, unknown profile, missing keyspace,
    /// unreachable cluster, rejected plugin); `drift` could not tell.
    Error,
    /// `3`: the deploy lock is held by another run; nothing was changed. Safe to retry.
    LockHeld,
    /// `70`: an internal error (a bug in cassachange); the message says how to report it.
    Internal,
    /// `130`: interrupted (SIGINT, SIGTERM, SIGHUP, or stdout closed during deploy, rollback
    /// or repair); the run stopped between statements, recorded what it did, and released
    /// its lock.
    Interrupted,
}

impl ExitStatus {
    /// The numeric code handed to the operating system.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
            ExitStatus::LockHeld => 3,
            ExitStatus::Internal => 70,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}
