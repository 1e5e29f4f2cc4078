//! Defines `rollback` (spec §9, §14): undo applied versions with their U scripts, newest
//! first: the latest, everything numerically above `--target-version`, or everything
//! of `--tag`. Every selected version must have an undo script before anything runs;
//! each undo's history row and its `ROLLBACK_V<version>` sentinel are written together.

use std::collections::BTreeMap;

use anyhow::Result;

use super::connect::{self, db_error};
use crate::cli::RollbackArgs;
use crate::config::Settings;
use crate::edition::Edition;
use crate::exit::ExitStatus;
use crate::history::state::{HistoryRow, KeyspaceHistory};
use crate::history::store::HistoryStore;
use crate::outln;
use crate::plan::{self, RollbackTarget, UndoStep};
use crate::run::{Action, Run, RunInfo, RunKind, Start};
use crate::scripts::{discover, Script};
use crate::ui::{self, UserError};
use crate::version::Version;

/// Runs `rollback`.
pub(crate) async fn run(
    args: &RollbackArgs,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let target = match (&args.target_version, &args.tag) {
        (Some(v), _) => RollbackTarget::Above(
            Version::parse(v).map_err(|e| UserError::error(format!("--target-version: {e}")))?,
        ),
        (None, Some(t)) => RollbackTarget::Tag(t.clone()),
        (None, None) => RollbackTarget::Latest,
    };
    let dry_run = args.dry_run || settings.dry_run;
    let root = settings.root_folder.clone();
    let found = tokio::task::spawn_blocking(move || discover(&root))
        .await
        .map_err(|e| UserError::error(format!("discovering scripts failed: {e}")))?
        .map_err(|e| {
            UserError::error(e.to_string())
                .hint("set root_folder in cassachange.yml or pass --root-folder")
        })?;
    if found.undo.is_empty() {
        return Err(UserError::failure(format!(
            "no undo scripts (U<version>__*.cql) found in {}",
            settings.root_folder.display()
        ))
        .into());
    }
    let undo = found.undo_by_version();
    let (db, table, keyspaces) = connect::open_run(settings, edition).await?;

    if dry_run {
        let rows = table.read_all().await.map_err(|e| db_error(&e))?;
        let plans = plans(&undo, &rows, &keyspaces, &target)?;
        outln!("Dry run: no lock taken, nothing written.");
        for (ks, steps) in &plans {
            outln!("ROLLBACK  keyspace={ks}  target={}", describe(&target));
            if steps.is_empty() {
                outln!("  nothing to roll back");
            }
            for s in steps {
                outln!("[UNDO]    {:<44} version {}", s.undo.filename, s.version);
            }
        }
        if crate::report::json() {
            let steps: Vec<serde_json::Value> = plans
                .iter()
                .flat_map(|(ks, steps)| {
                    steps.iter().map(move |s| {
                        serde_json::json!({
                            "keyspace": ks,
                            "script": s.undo.filename,
                            "version": s.version.to_string(),
                            "action": "would_undo",
                        })
                    })
                })
                .collect();
            crate::report::emit(
                ExitStatus::Success,
                crate::report::fields([
                    ("dry_run", true.into()),
                    ("target", describe(&target).into()),
                    ("steps", steps.into()),
                ]),
            );
        }
        return Ok(ExitStatus::Success);
    }

    let info = RunInfo::new(settings, args.tag.as_ref().or(settings.tag.as_ref()));
    let start = Start {
        audit: format!(
            "keyspaces={} target={} tag={}",
            keyspaces.join(","),
            describe(&target),
            info.tag
        ),
        // The original's text: the --target-version as given, or None.
        notice: format!(
            "target={}",
            args.target_version.as_deref().unwrap_or("None")
        ),
        keyspaces: keyspaces.join(","),
    };
    let mut run = match Run::begin(
        RunKind::Rollback,
        settings,
        edition,
        db,
        &table,
        info,
        start,
    )
    .await
    {
        Ok(run) => run,
        Err(done) => return done,
    };
    let result = rollback(&mut run, &undo, &keyspaces, &target).await;
    run.finish(result).await
}

/// Every keyspace's undo steps, or the error naming each version without a U script.
fn plans<'a, 'k>(
    undo: &BTreeMap<&Version, &'a Script>,
    rows: &[HistoryRow],
    keyspaces: &[&'k str],
    target: &RollbackTarget,
) -> Result<Vec<(&'k str, Vec<UndoStep<'a>>)>, UserError> {
    let mut plans = Vec::new();
    let mut missing = Vec::new();
    let mut interrupted = Vec::new();
    for ks in keyspaces {
        let history = KeyspaceHistory::build(rows, ks);
        // An undo script an earlier rollback started and never recorded: its version
        // still reads as applied, but some of its statements may have run. Undoing
        // anything more (or it again, from its start) waits for the operator.
        for script in undo.values() {
            if let Some(why) = plan::interrupted_reason(&history, &script.filename) {
                interrupted.push(format!("{ks}: {} was {}", script.filename, why.text()));
            }
        }
        if !interrupted.is_empty() {
            continue;
        }
        match plan::rollback(undo, &history, target) {
            Ok(steps) => plans.push((*ks, steps)),
            Err(versions) => {
                missing.extend(versions.into_iter().map(|v| {
                    format!("{ks}: version {v} has no undo script (expected U{v}__*.cql)")
                }));
            }
        }
    }
    if !interrupted.is_empty() {
        return Err(UserError::failure(format!(
            "cannot roll back; nothing was undone:\n{}",
            interrupted.join("\n")
        ))
        .hint(
            "check what the undo script did, then run `cassachange repair --script <file>` to \
             mark it for retry, and roll back again",
        ));
    }
    if missing.is_empty() {
        Ok(plans)
    } else {
        Err(UserError::failure(format!(
            "cannot roll back; nothing was undone:\n{}",
            missing.join("\n")
        ))
        .hint("add the missing U scripts, or pick a narrower --target-version / --tag"))
    }
}

async fn rollback(
    run: &mut Run<'_>,
    undo: &BTreeMap<&Version, &Script>,
    keyspaces: &[&str],
    target: &RollbackTarget,
) -> Result<(), UserError> {
    let plans = plans(undo, run.history(), keyspaces, target)?;
    run.expect(plans.iter().map(|(_, steps)| steps.len()).sum());
    for (ks, steps) in &plans {
        outln!("ROLLBACK  keyspace={ks}  target={}", describe(target));
        if steps.is_empty() {
            outln!("  nothing to roll back");
            continue;
        }
        let errors_before = run.errors();
        let mut result = Ok(());
        for s in steps {
            let action = Action::Undo {
                script: s.undo,
                version: &s.version,
            };
            match run.step(ks, action, "").await {
                Ok(true) => {}
                Ok(false) => {
                    ui::note(format_args!("stopping the rollback of {ks}"));
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let ok = result.is_ok() && run.errors() == errors_before;
        run.summary(format!(
            "{} {ks}: rollback {}",
            if ok { "✓" } else { "✗" },
            if ok { "complete" } else { "FAILED" }
        ));
        result?;
    }
    Ok(())
}

fn describe(t: &RollbackTarget) -> String {
    match t {
        RollbackTarget::Latest => "latest".into(),
        RollbackTarget::Above(v) => format!("above {v}"),
        RollbackTarget::Tag(t) => format!("tag={t}"),
    }
}
