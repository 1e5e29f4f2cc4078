//! Defines the health gate of `deploy` and `rollback` (before the lock, in dry runs
//! too): a run with schema changes pending stops on an unhealthy cluster (nodes down,
//! live nodes disagreeing on the schema, or a history keyspace whose replication cannot
//! meet `history_consistency` with the nodes that are up); a run without schema changes
//! stops only on the last. `--wait-healthy <duration>` waits, saying what for;
//! `--allow-unhealthy` goes on with warnings. A run with nothing to do checks nothing.

use std::time::{Duration, Instant};

use cassachange_cassandra::health::{self, Assessment, Problem, Watch};
use cassachange_core::plan::KeyspacePlan;

use crate::config::Settings;
use crate::db::Db;
use crate::ui::{self, UserError};

/// How long a schema disagreement must last to count (a change spreading takes less).
const DISAGREEMENT_GRACE: Duration = Duration::from_secs(5);

/// How the gate was asked to behave (`--allow-unhealthy`, `--wait-healthy`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GateArgs {
    pub allow: bool,
    pub wait: Option<Duration>,
}

impl GateArgs {
    /// From the flags; a malformed duration is a usage error naming the flag.
    pub(crate) fn parse(allow: bool, wait: Option<&str>) -> Result<Self, UserError> {
        let wait = wait
            .map(|w| {
                crate::config::parse_duration(w).map_err(|_| {
                    UserError::error(format!(
                        "--wait-healthy: expected a duration like 30s, 5m or 1h, found '{w}'"
                    ))
                })
            })
            .transpose()?;
        Ok(GateArgs { allow, wait })
    }
}

/// What the gate decided.
pub(crate) struct Verdict {
    /// The gate's findings for `--format json` (`null` when nothing was checked).
    pub value: serde_json::Value,
    /// The refusal, when the run must stop (a dry run: that it would).
    pub refusal: Option<UserError>,
}

impl Verdict {
    /// Nothing checked (a run with nothing to do).
    pub(crate) fn unchecked() -> Self {
        Verdict {
            value: serde_json::Value::Null,
            refusal: None,
        }
    }
}

/// Why the history keyspace cannot be read or written at `history_consistency`, when
/// the cluster's health says so (nodes down, too few replicas up).
pub(crate) async fn unreadable_because(
    db: &Db,
    settings: &Settings,
    history_keyspace: &str,
) -> Option<String> {
    let topology = health::read(db, history_keyspace)
        .await
        .inspect_err(|e| tracing::debug!("the cluster's health could not be read: {e}"))
        .ok()?;
    let a = health::assess(&topology, settings.history_consistency);
    tracing::debug!("health after a failed history read: {a:?}");
    if !a.stops_any_run() {
        return None;
    }
    let reasons: Vec<String> = a
        .problems
        .iter()
        .filter(|p| !matches!(p, Problem::Disagreement(_)))
        .map(Problem::describe)
        .collect();
    Some(reasons.join("; "))
}

/// The refusal of a run whose history could not be read, when the cluster's health
/// explains it (nodes down, too few replicas for `history_consistency`): exit 1 with
/// the reasons, the read's own error as a hint. `None`: health does not explain it.
pub(crate) async fn explain_history_failure(
    db: &Db,
    settings: &Settings,
    history_keyspace: &str,
    error: &crate::db::DbError,
    command: &str,
) -> Option<UserError> {
    let reasons = unreadable_because(db, settings, history_keyspace).await?;
    Some(
        UserError::failure(format!(
            "the cluster is not healthy for the history and lock: {reasons}; the {command} did \
             not start"
        ))
        .hint(format!("the history read failed: {error}"))
        .hint(format!(
            "bring the nodes back (nodetool status), or, for deploys from one datacenter \
             only, set history_consistency: local_quorum (from {})",
            settings.origin("history_consistency")
        )),
    )
}

