//! Defines the error a run ends with: what happened, what to do (hints), and which kind
//! of ending it is, from which the binary picks the exit code.

use crate::error::DbError;

/// Which kind of ending a run error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The run ran and failed (exit 1).
    Failure,
    /// Nothing was attempted: a configuration, connection or environment error (exit 2).
    Error,
    /// The deploy lock is held by another run (exit 3).
    LockHeld,
    /// A stop was requested (exit 130).
    Interrupted,
}

/// Why a run stopped, for people: a message and the hints that say what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    /// The kind of ending.
    pub kind: ErrorKind,
    /// What happened (may span lines).
    pub message: String,
    /// What to do, one line each.
    pub hints: Vec<String>,
}

impl RunError {
    /// A failure (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        RunError {
            kind: ErrorKind::Failure,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    /// An error before anything was attempted (exit 2).
    pub fn error(message: impl Into<String>) -> Self {
        RunError {
            kind: ErrorKind::Error,
            ..RunError::failure(message)
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Sets the kind.
    #[must_use]
    pub fn kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// The first line of the message.
    pub fn first_line(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }
}

impl From<&DbError> for RunError {
    fn from(e: &DbError) -> Self {
        let mut r = RunError::error(e.to_string());
        if let Some(h) = e.hint() {
            r = r.hint(h);
        }
        r
    }
}

impl From<DbError> for RunError {
    fn from(e: DbError) -> Self {
        RunError::from(&e)
    }
}
