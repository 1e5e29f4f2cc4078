//! Defines how a script runs: its statements, split by the shared lexer, one after
//! another in the session's keyspace, each with the per-statement timeout, with a
//! guard asked before every statement whether the run may go on; and the history row
//! that records the outcome.

use std::time::{Duration, Instant};

use crate::cql::split;
use crate::db::{Db, DbError};
use crate::history::state::{status, HistoryRow};
use crate::run::RunInfo;
use crate::scripts::Script;

/// Why a script stopped between two statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// The run was interrupted (SIGINT, SIGTERM, SIGHUP).
    Interrupted,
    /// The lease on the deploy lock ended (the reason).
    LeaseLost(String),
}

/// Where and why a statement failed.
#[derive(Debug)]
pub struct StatementFailure {
    /// 1-based index of the failed statement.
    pub statement: usize,
    /// Number of statements in the script.
    pub total: usize,
    /// Line of the failed statement.
    pub line: u32,
    /// What went wrong.
    pub error: DbError,
}

/// How a script did not complete.
#[derive(Debug)]
pub enum ScriptFailure {
    /// A statement failed.
    Failed(StatementFailure),
    /// The guard stopped it before statement `done + 1` of `total`.
    Cut {
        /// Why.
        cut: Cut,
        /// Statements that ran.
        done: usize,
        /// Statements in the script.
        total: usize,
    },
}

impl StatementFailure {
    /// One line for people: which statement, and how many before it were applied.
    pub fn describe(&self, script: &Script) -> String {
        let applied = self.statement - 1;
        let partial = if applied == 0 {
            "no statement of it was applied".to_string()
        } else {
            format!("{applied} earlier statement(s) of it were applied: check them before retrying")
        };
        format!(
            "{} failed at statement {} of {} (line {}): {}; {partial}",
            script.relative_path, self.statement, self.total, self.line, self.error
        )
    }
}

/// Runs every statement of `script`, asking `guard` before each one; returns the
/// elapsed time either way.
pub async fn run_script(
    db: &Db,
    script: &Script,
    timeout: Option<Duration>,
    guard: impl Fn() -> Option<Cut>,
) -> (Duration, Result<(), ScriptFailure>) {
    let start = Instant::now();
    let (statements, lex_error) = split(&script.content);
    let total = statements.len();
    if let Some(e) = lex_error {
        let failure = StatementFailure {
            statement: 1,
            total,
            line: e.pos().line,
            error: DbError::Statement {
                what: format!("splitting {}", script.relative_path),
                reason: format!("{e} at {}", e.pos()),
            },
        };
        return (start.elapsed(), Err(ScriptFailure::Failed(failure)));
    }
    for (i, st) in statements.iter().enumerate() {
        if let Some(cut) = guard() {
            return (
                start.elapsed(),
                Err(ScriptFailure::Cut {
                    cut,
                    done: i,
                    total,
                }),
            );
        }
        let what = format!(
            "{} statement {} (line {})",
            script.filename,
            i + 1,
            st.pos.line
        );
        tracing::debug!("executing {what}");
        if let Err(error) = db
            .run_script_statement(&what, st.text, st.is_idempotent(), timeout)
            .await
        {
            let failure = StatementFailure {
                statement: i + 1,
                total,
                line: st.pos.line,
                error,
            };
            return (start.elapsed(), Err(ScriptFailure::Failed(failure)));
        }
    }
    (start.elapsed(), Ok(()))
}

/// The history row for one script outcome, in the original's format (stamped when
/// it is recorded).
pub fn outcome_row(
    script: &Script,
    keyspace: &str,
    run: &RunInfo,
    ok: bool,
    elapsed: Duration,
) -> HistoryRow {
    HistoryRow {
        installed_on: 0,
        script: script.filename.as_str().into(),
        script_type: Some(script.kind.as_str().into()),
        version: script.version.as_ref().map(|v| v.to_string().into()),
        description: Some(script.description.as_str().into()),
        checksum: Some(script.checksum.as_str().into()),
        execution_time: Some(i32::try_from(elapsed.as_millis()).unwrap_or(i32::MAX)),
        status: Some(if ok { status::SUCCESS } else { status::FAILED }.into()),
        installed_by: Some(run.operator.as_str().into()),
        keyspace_name: Some(keyspace.into()),
        tag: Some(run.tag.as_str().into()),
        run_id: Some(run.run_id.as_str().into()),
    }
}
