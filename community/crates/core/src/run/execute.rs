//! Defines how a script runs: its statements, split by the shared lexer, one after
//! another in the session's keyspace, each with the per-statement timeout, with a
//! guard asked before every statement whether the run may go on.

use std::time::{Duration, Instant};

use cassachange_cql::Statement;

use super::Session;
use crate::error::DbError;
use crate::scripts::Script;

/// Why a script stopped between two statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// A stop was requested (a signal, a closed stdout): the reason.
    Stopped(String),
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

impl ScriptFailure {
    /// How many statements certainly ran, and whether the next one may have run too
    /// (it failed with an unknown outcome).
    pub fn progress(&self) -> (usize, bool) {
        match self {
            ScriptFailure::Failed(f) => (f.statement - 1, f.error.may_have_applied()),
            ScriptFailure::Cut { done, .. } => (*done, false),
        }
    }
}

impl StatementFailure {
    /// One line for people: which statement, and how many before it were applied.
    pub fn describe(&self, script: &Script) -> String {
        let applied = self.statement - 1;
        let partial = if applied == 0 && !self.error.may_have_applied() {
            "no statement of it was applied".to_string()
        } else if applied == 0 {
            "it may have been applied".to_string()
        } else {
            format!("{applied} earlier statement(s) of it were applied: check them before retrying")
        };
        format!(
            "{} failed at statement {} of {} (line {}): {}; {partial}",
            script.relative_path,
            self.statement,
            self.total,
            self.line,
            self.error.reason()
        )
    }
}

/// The first statement of `statements` that is not safe to repeat among the first
/// `ran` (and the next one too when `maybe`): its 1-based index and line.
pub fn first_unsafe_run(
    statements: &[Statement<'_>],
    ran: usize,
    maybe: bool,
) -> Option<(usize, u32)> {
    let seen = (ran + usize::from(maybe)).min(statements.len());
    statements[..seen]
        .iter()
        .position(|s| !s.is_safe_to_repeat())
        .map(|i| (i + 1, statements[i].pos.line))
}

/// Runs `statements` of `script` in order on `session`, asking `guard` before each one;
/// returns the elapsed time either way. A script the lexer could not split fails at
/// its first statement (`lex_error`), with nothing run.
pub async fn run_script<S: Session>(
    session: &S,
    script: &Script,
    statements: &[Statement<'_>],
    lex_error: Option<&cassachange_cql::LexError>,
    timeout: Option<Duration>,
    guard: impl Fn() -> Option<Cut>,
) -> (Duration, Result<(), ScriptFailure>) {
    let start = Instant::now();
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
        if let Err(error) = session
            .run_statement(&what, st.text, st.is_idempotent(), timeout)
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
