//! Defines how a script runs: its statements, split by the shared lexer, one after
//! another in the session's keyspace, each with the per-statement timeout; and the
//! history row that records the outcome.

use std::time::{Duration, Instant};

use crate::cql::split;
use crate::db::{Db, DbError};
use crate::history::state::{status, HistoryRow};
use crate::scripts::Script;

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks the run as interrupted (first Ctrl-C or SIGTERM): scripts stop between
/// statements, and no further script starts.
pub fn interrupt() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// True once the run was interrupted.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Where and why a script failed.
#[derive(Debug)]
pub struct ScriptFailure {
    /// 1-based index of the failed statement.
    pub statement: usize,
    /// Number of statements in the script.
    pub total: usize,
    /// Line of the failed statement.
    pub line: u32,
    /// What went wrong.
    pub error: DbError,
}

impl ScriptFailure {
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

/// Runs every statement of `script`; returns the elapsed time either way.
pub async fn run_script(
    db: &Db,
    script: &Script,
    timeout: Option<Duration>,
) -> (Duration, Result<(), ScriptFailure>) {
    let start = Instant::now();
    let (statements, lex_error) = split(&script.content);
    let total = statements.len();
    if let Some(e) = lex_error {
        let failure = ScriptFailure {
            statement: 1,
            total,
            line: e.pos().line,
            error: DbError::Statement {
                what: format!("splitting {}", script.relative_path),
                reason: format!("{e} at {}", e.pos()),
            },
        };
        return (start.elapsed(), Err(failure));
    }
    for (i, st) in statements.iter().enumerate() {
        let what = format!(
            "{} statement {} (line {})",
            script.filename,
            i + 1,
            st.pos.line
        );
        tracing::debug!("executing {what}");
        let result = if interrupted() {
            Err(DbError::Interrupted { what: what.clone() })
        } else {
            db.run_script_statement(&what, st.text, timeout).await
        };
        if let Err(error) = result {
            let failure = ScriptFailure {
                statement: i + 1,
                total,
                line: st.pos.line,
                error,
            };
            return (start.elapsed(), Err(failure));
        }
    }
    (start.elapsed(), Ok(()))
}

/// The fields of a run that every row it writes shares.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Run id.
    pub run_id: String,
    /// `installed_by`.
    pub operator: String,
    /// Release tag, or empty.
    pub tag: String,
}

/// The history row for one script outcome, in the original's format.
pub fn outcome_row(
    script: &Script,
    keyspace: &str,
    run: &RunInfo,
    ok: bool,
    elapsed: Duration,
) -> HistoryRow {
    HistoryRow {
        installed_on: 0,
        script: script.filename.clone(),
        script_type: Some(script.kind.as_str().into()),
        version: script.version.as_ref().map(ToString::to_string),
        description: Some(script.description.clone()),
        checksum: Some(script.checksum.clone()),
        execution_time: Some(i32::try_from(elapsed.as_millis()).unwrap_or(i32::MAX)),
        status: Some(if ok { status::SUCCESS } else { status::FAILED }.into()),
        installed_by: Some(run.operator.clone()),
        keyspace_name: Some(keyspace.to_string()),
        tag: Some(run.tag.clone()),
        run_id: Some(run.run_id.clone()),
    }
}
