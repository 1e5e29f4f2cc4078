//! Defines the data that crosses the boundary. These layouts are frozen for a major
//! version: a new field or variant is a new major (or a new type in a new capability).

use abi_stable::std_types::{RString, RVec};
use abi_stable::StableAbi;

/// A CQL value bound to a statement or read from a row.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub enum Value {
    /// Null.
    Null,
    /// `boolean`.
    Bool(bool),
    /// `int`.
    Int(i32),
    /// `bigint`.
    BigInt(i64),
    /// `text`/`ascii`/`varchar`.
    Text(RString),
    /// `timestamp`, in milliseconds since the epoch.
    Timestamp(i64),
    /// Test-only: a layout change without a version change (`sim-bad-layout`).
    #[cfg(feature = "sim-bad-layout")]
    Extra(i64),
}

/// Rows of a result, with their column names.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default)]
pub struct Rows {
    /// Column names.
    pub columns: RVec<RString>,
    /// Values in column order.
    pub rows: RVec<RVec<Value>>,
}

/// What a plugin says about itself.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct PluginInfo {
    /// The plugin's own version.
    pub plugin_version: RString,
    /// The interface version it was built against.
    pub interface_version: RString,
    /// Secret providers built in (`vault`, `aws`, `azure`).
    pub providers: RVec<RString>,
}

/// A secret to resolve: the config key it fills and its URI.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct SecretRef {
    /// Config key (`password`, `astra_token`, …).
    pub key: RString,
    /// URI (`vault://…`, `ssm://…`, `asm://…`, `akv://…`).
    pub uri: RString,
}

/// A resolved secret.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct SecretValue {
    /// Config key.
    pub key: RString,
    /// The value (never logged).
    pub value: RString,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue {{ key: {}, value: *** }}", self.key)
    }
}

/// One audit event, as the host hands it to the plugin.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct AuditRecord {
    /// The keyspace holding `audit_log`.
    pub history_keyspace: RString,
    /// Event time in ms, strictly increasing within a run.
    pub event_time_ms: i64,
    /// Run id.
    pub run_id: RString,
    /// `DEPLOY_START`, `SCRIPT_RUN`, ….
    pub event_type: RString,
    /// `installed_by` of the run.
    pub operator: RString,
    /// Host name.
    pub hostname: RString,
    /// Target keyspace, or empty.
    pub keyspace: RString,
    /// Script, or empty.
    pub script: RString,
    /// Status, or empty.
    pub status: RString,
    /// Context.
    pub detail: RString,
}

/// An extra subcommand a plugin provides.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct CommandInfo {
    /// Its name (`audit`).
    pub name: RString,
    /// One line of help.
    pub about: RString,
}

/// The result of an extra subcommand.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct CommandOutput {
    /// Text for stdout.
    pub stdout: RString,
    /// Exit code.
    pub exit_code: i32,
}
