//! Defines `repair` (spec §19): list FAILED scripts and the lock; mark FAILED scripts
//! for retry with REPAIRED rows (the FAILED rows stay), under the deploy lock so no
//! deploy runs meanwhile; force-release the lock held by a crashed run.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Result;

use cassachange_cassandra::freeze::{Freeze, FreezeFlag};
use cassachange_cassandra::history::lock_commit;
use cassachange_cassandra::CqlLockStore;
use cassachange_core::run::{self as engine, Run, RunKind};

use super::{connect, runs};
use crate::cli::RepairArgs;
use crate::config::Settings;
use crate::edition::{AuditEvent, Edition, EventType};
use crate::exit::ExitStatus;
use crate::history::lock::{self, ForceRelease, LockInfo};
use crate::history::state::{HistoryRow, KeyspaceHistory, State};
use crate::history::store::HistoryStore;
use crate::notify::{Counts, Event, Notifier};
use crate::observe::{Sinks, Start};
use crate::outln;
use crate::timefmt::format_ms;
use crate::ui::UserError;

/// Runs `repair`.
pub(crate) async fn run(
    args: &RepairArgs,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let history_ks = settings.require_history_keyspace()?;
    let db = connect::open(settings, &[history_ks]).await?;
    if !args.list {
        connect::check_history_consistency(&db, settings, history_ks).await?;
    }
    edition.attach(db.clone(), history_ks, settings.history_consistency);
    let flag = runs::freeze_flag(&db, settings, history_ks);
    if let Some(reason) = &args.freeze {
        return freeze(&flag, reason, settings, edition).await;
    }
    if args.unfreeze {
        return unfreeze(&flag, settings, edition).await;
    }
    let table = connect::history_table(&db, settings, history_ks);
    let commit = lock_commit(settings.history_consistency);
    let locks = CqlLockStore::new(Arc::clone(&db), history_ks, commit);

    // A run killed while it created the history tables can leave change_history without
    // deploy_lock: no lock table, no lock.
    let lock_table = db
        .table_columns(history_ks, "deploy_lock")
        .await
        .map_err(UserError::from)?
        .is_some();
    if args.release_lock {
        return release(&locks, lock_table, settings, edition).await;
    }
    let held = if lock_table {
        lock::holder(&locks).await.map_err(UserError::from)?
    } else {
        None
    };
    let rows = table.read_all().await.map_err(UserError::from)?;
    let failed = failed_scripts(&rows, settings, args.script.as_deref());
    print_failed(&failed, &rows, settings, args.script.as_deref());
    outln!();
    print_lock(held.as_ref());
    if let Some(info) = &held {
        explain_holder(info, &rows);
    }
    let frozen = flag.read().await.map_err(UserError::from)?;
    print_freeze(frozen.as_ref());
    if args.list || failed.is_empty() {
        if !failed.is_empty() {
            outln!();
            outln!(
                "Run without --list to mark these scripts as REPAIRED (deploy then retries them)."
            );
        }
        if crate::report::json() {
            crate::report::emit(
                ExitStatus::Success,
                crate::report::fields([
                    ("list", args.list.into()),
                    (
                        "failed",
                        failed
                            .iter()
                            .map(|(_, r)| crate::report::history_row(r))
                            .collect::<Vec<_>>()
                            .into(),
                    ),
                    ("lock", lock_value(held.as_ref())),
                    ("freeze", freeze_value(frozen.as_ref())),
                    ("marked", Vec::<serde_json::Value>::new().into()),
                ]),
            );
        }
        return Ok(ExitStatus::Success);
    }

    // Marking writes history: take the lock, and decide again from what is read under it.
    let info = runs::info(settings, None);
    let sinks = Sinks::new(RunKind::Repair, settings, edition, &info, Start::default());
    let mut run = Run::new(
        RunKind::Repair,
        runs::parts(&db, &table, settings),
        info.clone(),
        runs::options(settings, &info),
        sinks,
    );
    let result = match run.begin().await {
        Ok(()) => {
            let failed = failed_scripts(run.history(), settings, args.script.as_deref());
            let marked = engine::mark_repaired(&mut run, &failed).await;
            if marked.is_ok() {
                outln!();
                outln!(
                    "Marked {} script(s) as REPAIRED. Run cassachange deploy to retry them.",
                    failed.len()
                );
            }
            marked
        }
        Err(e) => Err(e),
    };
    let (outcome, sinks) = run.finish(result).await;
    sinks.close(outcome).await
}

