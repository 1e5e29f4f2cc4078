//! Defines `baseline` (spec §18): read a live keyspace from `system_schema` and write
//! `V<version>__baseline_<keyspace>.cql` that re-creates it exactly — user types in
//! dependency order, tables with every column and their non-default options, indexes
//! (SAI and custom ones with their options), materialized views, functions and
//! aggregates with their bodies, triggers — every statement idempotent.

use std::path::PathBuf;

use anyhow::Result;

use super::connect;
use crate::cli::BaselineArgs;
use crate::config::Settings;
use crate::exit::ExitStatus;
use crate::schema::{is_system_keyspace, read_keyspace, render_keyspace};
use crate::ui::{self, UserError};
use crate::version::Version;
use crate::{outln, VERSION};

/// Runs `baseline`.
pub(crate) async fn run(args: &BaselineArgs, settings: &Settings) -> Result<ExitStatus> {
    let version = Version::parse(&args.baseline_version)
        .map_err(|e| UserError::error(format!("--baseline-version: {e}")))?;
    let keyspaces: Vec<String> = settings
        .keyspaces
        .iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    for ks in &keyspaces {
        if is_system_keyspace(ks) {
            return Err(UserError::error(format!(
                "'{ks}' is a system keyspace; cassachange baselines application keyspaces only"
            ))
            .into());
        }
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| settings.root_folder.clone());
    let names: Vec<&str> = keyspaces.iter().map(String::as_str).collect();
    let db = connect::open(settings, &names).await?;
    let mut files = Vec::new();
    for ks in &keyspaces {
        let schema = read_keyspace(&db, ks)
            .await
            .map_err(|e| crate::ui::UserError::from(&e))?;
        let text = render_keyspace(&schema, VERSION);
        let lint = crate::cql::lint_script(&text);
        if let Some(f) = lint
            .findings
            .iter()
            .find(|f| f.rule.severity() == crate::cql::Severity::Error)
        {
            return Err(UserError::failure(format!(
                "the baseline of {ks} does not pass validate ({}); this is a bug in cassachange",
                f.message
            ))
            .into());
        }
        let path = output.join(format!("V{version}__baseline_{ks}.cql"));
        let written = write(path.clone(), text).await?;
        let objects = schema.types.len()
            + schema.tables.len()
            + schema.views.len()
            + schema.indexes.len()
            + schema.functions.len()
            + schema.aggregates.len()
            + schema.triggers.len();
        files.push(serde_json::json!({
            "keyspace": ks,
            "path": path.display().to_string(),
            "written": written,
            "objects": {
                "types": schema.types.len(),
                "tables": schema.tables.len(),
                "indexes": schema.indexes.len(),
                "views": schema.views.len(),
                "functions": schema.functions.len(),
                "aggregates": schema.aggregates.len(),
                "triggers": schema.triggers.len(),
            },
        }));
        outln!(
            "{} {} ({} types, {} tables, {} indexes, {} views, {} functions, {} aggregates, {} triggers: {objects} objects)",
            if written { "Wrote" } else { "Unchanged:" },
            path.display(),
            schema.types.len(),
            schema.tables.len(),
            schema.indexes.len(),
            schema.views.len(),
            schema.functions.len(),
            schema.aggregates.len(),
            schema.triggers.len(),
        );
    }
    ui::note("Next: review the file(s), `cassachange validate`, then `cassachange deploy` records the baseline as applied.");
    if crate::report::json() {
        crate::report::emit(
            ExitStatus::Success,
            crate::report::fields([
                ("version", version.to_string().into()),
                ("files", files.into()),
            ]),
        );
    }
    Ok(ExitStatus::Success)
}

/// Writes `text` to `path` (folders created), off the async workers. A file that is
/// already there with the same text is left alone (`Ok(false)`); one with other text
/// is never overwritten.
async fn write(path: PathBuf, text: String) -> Result<bool, UserError> {
    tokio::task::spawn_blocking(move || {
        if let Ok(existing) = std::fs::read_to_string(&path) {
            if existing == text {
                return Ok(false);
            }
            return Err(UserError::error(format!(
                "{} exists and differs from this baseline; it is not overwritten",
                path.display()
            ))
            .hint("delete or move it, or pick another --baseline-version / --output"));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                UserError::error(format!("cannot create {}: {e}", dir.display()))
                    .hint("pass a writable folder to --output")
            })?;
        }
        std::fs::write(&path, text).map_err(|e| {
            UserError::error(format!("cannot write {}: {e}", path.display()))
                .hint("pass a writable folder to --output")
        })?;
        Ok(true)
    })
    .await
    .map_err(|e| UserError::error(format!("writing the baseline failed: {e}")))?
}
