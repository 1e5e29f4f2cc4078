//! Defines audit events, the records the enterprise edition appends to `audit_log`.

/// The event types of spec §9, as stored in `audit_log.event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A deploy started.
    DeployStart,
    /// A deploy ended without errors.
    DeployEnd,
    /// A deploy ended with errors.
    DeployFailed,
    /// A rollback started.
    RollbackStart,
    /// A rollback ended without errors.
    RollbackEnd,
    /// A rollback ended with errors.
    RollbackFailed,
    /// A script ran successfully.
    ScriptRun,
    /// A script was skipped.
    ScriptSkip,
    /// A script failed.
    ScriptFailed,
    /// `repair` marked a script for retry.
    Repair,
    /// The deploy lock was taken.
    LockAcquire,
    /// The deploy lock was released by its owner.
    LockRelease,
    /// The deploy lock was force-released by `repair --release-lock`.
    LockForceRelease,
    /// `drift --accept` recorded a keyspace's live schema as the expected one.
    SchemaAccept,
    /// `repair --freeze` froze deploys and rollbacks.
    Freeze,
    /// `repair --unfreeze` lifted the freeze.
    Unfreeze,
}

impl EventType {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::DeployStart => "DEPLOY_START",
            EventType::DeployEnd => "DEPLOY_END",
            EventType::DeployFailed => "DEPLOY_FAILED",
            EventType::RollbackStart => "ROLLBACK_START",
            EventType::RollbackEnd => "ROLLBACK_END",
            EventType::RollbackFailed => "ROLLBACK_FAILED",
            EventType::ScriptRun => "SCRIPT_RUN",
            EventType::ScriptSkip => "SCRIPT_SKIP",
            EventType::ScriptFailed => "SCRIPT_FAILED",
            EventType::Repair => "REPAIR",
            EventType::LockAcquire => "LOCK_ACQUIRE",
            EventType::LockRelease => "LOCK_RELEASE",
            EventType::LockForceRelease => "LOCK_FORCE_RELEASE",
            EventType::SchemaAccept => "SCHEMA_ACCEPT",
            EventType::Freeze => "FREEZE",
            EventType::Unfreeze => "UNFREEZE",
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub event_type: EventType,
    /// The run it belongs to.
    pub run_id: String,
    /// `installed_by` of the run.
    pub operator: String,
    /// Target keyspace, or empty.
    pub keyspace: String,
    /// Script file name, or empty.
    pub script: String,
    /// `SUCCESS`, `FAILED`, …, or empty.
    pub status: String,
    /// Extra context (never a secret).
    pub detail: String,
}

impl AuditEvent {
    /// An event with no keyspace, script or status.
    pub fn new(
        event_type: EventType,
        run_id: &str,
        operator: &str,
        detail: impl Into<String>,
    ) -> Self {
        AuditEvent {
            event_type,
            run_id: run_id.to_string(),
            operator: operator.to_string(),
            keyspace: String::new(),
            script: String::new(),
            status: String::new(),
            detail: detail.into(),
        }
    }

    /// Sets the keyspace, script and status.
    #[must_use]
    pub fn on(mut self, keyspace: &str, script: &str, status: &str) -> Self {
        self.keyspace = keyspace.to_string();
        self.script = script.to_string();
        self.status = status.to_string();
        self
    }
}
