//! Defines the three ways a run walks its plan: deploy (every keyspace's forward
//! steps, a failed script stopping its keyspace), rollback (undo steps, newest first)
//! and repair (marking scripts for retry). Each is the protocol table of its command,
//! on top of [`Run::step`](super::Run::step).

use super::{Action, Run, RunError, RunEvent, RunObserver, Session};
use crate::history::state::{status, HistoryRow};
use crate::history::store::{HistoryStore, LockStore};
use crate::plan::{KeyspacePlan, UndoStep};

/// Executes deploy plans: a failed script stops its keyspace; anything that stops the
/// run (`Err`) stops every keyspace.
pub async fn deploy<S, H, L, O>(
    run: &mut Run<'_, S, H, L, O>,
    plans: &[KeyspacePlan<'_>],
) -> Result<(), RunError>
where
    S: Session,
    H: HistoryStore,
    L: LockStore,
    O: RunObserver,
{
    run.expect(plans.iter().map(|p| p.to_run().count()).sum());
    for plan in plans {
        let ks = plan.keyspace.as_str();
        run.emit(&RunEvent::Keyspace {
            keyspace: ks,
            of: plans.len(),
            steps: plan.steps.len(),
        })?;
        let errors_before = run.errors();
        let mut ran = 0usize;
        let result = deploy_keyspace(run, plan, &mut ran).await;
        let errors = run.errors() - errors_before;
        run.emit(&RunEvent::KeyspaceDone {
            keyspace: ks,
            ran,
            skipped: plan.skipped(),
            errors,
            stopped: result.is_err(),
        })?;
        result?;
    }
    Ok(())
}

async fn deploy_keyspace<S, H, L, O>(
    run: &mut Run<'_, S, H, L, O>,
    plan: &KeyspacePlan<'_>,
    ran: &mut usize,
) -> Result<(), RunError>
where
    S: Session,
    H: HistoryStore,
    L: LockStore,
    O: RunObserver,
{
    let ks = plan.keyspace.as_str();
    for step in &plan.steps {
        let script = step.script;
        if step.reason.blocks() {
            run.blocked(ks, script, &step.reason.text())?;
            break;
        }
        if !step.reason.runs() {
            run.skip(ks, script, &step.reason)?;
            continue;
        }
        if run
            .step(ks, Action::Apply(script), &step.reason.text())
            .await?
        {
            *ran += 1;
        } else {
            break;
        }
    }
    Ok(())
}

/// Executes rollback plans (each keyspace's undo steps, newest first): a failed undo
/// stops its keyspace; anything that stops the run stops every keyspace.
pub async fn rollback<S, H, L, O>(
    run: &mut Run<'_, S, H, L, O>,
    plans: &[(&str, Vec<UndoStep<'_>>)],
) -> Result<(), RunError>
where
    S: Session,
    H: HistoryStore,
    L: LockStore,
    O: RunObserver,
{
    run.expect(plans.iter().map(|(_, steps)| steps.len()).sum());
    for (ks, steps) in plans {
        run.emit(&RunEvent::Keyspace {
            keyspace: ks,
            of: plans.len(),
            steps: steps.len(),
        })?;
        if steps.is_empty() {
            continue;
        }
        let errors_before = run.errors();
        let mut result = Ok(());
        let mut ran = 0usize;
        for s in steps {
            let action = Action::Undo {
                script: s.undo,
                version: &s.version,
            };
            match run.step(ks, action, "").await {
                Ok(true) => ran += 1,
                Ok(false) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let errors = run.errors() - errors_before;
        run.emit(&RunEvent::KeyspaceDone {
            keyspace: ks,
            ran,
            skipped: 0,
            errors,
            stopped: result.is_err(),
        })?;
        result?;
    }
    Ok(())
}

/// Marks each `(keyspace, row)` script for retry: a REPAIRED row (the original's
/// shape) recorded under the lock, and told to the observers.
pub async fn mark_repaired<S, H, L, O>(
    run: &mut Run<'_, S, H, L, O>,
    scripts: &[(String, HistoryRow)],
) -> Result<(), RunError>
where
    S: Session,
    H: HistoryStore,
    L: LockStore,
    O: RunObserver,
{
    let operator = run.info().operator.clone();
    for (ks, r) in scripts {
        let row = HistoryRow {
            script_type: Some("repair".into()),
            description: Some(format!("Repaired by {operator}").into()),
            checksum: Some("".into()),
            execution_time: Some(0),
            tag: Some("".into()),
            ..run.row(r.script.to_string(), ks, status::REPAIRED)
        };
        run.record(vec![row]).await?;
        run.emit(&RunEvent::Repaired {
            keyspace: ks,
            script: &r.script,
        })?;
    }
    Ok(())
}