/// `repair --release-lock`: deletes the lock only if it is still held by the holder
/// just read, so a run that takes it in between keeps it.
async fn release(
    locks: &CqlLockStore,
    lock_table: bool,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let released = if lock_table {
        lock::force_release(locks).await.map_err(UserError::from)?
    } else {
        ForceRelease::Free
    };
    match released {
        ForceRelease::Free => {
            print_lock(None);
            outln!("No deploy lock to release.");
            if crate::report::json() {
                crate::report::emit(
                    ExitStatus::Success,
                    crate::report::fields([
                        ("release_lock", true.into()),
                        ("released", serde_json::Value::Null),
                    ]),
                );
            }
            Ok(ExitStatus::Success)
        }
        ForceRelease::Released(info) => {
            print_lock(Some(&info));
            outln!(
                "Deploy lock force-released (was held by {}).",
                info.locked_by
            );
            let run = runs::info(settings, None);
            edition.audit(&AuditEvent::new(
                EventType::LockForceRelease,
                &run.run_id,
                &run.operator,
                format!(
                    "forced via cassachange repair --release-lock; was {}",
                    info.describe()
                ),
            ))?;
            edition.flush_audit()?;
            notify_repair(
                settings,
                &run.run_id,
                format!(
                    "deploy lock force-released (was held by {})",
                    info.locked_by
                ),
            )
            .await;
            if crate::report::json() {
                crate::report::emit(
                    ExitStatus::Success,
                    crate::report::fields([
                        ("release_lock", true.into()),
                        ("released", lock_value(Some(&info))),
                    ]),
                );
            }
            Ok(ExitStatus::Success)
        }
        ForceRelease::ChangedHands { was, now } => {
            let now = now.map_or_else(|| "nobody".to_string(), |h| h.run_id);
            Err(UserError::failure(format!(
                "the deploy lock changed hands while it was being released: it was held by \
                 run {}, and is now held by {now}; nothing was released",
                was.run_id
            ))
            .hint("a deploy may be running: check with `cassachange repair --list` before trying again")
            .into())
        }
    }
}

/// The scripts whose latest event is FAILED, per keyspace in scope, oldest first.
fn failed_scripts(
    rows: &[HistoryRow],
    settings: &Settings,
    script: Option<&str>,
) -> Vec<(String, HistoryRow)> {
    let mut failed = Vec::new();
    for ks in &scope(rows, settings) {
        let h = KeyspaceHistory::build(rows, ks);
        let mut list: Vec<HistoryRow> = h
            .files
            .values()
            .filter(|e| matches!(e.state, State::Failed | State::Interrupted))
            .map(|e| e.last.clone())
            .filter(|r| script.is_none_or(|s| &*r.script == s))
            .collect();
        list.sort_by_key(|r| r.installed_on);
        failed.extend(list.into_iter().map(|r| (ks.clone(), r)));
    }
    failed
}

/// The configured keyspaces, or every keyspace that has history.
fn scope(rows: &[HistoryRow], settings: &Settings) -> BTreeSet<String> {
    if settings.keyspaces.is_empty() {
        // One entry per keyspace, whatever spelling each run wrote.
        let mut seen = std::collections::BTreeMap::new();
        for k in rows
            .iter()
            .filter_map(|r| r.keyspace_name.as_deref())
            .filter(|k| !k.is_empty())
        {
            seen.entry(k.to_ascii_lowercase())
                .or_insert_with(|| k.to_string());
        }
        seen.into_values().collect()
    } else {
        settings.keyspaces.iter().cloned().collect()
    }
}

fn print_failed(
    failed: &[(String, HistoryRow)],
    rows: &[HistoryRow],
    settings: &Settings,
    script: Option<&str>,
) {
    if failed.is_empty() {
        let what = script
            .map(|s| format!(" for script '{s}'"))
            .unwrap_or_default();
        outln!(
            "No FAILED scripts{what} in {}.",
            scope_text(&scope(rows, settings))
        );
        return;
    }
    let mut current = "";
    for (ks, r) in failed {
        if ks != current {
            outln!("FAILED scripts in {ks}:");
            current = ks;
        }
        // INTERRUPTED: started by a run that recorded no outcome (not a history row).
        outln!(
            "  {:<44} {}  {}  run_id={}",
            r.script,
            r.status.as_deref().unwrap_or("FAILED"),
            format_ms(r.installed_on),
            r.run_id.as_deref().unwrap_or("")
        );
    }
}

