//! Defines the `Edition` seam: what differs between the community binary and the
//! binary with the enterprise plugin loaded (secrets, file secrets, audit, extra
//! commands). Commands call the trait; they never ask which edition they run in.
//!
//! This is the Rust form of the original's entry-point patching.

mod audit;
mod community;

pub use audit::{AuditEvent, EventType};

pub use community::{plugin_file_name, requires_enterprise, Community};

use crate::config::Settings;
use crate::ui::UserError;

/// The edition-specific services a command may call.
pub trait Edition {
    /// `community`, or `enterprise <plugin version>`, with providers.
    fn describe(&self) -> String;

    /// Replaces `secrets` URIs in `settings` with their values (enterprise), or refuses a
    /// `secrets` block (community). Runs before any connection is opened.
    fn resolve_secrets(&self, settings: &mut Settings) -> Result<(), UserError>;

    /// Appends an audit event (enterprise); the community edition records nothing.
    /// An error here is loud: the caller stops the run.
    fn audit(&self, event: &AuditEvent) -> Result<(), UserError>;
}

/// The edition of this process.
pub fn current() -> Box<dyn Edition> {
    Box::new(Community)
}