/// True when a statement of the scripts `plans` would run changes the schema.
pub(crate) fn plans_change_schema(plans: &[KeyspacePlan<'_>]) -> bool {
    plans.iter().any(|p| {
        p.to_run()
            .any(|step| crate::cql::changes_schema(&step.script.content))
    })
}

fn value(a: &Assessment, ms: u128, checked: bool) -> serde_json::Value {
    if !checked {
        return serde_json::Value::Null;
    }
    serde_json::json!({
        "healthy": a.healthy(),
        "problems": a.problems.iter().map(|p| serde_json::json!({
            "kind": p.kind(),
            "message": p.describe(),
        })).collect::<Vec<_>>(),
        "notes": a.notes,
        "checked_ms": u64::try_from(ms).unwrap_or(u64::MAX),
    })
}

fn blocking(a: &Assessment, ddl: bool) -> Vec<&Problem> {
    a.problems
        .iter()
        .filter(|p| ddl || matches!(p, Problem::Consistency(_)))
        .collect()
}

/// Checks the cluster for a run of `command` that has something to run (`ddl`: some
/// statement changes the schema). Waits under `--wait-healthy`.
pub(crate) async fn gate(
    db: &Db,
    settings: &Settings,
    history_keyspace: &str,
    args: GateArgs,
    ddl: bool,
    dry_run: bool,
    command: &str,
) -> Verdict {
    let started = Instant::now();
    let deadline = args.wait.map(|w| started + w);
    let mut waiting_for: Option<Vec<String>> = None;
    // Telling a down node from one up but out of this client's reach takes a 4 s watch
    // of its heartbeat; only a run with schema changes decides differently on it.
    let mut watch = if ddl { Watch::Yes } else { Watch::No };
    loop {
        let phase = Instant::now();
        let topology = match health::read_watching(db, history_keyspace, watch).await {
            Ok(t) => t,
            Err(e) => {
                ui::warn(format_args!(
                    "[health]  the cluster's health could not be read ({e}); going on unchecked"
                ));
                return Verdict {
                    value: serde_json::Value::Null,
                    refusal: None,
                };
            }
        };
        let mut a = health::assess(&topology, settings.history_consistency);
        if topology.unwatched && !blocking(&a, ddl).is_empty() {
            // Counted down unwatched, the replicas fall short: watch before deciding.
            watch = Watch::Yes;
            continue;
        }
        // A disagreement lasting a moment is a schema change spreading (another run's
        // DDL, say): it must last DISAGREEMENT_GRACE to count.
        let grace = Instant::now() + DISAGREEMENT_GRACE;
        while a
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Disagreement(_)))
            && Instant::now() < grace
            && !crate::interrupt::interrupted()
        {
            tokio::time::sleep(Duration::from_millis(300)).await;
            match health::read_watching(db, history_keyspace, watch).await {
                Ok(t) => a = health::assess(&t, settings.history_consistency),
                Err(_) => break,
            }
        }
        let ms = phase.elapsed().as_millis();
        tracing::debug!("health read and assessed in {ms} ms");
        let stops: Vec<String> = blocking(&a, ddl).iter().map(|p| p.describe()).collect();
        let interrupted = crate::interrupt::interrupted();
        let wait_more = !stops.is_empty()
            && !args.allow
            && !dry_run
            && !interrupted
            && deadline.is_some_and(|d| Instant::now() < d);
        if wait_more {
            if waiting_for.as_ref() != Some(&stops) {
                let left =
                    deadline.map_or(0, |d| d.saturating_duration_since(Instant::now()).as_secs());
                ui::note(format_args!(
                    "[health]  waiting up to {left}s (--wait-healthy) for: {}",
                    stops.join("; ")
                ));
                waiting_for = Some(stops);
            }
            // Two seconds, or less when a signal comes.
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                () = crate::interrupt::stop().wait() => {}
            }
            continue;
        }
        for n in &a.notes {
            ui::note(format_args!("[health]  {n}"));
        }
        if waiting_for.is_some() && stops.is_empty() {
            ui::note(format_args!(
                "[health]  healthy after {}s",
                started.elapsed().as_secs()
            ));
        }
        // What does not stop this run is said as a warning.
        for p in a.problems.iter().filter(|p| !blocking(&a, ddl).contains(p)) {
            ui::warn(format_args!(
                "[health]  {} (no schema change pending: going on)",
                p.describe()
            ));
        }
        let value = value(&a, ms, true);
        if stops.is_empty() {
            return Verdict {
                value,
                refusal: None,
            };
        }
        if args.allow {
            for s in &stops {
                ui::warn(format_args!("[health]  {s} (--allow-unhealthy: going on)"));
            }
            return Verdict {
                value,
                refusal: None,
            };
        }
        if interrupted && waiting_for.is_some() {
            return Verdict {
                value,
                refusal: Some(
                    UserError::failure(format!(
                        "interrupted while waiting for the cluster to become healthy ({}); the \
                         {command} did not start",
                        stops.join("; ")
                    ))
                    .status(crate::exit::ExitStatus::Interrupted),
                ),
            };
        }
        let what = if ddl {
            "for schema changes"
        } else {
            "for the history and lock"
        };
        let mut message = format!(
            "the cluster is not healthy {what}: {}; the {command} did not start",
            stops.join("; ")
        );
        if dry_run {
            message = message.replace(
                &format!("; the {command} did not start"),
                &format!("; a {command} would stop before the lock"),
            );
        } else if let Some(w) = args.wait {
            message = message.replace(
                &format!("; the {command} did not start"),
                &format!(
                    "; still after waiting {}s (--wait-healthy {}s); the {command} did not start",
                    started.elapsed().as_secs(),
                    w.as_secs()
                ),
            );
        }
        return Verdict {
            value,
            refusal: Some(UserError::failure(message).hint(format!(
                "check the nodes (nodetool status, nodetool describecluster); wait for them \
                 with --wait-healthy <duration>, or {command} anyway with --allow-unhealthy"
            ))),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_too_few_replicas_stop_a_run_without_schema_changes() {
        let a = Assessment {
            problems: vec![
                Problem::Down(Vec::new()),
                Problem::Disagreement(std::collections::BTreeMap::new()),
                Problem::Consistency("needs 2 of 2".into()),
            ],
            notes: Vec::new(),
        };
        let kinds = |ps: Vec<&Problem>| ps.iter().map(|p| p.kind()).collect::<Vec<_>>();
        assert_eq!(
            kinds(blocking(&a, true)),
            ["nodes_down", "schema_disagreement", "consistency"]
        );
        assert_eq!(kinds(blocking(&a, false)), ["consistency"]);
    }

    #[test]
    fn wait_healthy_takes_a_duration_or_names_the_flag() {
        assert_eq!(
            GateArgs::parse(false, Some("90s")).unwrap().wait,
            Some(Duration::from_secs(90))
        );
        let e = GateArgs::parse(false, Some("soon")).unwrap_err();
        assert_eq!(
            e.message,
            "--wait-healthy: expected a duration like 30s, 5m or 1h, found 'soon'"
        );
    }
}
