//! Defines `audit`: the enterprise plugin's immutable audit log, read through the
//! plugin (community: the original's "requires cassachange-enterprise" message).

use anyhow::Result;

use super::connect;
use crate::cli::AuditArgs;
use crate::config::Settings;
use crate::edition::{requires_enterprise, Edition};
use crate::exit::ExitStatus;
use crate::ui::{self, UserError};

/// Runs `audit`.
pub(crate) async fn run(
    args: &AuditArgs,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let history_keyspace = settings.require_history_keyspace()?;
    let mut plugin_args = vec![
        // CQL reads an unquoted name in lower case; system_schema keeps it so.
        "--history-keyspace".to_string(),
        history_keyspace.to_ascii_lowercase(),
        "--limit".into(),
        args.limit.to_string(),
    ];
    if let Some(r) = &args.run_id {
        plugin_args.extend(["--run-id".to_string(), r.clone()]);
    }
    let filter: Vec<String> = args
        .ks
        .keyspace
        .iter()
        .cloned()
        .chain(
            args.ks
                .keyspaces
                .iter()
                .flat_map(|k| k.split(',').map(|s| s.trim().to_string())),
        )
        .filter(|k| !k.is_empty())
        .collect();
    for k in filter {
        plugin_args.extend(["--keyspace".to_string(), k]);
    }
    if crate::report::json() {
        plugin_args.extend(["--format".to_string(), "json".to_string()]);
    }
    // Ask before connecting: a plugin without the command needs no database.
    if !edition.commands().iter().any(|c| c == "audit") {
        return Err(missing(edition).into());
    }
    let db = connect::open(settings, &[history_keyspace]).await?;
    edition.attach(db, history_keyspace, settings.history_consistency);
    match edition.command("audit", plugin_args) {
        None => Err(missing(edition).into()),
        Some(Err(e)) => Err(e.into()),
        Some(Ok((stdout, code))) => {
            let status = match code {
                0 => ExitStatus::Success,
                2 => ExitStatus::Error,
                _ => ExitStatus::Failure,
            };
            if crate::report::json() {
                let events: serde_json::Value = serde_json::from_str(&stdout).map_err(|_| {
                    UserError::failure(
                        "the enterprise plugin does not answer `audit` in JSON (it predates --format json)",
                    )
                    .hint("install the plugin of this cassachange version")
                })?;
                crate::report::emit(
                    status,
                    crate::report::fields([
                        ("history_keyspace", history_keyspace.into()),
                        ("events", events),
                    ]),
                );
            } else {
                ui::out(format_args!("{}", stdout.trim_end_matches('\n')));
            }
            Ok(status)
        }
    }
}

fn missing(edition: &dyn Edition) -> UserError {
    let which = edition.describe();
    if which == "community" {
        UserError::error(requires_enterprise("cassachange audit"))
            .hint("the audit log is written and read by the enterprise plugin")
    } else {
        UserError::error(format!(
            "this enterprise plugin ({which}) does not provide the audit command"
        ))
        .hint("install a plugin built for plugin interface 1.1 or newer")
    }
}
