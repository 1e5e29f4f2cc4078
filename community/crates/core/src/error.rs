//! Defines the error of a database operation as the engine sees it: what was being done,
//! why it failed, and — what decides every retry and every record — whether the
//! operation may have been applied.

/// A failed database operation.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// No session could be opened.
    #[error("cannot connect to Cassandra at {contact}: {reason}")]
    Connect {
        /// `host:port` list.
        contact: String,
        /// The driver's reason.
        reason: String,
        /// What to check.
        hint: String,
    },
    /// The TLS settings cannot be used.
    #[error("{0}")]
    Tls(String),
    /// The server refused the statement, or it was never sent: it was not applied.
    #[error("{what} failed: {reason}")]
    Statement {
        /// What was being done, e.g. `reading change_history`.
        what: String,
        /// The driver's or server's reason.
        reason: String,
    },
    /// The statement timed out on the client: it may or may not have been applied.
    #[error("{what} timed out after {secs:.1}s")]
    Timeout {
        /// What was being done.
        what: String,
        /// The timeout.
        secs: f64,
    },
    /// A write, lightweight transaction or serial read whose outcome is unknown (a
    /// server-side timeout, Paxos contention, a connection that broke with the request
    /// in flight): the caller must find out.
    #[error("{what} timed out with an unknown outcome: {reason}")]
    Uncertain {
        /// What was being done.
        what: String,
        /// The server's or driver's reason.
        reason: String,
    },
    /// Schema agreement was not reached after a DDL statement (which was applied, at
    /// least on its coordinator).
    #[error("{what}: the cluster did not reach schema agreement ({reason})")]
    SchemaAgreement {
        /// The statement.
        what: String,
        /// The driver's reason.
        reason: String,
    },
}

impl DbError {
    /// A hint for the person running the command, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            DbError::Connect { hint, .. } => Some(hint.clone()),
            DbError::Timeout { .. } => Some(
                "raise --timeout (seconds per statement), or check the cluster's health".into(),
            ),
            DbError::SchemaAgreement { .. } => Some(
                "check that every node is up (nodetool status / describecluster); the statement may \
                 have applied on some nodes: run `cassachange repair --list` before retrying"
                    .into(),
            ),
            _ => None,
        }
    }

    /// What went wrong, without what was being done (for messages that already name the
    /// statement).
    pub fn reason(&self) -> String {
        match self {
            DbError::Connect { reason, .. } | DbError::Statement { reason, .. } => reason.clone(),
            DbError::Tls(t) => t.clone(),
            DbError::Timeout { secs, .. } => format!("timed out after {secs:.1}s"),
            DbError::Uncertain { reason, .. } => {
                format!("timed out with an unknown outcome: {reason}")
            }
            DbError::SchemaAgreement { reason, .. } => {
                format!("the cluster did not reach schema agreement ({reason})")
            }
        }
    }

    /// True when the operation may have been applied although it failed: a timeout, an
    /// unknown outcome, or a schema change whose agreement was not reached.
    pub fn may_have_applied(&self) -> bool {
        matches!(
            self,
            DbError::Timeout { .. } | DbError::Uncertain { .. } | DbError::SchemaAgreement { .. }
        )
    }
}
