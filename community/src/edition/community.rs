//! Defines the community edition: the original's stubs, word for word where the
//! original has words.

use super::{AuditEvent, Edition};
use crate::config::Settings;
use crate::exit::ExitStatus;
use crate::ui::UserError;

/// The free edition: no secret managers, no audit log.
pub struct Community;

/// File name of the enterprise plugin on this platform.
pub fn plugin_file_name() -> String {
    format!(
        "{}cassachange_enterprise{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The original's "requires cassachange-enterprise" message, adapted to how the
/// plugin installs here.
pub fn requires_enterprise(feature: &str) -> String {
    format!(
        "{feature} requires cassachange-enterprise.\n\
         \n\
         Community edition:  this cassachange binary, as it is\n\
         Enterprise edition: put {} beside the cassachange binary\n\
         \x20                   (or set CASSACHANGE_PLUGIN to its path)\n\
         \n\
         Contact: enterprise@cassachange.io",
        plugin_file_name()
    )
}

impl Edition for Community {
    fn describe(&self) -> String {
        "community".into()
    }

    fn resolve_secrets(&self, settings: &mut Settings) -> Result<(), UserError> {
        if !settings.has_secrets_block() {
            return Ok(());
        }
        let mut place = settings.config_file.as_ref().map_or_else(
            || "the configuration".to_string(),
            |p| p.display().to_string(),
        );
        if let Some(p) = &settings.profile {
            place = format!("{place} (profile '{p}')");
        }
        Err(
            UserError::error(requires_enterprise("Secret manager integration"))
                .hint(format!(
                    "{place} has a secrets / secrets_provider block; remove it, use a profile \
                 without one, or install the enterprise plugin"
                ))
                .status(ExitStatus::Error),
        )
    }

    fn attach(
        &self,
        _db: std::sync::Arc<crate::db::Db>,
        _history_keyspace: &str,
        _consistency: crate::config::HistoryConsistency,
    ) {
    }

    fn audit(&self, _event: &AuditEvent) -> Result<(), UserError> {
        Ok(())
    }

    fn commands(&self) -> Vec<String> {
        Vec::new()
    }

    fn command(&self, _name: &str, _args: Vec<String>) -> Option<Result<(String, i32), UserError>> {
        None
    }
}