fn scope_text(scope: &BTreeSet<String>) -> String {
    if scope.is_empty() {
        "any keyspace".into()
    } else {
        scope.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The deploy lock as JSON.
fn lock_value(held: Option<&LockInfo>) -> serde_json::Value {
    match held {
        Some(info) => serde_json::json!({
            "held": true,
            "locked_by": info.locked_by,
            "locked_at": info.locked_at.map(format_ms),
            "run_id": info.run_id,
        }),
        None => serde_json::json!({ "held": false }),
    }
}

/// Sends the `repair` notification with `detail` and waits for it (bounded by the
/// notifications' timeout).
async fn notify_repair(settings: &Settings, run_id: &str, detail: String) {
    let notifier = Notifier::new(settings, run_id);
    notifier.send(
        &Event {
            name: "repair",
            keyspace: settings.keyspaces.join(","),
            detail,
            ..Event::default()
        },
        Counts::default(),
    );
    notifier.finish().await;
}

/// The freeze as JSON (`null`: none).
pub(crate) fn freeze_value(f: Option<&Freeze>) -> serde_json::Value {
    f.map_or(serde_json::Value::Null, |f| {
        serde_json::json!({
            "reason": f.reason,
            "frozen_by": f.frozen_by,
            "frozen_at": format_ms(f.frozen_at),
            "run_id": f.run_id,
        })
    })
}

/// `Deploy freeze: none` or who froze deploys, when and why.
pub(crate) fn print_freeze(f: Option<&Freeze>) {
    match f {
        Some(f) => outln!(
            "Deploy freeze: FROZEN by {} at {}: {}",
            f.frozen_by,
            format_ms(f.frozen_at),
            f.reason
        ),
        None => outln!("Deploy freeze: none"),
    }
}

/// `repair --freeze REASON`: sets the freeze (replacing one in force), audited and
/// notified. Takes no lock: a deploy already running finishes; the next ones stop.
async fn freeze(
    flag: &FreezeFlag,
    reason: &str,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    if reason.trim().is_empty() {
        return Err(UserError::error("--freeze needs a reason")
            .hint("say why, e.g. --freeze \"adding dc3; ask #db-ops\"")
            .into());
    }
    let run = runs::info(settings, None);
    let was = flag.read().await.map_err(UserError::from)?;
    let f = Freeze {
        reason: reason.to_string(),
        frozen_by: run.operator.clone(),
        frozen_at: crate::timefmt::now_ms(),
        run_id: run.run_id.clone(),
    };
    flag.set(&f).await.map_err(UserError::from)?;
    if let Some(was) = &was {
        outln!(
            "Deploys were already frozen (by {}: {}); the reason is replaced.",
            was.frozen_by,
            was.reason
        );
    }
    print_freeze(Some(&f));
    outln!("Deploys and rollbacks now stop before the lock until `cassachange repair --unfreeze`.");
    edition.audit(&AuditEvent::new(
        EventType::Freeze,
        &run.run_id,
        &run.operator,
        reason,
    ))?;
    edition.flush_audit()?;
    notify_repair(settings, &run.run_id, format!("deploys frozen: {reason}")).await;
    if crate::report::json() {
        crate::report::emit(
            ExitStatus::Success,
            crate::report::fields([("freeze", freeze_value(Some(&f)))]),
        );
    }
    Ok(ExitStatus::Success)
}

/// `repair --unfreeze`: lifts the freeze, audited and notified.
async fn unfreeze(
    flag: &FreezeFlag,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let was = flag.read().await.map_err(UserError::from)?;
    let Some(was) = was else {
        outln!("Deploys are not frozen; nothing to lift.");
        if crate::report::json() {
            crate::report::emit(
                ExitStatus::Success,
                crate::report::fields([("unfrozen", serde_json::Value::Null)]),
            );
        }
        return Ok(ExitStatus::Success);
    };
    flag.clear().await.map_err(UserError::from)?;
    outln!(
        "Freeze lifted (set by {} at {}: {}).",
        was.frozen_by,
        format_ms(was.frozen_at),
        was.reason
    );
    let run = runs::info(settings, None);
    edition.audit(&AuditEvent::new(
        EventType::Unfreeze,
        &run.run_id,
        &run.operator,
        format!("was frozen by {}: {}", was.frozen_by, was.reason),
    ))?;
    edition.flush_audit()?;
    notify_repair(
        settings,
        &run.run_id,
        format!("deploy freeze lifted (was: {})", was.reason),
    )
    .await;
    if crate::report::json() {
        crate::report::emit(
            ExitStatus::Success,
            crate::report::fields([("unfrozen", freeze_value(Some(&was)))]),
        );
    }
    Ok(ExitStatus::Success)
}

fn print_lock(held: Option<&LockInfo>) {
    match held {
        Some(info) => {
            outln!("Deploy lock: HELD");
            outln!("  {}", info.describe());
        }
        None => outln!("Deploy lock: free"),
    }
}

/// Says how far the lock holder's run got, from its history rows, so a crashed run can
/// be told from a running one.
fn explain_holder(info: &LockInfo, rows: &[HistoryRow]) {
    let mut mine: Vec<&HistoryRow> = rows
        .iter()
        .filter(|r| r.run_id.as_deref() == Some(info.run_id.as_str()))
        .collect();
    mine.sort_by_key(|r| r.installed_on);
    match mine.last() {
        Some(last) => outln!(
            "  that run recorded {} script(s); the last: {} {} in {} at {}",
            mine.len(),
            last.script,
            last.status.as_deref().unwrap_or(""),
            last.keyspace_name.as_deref().unwrap_or(""),
            format_ms(last.installed_on)
        ),
        None => outln!("  that run has recorded no script yet"),
    }
    outln!(
        "  if no deploy is running, it crashed: the script after its last recorded one may be \
         partly applied; release with `cassachange repair --release-lock`, then deploy again"
    );
}
