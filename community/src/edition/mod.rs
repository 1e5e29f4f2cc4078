//! Defines the `Edition` seam: what differs between the community binary and the
//! binary with the enterprise plugin loaded (secrets, file secrets, audit, extra
//! commands). Commands call the trait; they never ask which edition they run in.
//!
//! This is the Rust form of the original's entry-point patching: the plugin file beside
//! the executable (or `CASSACHANGE_PLUGIN`) turns the community edition into enterprise.

mod audit;
mod community;
mod plugin;
mod plugin_file;

use std::path::PathBuf;
use std::sync::Arc;

pub use audit::{AuditEvent, EventType};
pub use community::{plugin_file_name, requires_enterprise, Community};

use crate::config::{HistoryConsistency, Settings};
use crate::db::Db;
use crate::ui::UserError;

/// The edition-specific services a command may call.
pub trait Edition: Sync {
    /// `community`, or `enterprise <plugin version> …`.
    fn describe(&self) -> String;

    /// The same, for `--version --format json`.
    fn json(&self) -> serde_json::Value {
        serde_json::json!({ "name": "community", "plugin": null })
    }

    /// Replaces `secrets` URIs in `settings` with their values (enterprise), or refuses a
    /// `secrets` block (community). Runs before any connection is opened.
    fn resolve_secrets(&self, settings: &mut Settings) -> Result<(), UserError>;

    /// Gives the edition the session, the history keyspace and its consistency (for the
    /// audit log, read and written like history).
    fn attach(&self, db: Arc<Db>, history_keyspace: &str, consistency: HistoryConsistency);

    /// Appends an audit event (enterprise); the community edition records nothing.
    /// Events may be held until [`Edition::flush_audit`]; an error here or there is
    /// loud: the caller stops the run.
    fn audit(&self, event: &AuditEvent) -> Result<(), UserError>;

    /// True when this edition keeps an audit log (it needs the session attached).
    fn audits(&self) -> bool {
        false
    }

    /// Writes the audit events held so far (one row each). The run calls it before each
    /// script runs and at its end, so no step runs after an audit write failed.
    fn flush_audit(&self) -> Result<(), UserError> {
        Ok(())
    }

    /// Names of the extra subcommands this edition provides.
    fn commands(&self) -> Vec<String>;

    /// Runs an extra subcommand (`audit`) after `attach`: its stdout and exit code, or
    /// `None` when this edition has no such command.
    fn command(&self, name: &str, args: Vec<String>) -> Option<Result<(String, i32), UserError>>;
}

/// A fully static binary (the musl build) cannot load a shared library at all.
const STATIC_BUILD: bool = cfg!(all(target_env = "musl", target_feature = "crt-static"));

/// Where the plugin would be: `CASSACHANGE_PLUGIN`, else beside the executable.
fn plugin_path() -> Option<(PathBuf, bool)> {
    if let Some(p) = std::env::var_os("CASSACHANGE_PLUGIN").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), true));
    }
    let exe = std::env::current_exe().ok()?;
    Some((exe.parent()?.join(plugin_file_name()), false))
}

/// The edition of this process: enterprise when the plugin file is present and loads,
/// community when it is absent. A present plugin that cannot be used is an error (one
/// line, exit 2), never a silent fallback; `verbose` adds abi_stable's full report.
pub fn current(verbose: bool) -> Result<Box<dyn Edition>, UserError> {
    let Some((path, explicit)) = plugin_path() else {
        return Ok(Box::new(Community));
    };
    if !explicit && std::fs::symlink_metadata(&path).is_err() {
        return Ok(Box::new(Community));
    }
    if STATIC_BUILD {
        return Err(UserError::error(format!(
            "this cassachange is a static (musl) build and cannot load the enterprise plugin {}",
            path.display()
        ))
        .hint("for the enterprise edition use the glibc build (the pip wheel, the .deb or the linux-gnu archive); or remove the plugin (and unset CASSACHANGE_PLUGIN) to run the community edition"));
    }
    plugin::PluginEdition::load(&path, verbose).map(|p| Box::new(p) as Box<dyn Edition>)
}
