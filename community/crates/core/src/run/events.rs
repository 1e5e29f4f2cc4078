//! Defines what a run tells the world: one event type that every sink reads — the
//! text lines, the JSON report, the audit log, the notifications — so deploy, rollback
//! and repair cannot tell them different stories.

use std::time::Duration;

use super::error::RunError;
use super::Action;
use crate::history::lock::LockInfo;
use crate::plan::Reason;
use crate::scripts::Script;

/// Scripts run, skipped and failed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Scripts that ran.
    pub run: usize,
    /// Scripts skipped.
    pub skipped: usize,
    /// Scripts that failed (or stopped their keyspace).
    pub failed: usize,
}

/// Where a script stands among those the run executes: `[n/total]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Its place, from 1.
    pub n: usize,
    /// How many the run executes (0: not known).
    pub total: usize,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.total == 0 {
            write!(f, "[{}]", self.n)
        } else {
            write!(f, "[{}/{}]", self.n, self.total)
        }
    }
}

/// What became of the lock when the run let it go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The run took no lock (a deploy with nothing to run).
    NotTaken,
    /// Deleted: it was ours.
    Released,
    /// It was no longer ours (expired, taken over or force-released).
    NotOurs,
    /// Deleting it failed after retries (the reason).
    Failed(String),
}

/// Something that happened in a run, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunEvent<'e> {
    /// Another run holds the lock; this one waits up to `wait`.
    LockWaiting {
        /// The holder.
        holder: &'e LockInfo,
        /// How long the run waits at most.
        wait: Duration,
    },
    /// The lock was taken.
    LockAcquired {
        /// `hostname:run_id_prefix`.
        identity: &'e str,
    },
    /// The run started (after the lock, when it takes one).
    Started,
    /// History was read, and its newest row is dated this far ahead of this machine's
    /// clock: the run's rows are dated after it.
    ClockAhead {
        /// The newest row's time (ms).
        newest: i64,
        /// How far ahead (ms).
        by_ms: i64,
    },
    /// The run turns to a keyspace.
    Keyspace {
        /// The keyspace.
        keyspace: &'e str,
        /// How many keyspaces the run works on.
        of: usize,
        /// How many steps it has in this one.
        steps: usize,
    },
    /// A script is skipped.
    Skipped {
        /// The keyspace.
        keyspace: &'e str,
        /// The script.
        script: &'e Script,
        /// Why.
        reason: &'e Reason,
    },
    /// The keyspace stops at a script a run left unfinished; nothing of it runs.
    Blocked {
        /// The keyspace.
        keyspace: &'e str,
        /// The script.
        script: &'e Script,
        /// Why (the reason's words).
        why: &'e str,
    },
    /// A script ran and its outcome is recorded.
    Ran {
        /// The keyspace.
        keyspace: &'e str,
        /// What ran.
        action: Action<'e>,
        /// How long it took.
        elapsed: Duration,
        /// Why it ran (the plan's words).
        note: &'e str,
        /// Its place.
        position: Position,
    },
    /// A statement of a script failed (said before the failure is recorded).
    ScriptFailed {
        /// The keyspace.
        keyspace: &'e str,
        /// The script.
        script: &'e Script,
        /// How long it ran.
        elapsed: Duration,
        /// Its place.
        position: Position,
        /// What failed, for people.
        message: &'e str,
        /// What to do, one line each.
        hints: &'e [String],
    },
    /// A failed or cut script was recorded FAILED (and, when a statement not safe to
    /// repeat had run, left blocked until `repair --script`).
    FailureRecorded {
        /// The keyspace.
        keyspace: &'e str,
        /// The script.
        script: &'e Script,
        /// The error, or `interrupted`.
        detail: &'e str,
        /// How long it ran.
        elapsed: Duration,
        /// The run was stopped in it (a signal, a closed stdout), rather than a
        /// statement failing.
        cut: bool,
    },
    /// A script was marked for retry (`repair`).
    Repaired {
        /// The keyspace.
        keyspace: &'e str,
        /// The script's file name.
        script: &'e str,
    },
    /// The run is done with a keyspace.
    KeyspaceDone {
        /// The keyspace.
        keyspace: &'e str,
        /// Scripts that ran.
        ran: usize,
        /// Scripts skipped.
        skipped: usize,
        /// Scripts that failed or blocked it.
        errors: usize,
        /// The run stopped while in it.
        stopped: bool,
    },
    /// The run ends: `result` is how (before the lock is released).
    Finishing {
        /// Why it stopped, when it did.
        result: Result<(), &'e RunError>,
        /// Scripts that failed.
        errors: usize,
    },
    /// The lock was let go.
    LockReleased(&'e Release),
    /// Everything is written; the run's outcome.
    Finished {
        /// Why it stopped, when it did.
        result: Result<(), &'e RunError>,
        /// Scripts that failed.
        errors: usize,
        /// What became of the lock.
        lock: &'e Release,
    },
}

/// A sink of run events. An error (an audit write that failed) stops the run before
/// its next step; the run still releases its lock.
pub trait RunObserver {
    /// Takes one event; `counts` are the run's counts after it.
    fn event(&mut self, event: &RunEvent<'_>, counts: Counts) -> Result<(), RunError>;

    /// Makes sure everything taken so far is written (the audit log): called before
    /// each script runs and at the end, so no step runs after a failed audit write.
    fn flush(&mut self) -> Result<(), RunError> {
        Ok(())
    }
}

/// An observer that keeps the events' names, for tests.
#[derive(Debug, Default)]
pub struct Recording {
    /// One line per event.
    pub lines: Vec<String>,
}

impl RunObserver for Recording {
    fn event(&mut self, event: &RunEvent<'_>, _counts: Counts) -> Result<(), RunError> {
        let line = match event {
            RunEvent::LockWaiting { holder, .. } => format!("waiting {}", holder.run_id),
            RunEvent::LockAcquired { .. } => "lock".into(),
            RunEvent::Started => "started".into(),
            RunEvent::ClockAhead { .. } => "clock ahead".into(),
            RunEvent::Keyspace { keyspace, .. } => format!("keyspace {keyspace}"),
            RunEvent::Skipped { script, .. } => format!("skip {}", script.filename),
            RunEvent::Blocked { script, .. } => format!("blocked {}", script.filename),
            RunEvent::Ran { action, .. } => format!("ran {}", action.script().filename),
            RunEvent::ScriptFailed { script, .. } => format!("failed {}", script.filename),
            RunEvent::FailureRecorded { script, detail, .. } => {
                format!("recorded {} {detail}", script.filename)
            }
            RunEvent::Repaired { script, .. } => format!("repaired {script}"),
            RunEvent::KeyspaceDone { keyspace, .. } => format!("done {keyspace}"),
            RunEvent::Finishing { .. } => "finishing".into(),
            RunEvent::LockReleased(r) => format!("release {r:?}"),
            RunEvent::Finished { .. } => "finished".into(),
        };
        self.lines.push(line);
        Ok(())
    }
}
