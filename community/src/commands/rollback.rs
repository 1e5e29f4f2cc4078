//! Defines `rollback` (spec §9, §14): undo applied versions with their U scripts, newest
//! first: the latest, everything numerically above `--target-version`, or everything
//! of `--tag`. Every selected version must have an undo script before anything runs;
//! each undo's history row and its `ROLLBACK_V<version>` sentinel are written together.

use std::collections::BTreeMap;

use anyhow::Result;
use cassachange_core::run::{self as engine, Run, RunKind};

use super::{connect, runs, tracking};
use crate::cli::RollbackArgs;
use crate::config::{SchemaDriftPolicy, Settings};
use crate::edition::Edition;
use crate::exit::ExitStatus;
use crate::history::state::{HistoryRow, KeyspaceHistory};
use crate::history::store::HistoryStore;
use crate::observe::{Sinks, Start};
use crate::outln;
use crate::plan::{self, RollbackRefusal, RollbackTarget, UndoStep};
use crate::scripts::{discover, Discovery, Script};
use crate::ui::UserError;
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
    let gate_args =
        super::health::GateArgs::parse(args.allow_unhealthy, args.wait_healthy.as_deref())?;
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
    let flag = runs::freeze_flag(&db, settings, table.keyspace());
    let frozen = flag.read().await.map_err(UserError::from)?;
    // The health gate (undo scripts change the schema); a frozen rollback stops anyway.
    let mut health = if frozen.is_none() {
        super::health::gate(
            &db,
            settings,
            table.keyspace(),
            gate_args,
            true,
            dry_run,
            "rollback",
        )
        .await
    } else {
        super::health::Verdict::unchecked()
    };

    if dry_run {
        let rows = match table.read_all().await {
            Ok(rows) => rows,
            // The gate's refusal says why the history cannot be read.
            Err(e) => {
                return Err(match health.refusal.take() {
                    Some(refusal) => refusal.hint(format!("the history read failed: {e}")),
                    None => super::health::explain_history_failure(
                        &db,
                        settings,
                        table.keyspace(),
                        &e,
                        "rollback",
                    )
                    .await
                    .unwrap_or_else(|| UserError::from(e)),
                }
                .into())
            }
        };
        let plans = plans(&found, &undo, &rows, &keyspaces, &target)?;
        outln!("Dry run: no lock taken, nothing written.");
        if let Some(f) = &frozen {
            crate::ui::err_line(format_args!(
                "error: {}",
                runs::frozen(f, "rollback").replace(
                    "; the rollback did not start",
                    "; a rollback would stop before the lock"
                )
            ));
        }
        if let Some(refusal) = &health.refusal {
            crate::ui::err_line(format_args!("error: {}", refusal.message));
        }
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
                status_of(frozen.as_ref(), health.refusal.is_some()),
                crate::report::fields([
                    ("dry_run", true.into()),
                    ("target", describe(&target).into()),
                    ("steps", steps.into()),
                    ("health", health.value.clone()),
                ]),
            );
        }
        return Ok(status_of(frozen.as_ref(), health.refusal.is_some()));
    }

    let info = runs::info(settings, args.tag.as_ref().or(settings.tag.as_ref()));
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
    let sinks =
        Sinks::new(RunKind::Rollback, settings, edition, &info, start).target(describe(&target));
    if let Some(f) = &frozen {
        return sinks
            .refuse(UserError::failure(runs::frozen(f, "rollback")).hint(runs::FROZEN_HINT))
            .await;
    }
    if let Some(refusal) = health.refusal.take() {
        let mut sinks = sinks;
        sinks.extra("health", health.value.clone());
        return sinks.refuse(refusal).await;
    }
    let mut run = Run::new(
        RunKind::Rollback,
        runs::parts(&db, &table, settings),
        info.clone(),
        runs::options(settings, &info),
        sinks,
    );
    let store = connect::schema_records(&db, settings, table.keyspace());
    let tracking = settings.schema_drift != SchemaDriftPolicy::Ignore;
    let result = match run.begin().await {
        Ok(()) => match super::deploy::frozen_under_lock(&flag, false, "rollback").await {
            Some(refused) => Err(refused),
            None => match plans(&found, &undo, run.history(), &keyspaces, &target) {
                Ok(plans) => {
                    // The schema before the undo scripts, to record what they changed.
                    let touched: Vec<&str> = plans
                        .iter()
                        .filter(|(_, steps)| !steps.is_empty())
                        .map(|(ks, _)| *ks)
                        .collect();
                    let before = if tracking {
                        tracking::before_run(&db, &store, &touched).await
                    } else {
                        None
                    };
                    let result = engine::rollback(&mut run, &plans).await;
                    if let Some(before) = before {
                        tracking::record_after(&run, &db, &store, before, "rollback").await;
                    }
                    result
                }
                Err(refused) => Err(engine::RunError::from(refused)),
            },
        },
        Err(e) => Err(e),
    };
    let (outcome, sinks) = run.finish(result).await;
    sinks.close(outcome).await
}

/// A dry run's exit status: a freeze or an unhealthy cluster makes it a failure (the
/// rollback would stop).
fn status_of(
    frozen: Option<&cassachange_cassandra::freeze::Freeze>,
    unhealthy: bool,
) -> ExitStatus {
    if frozen.is_some() || unhealthy {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

/// Every keyspace's undo steps, or the error naming each version without a U script
/// and each script a run left unfinished (then nothing may be undone).
fn plans<'a, 'k>(
    found: &'a Discovery,
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
        let scripts = found.forward.iter().chain(&found.undo);
        match plan::rollback(scripts, undo, &history, target) {
            Ok(steps) => plans.push((*ks, steps)),
            Err(RollbackRefusal::Interrupted(steps)) => {
                interrupted.extend(
                    steps
                        .iter()
                        .map(|s| format!("{ks}: {} was {}", s.script.filename, s.reason.text())),
                );
            }
            Err(RollbackRefusal::Missing(versions)) => {
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
            "check what the script did, then run `cassachange repair --script <file>` to mark \
             it for retry, and roll back again",
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

fn describe(t: &RollbackTarget) -> String {
    match t {
        RollbackTarget::Latest => "latest".into(),
        RollbackTarget::Above(v) => format!("above {v}"),
        RollbackTarget::Tag(t) => format!("tag={t}"),
    }
}
