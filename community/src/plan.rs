//! Defines the plan: a pure function from (scripts, history) to the ordered actions of a
//! deploy or rollback, each with its reason. Deploy executes a plan and `--dry-run`
//! prints one; both come from here, so they cannot disagree.

use std::collections::BTreeMap;

use crate::history::state::{KeyspaceHistory, State};
use crate::scripts::{Script, ScriptKind};
use crate::version::Version;

/// Why a script runs or is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A versioned script never applied.
    Pending,
    /// A versioned script never applied, below the highest applied version.
    PendingOutOfOrder {
        /// The highest applied version.
        highest: String,
    },
    /// A versioned script whose last run failed.
    RetryFailed,
    /// A failed versioned script marked for retry by `repair`.
    RetryRepaired,
    /// A versioned script rolled back since it was applied: it is applied again
    /// (the original never re-applied such versions; this tool does, loudly).
    ReapplyRolledBack {
        /// When it was rolled back (ms).
        at: i64,
        /// The highest applied version, when it is above this one (the re-apply then
        /// runs after newer versions).
        above: Option<String>,
    },
    /// A repeatable script never run.
    New,
    /// A repeatable script whose checksum changed (or whose last run failed).
    ChecksumChanged,
    /// An always script.
    Always,
    /// Skipped: the version is applied.
    AlreadyApplied,
    /// Skipped: the repeatable script is unchanged.
    ChecksumUnchanged,
    /// Not run, and the keyspace stops here: a run started it and ended without
    /// recording an outcome, so some statements may have run; `repair` marks it for retry.
    Interrupted {
        /// The run that started it.
        run_id: String,
        /// When it started (ms).
        at: i64,
    },
}

impl Reason {
    /// True when the script runs.
    pub fn runs(&self) -> bool {
        !matches!(
            self,
            Reason::AlreadyApplied | Reason::ChecksumUnchanged | Reason::Interrupted { .. }
        )
    }

    /// True when the keyspace stops at this script (nothing after it runs).
    pub fn blocks(&self) -> bool {
        matches!(self, Reason::Interrupted { .. })
    }

    /// A stable code for JSON plans (the skip codes are the Python tool's).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Pending => "pending",
            Reason::PendingOutOfOrder { .. } => "pending_out_of_order",
            Reason::RetryFailed => "previously_failed",
            Reason::RetryRepaired => "repaired",
            Reason::ReapplyRolledBack { .. } => "rolled_back",
            Reason::New => "new",
            Reason::ChecksumChanged => "checksum_changed",
            Reason::Always => "always",
            Reason::AlreadyApplied => "already_applied",
            Reason::ChecksumUnchanged => "checksum_unchanged",
            Reason::Interrupted { .. } => "interrupted",
        }
    }

    /// Words for people.
    pub fn text(&self) -> String {
        match self {
            Reason::Pending => "pending".into(),
            Reason::PendingOutOfOrder { highest } => {
                format!("pending, below applied version {highest} (out of order)")
            }
            Reason::RetryFailed => "failed last time, retrying".into(),
            Reason::RetryRepaired => "marked for retry by repair".into(),
            Reason::ReapplyRolledBack { at, above } => {
                let when = crate::timefmt::format_ms(*at);
                match above {
                    Some(h) => {
                        format!("rolled back {when}, will re-apply (after newer version {h})")
                    }
                    None => format!("rolled back {when}, will re-apply"),
                }
            }
            Reason::New => "new".into(),
            Reason::ChecksumChanged => "checksum changed".into(),
            Reason::Always => "always".into(),
            Reason::AlreadyApplied => "already applied".into(),
            Reason::ChecksumUnchanged => "checksum unchanged".into(),
            Reason::Interrupted { run_id, at } => format!(
                "interrupted: run {run_id} started it at {} and recorded no outcome; some of \
                 its statements may have run",
                crate::timefmt::format_ms(*at)
            ),
        }
    }
}

/// One script in a plan.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    /// The script.
    pub script: &'a Script,
    /// Why it runs or is skipped.
    pub reason: Reason,
}

/// An applied versioned script whose file changed since.
#[derive(Debug, Clone)]
pub struct Drift<'a> {
    /// The script on disk.
    pub script: &'a Script,
    /// The checksum recorded when it was applied.
    pub applied_checksum: String,
}

/// The plan for one keyspace.
#[derive(Debug, Clone)]
pub struct KeyspacePlan<'a> {
    /// The keyspace.
    pub keyspace: String,
    /// Every forward script in execution order.
    pub steps: Vec<Step<'a>>,
    /// Applied versioned scripts changed on disk.
    pub drift: Vec<Drift<'a>>,
}

impl KeyspacePlan<'_> {
    /// The steps that run: none after a script that blocks the keyspace.
    pub fn to_run(&self) -> impl Iterator<Item = &Step<'_>> {
        self.steps
            .iter()
            .take_while(|s| !s.reason.blocks())
            .filter(|s| s.reason.runs())
    }

    /// Number of scripts skipped.
    pub fn skipped(&self) -> usize {
        self.steps.iter().filter(|s| !s.reason.runs()).count()
    }
}

/// The highest applied version in a history, if any.
pub fn highest_applied(history: &KeyspaceHistory) -> Option<Version> {
    history
        .versions
        .iter()
        .filter(|(_, e)| e.state == State::Applied)
        .filter_map(|(v, _)| Version::parse(v).ok())
        .max()
}

/// `Reason::Interrupted` when a run started `file` and recorded no outcome since (an
/// intent with no history row after it, not yet marked by `repair --script`).
pub fn interrupted_reason(history: &KeyspaceHistory, file: &str) -> Option<Reason> {
    history
        .files
        .get(file)
        .filter(|e| e.state == State::Interrupted)
        .map(interrupted)
}

/// The run that left `e` interrupted, and when it started it.
fn interrupted(e: &crate::history::state::Entry) -> Reason {
    Reason::Interrupted {
        run_id: e.last.run_id.as_deref().unwrap_or("?").to_string(),
        at: e.last.installed_on,
    }
}

/// Plans a deploy of `scripts` (forward scripts in execution order) into `keyspace`.
pub fn deploy<'a>(
    scripts: &'a [Script],
    history: &KeyspaceHistory,
    keyspace: &str,
) -> KeyspacePlan<'a> {
    let highest = highest_applied(history);
    let mut steps = Vec::with_capacity(scripts.len());
    let mut drift = Vec::new();
    for script in scripts {
        if script.kind == ScriptKind::Undo {
            continue;
        }
        if let Some(reason) = interrupted_reason(history, &script.filename) {
            steps.push(Step { script, reason });
            continue;
        }
        let reason = match script.kind {
            ScriptKind::Versioned => {
                let v = script
                    .version
                    .as_ref()
                    .expect("versioned scripts have versions");
                match history.versions.get(v.as_str()) {
                    Some(e) if e.state == State::Applied => {
                        let applied = e.last_success.as_ref().and_then(|r| r.checksum.as_deref());
                        if let Some(sum) =
                            applied.filter(|s| !s.is_empty() && *s != script.checksum)
                        {
                            drift.push(Drift {
                                script,
                                applied_checksum: sum.to_string(),
                            });
                        }
                        Reason::AlreadyApplied
                    }
                    Some(e) if e.state == State::Interrupted => interrupted(e),
                    Some(e) if e.state == State::Failed => Reason::RetryFailed,
                    Some(e) if e.state == State::Repaired => Reason::RetryRepaired,
                    Some(e) if e.state == State::RolledBack => Reason::ReapplyRolledBack {
                        at: e.last.installed_on,
                        above: highest.as_ref().filter(|h| *h > v).map(ToString::to_string),
                    },
                    _ => match &highest {
                        Some(h) if h > v => Reason::PendingOutOfOrder {
                            highest: h.to_string(),
                        },
                        _ => Reason::Pending,
                    },
                }
            }
            ScriptKind::Repeatable => match history.applied_checksum(&script.filename) {
                None => Reason::New,
                Some(sum)
                    if sum == script.checksum
                        && history
                            .files
                            .get(&script.filename)
                            .is_some_and(|e| e.state == State::Applied) =>
                {
                    Reason::ChecksumUnchanged
                }
                Some(_) => Reason::ChecksumChanged,
            },
            ScriptKind::Always => Reason::Always,
            ScriptKind::Undo => continue,
        };
        steps.push(Step { script, reason });
    }
    KeyspacePlan {
        keyspace: keyspace.to_string(),
        steps,
        drift,
    }
}

/// What a rollback undoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The single highest applied version.
    Latest,
    /// Every applied version numerically above this one (`2024.01.05` is not above
    /// `2024.1.5`).
    Above(Version),
    /// Every applied version whose applying run carried this tag.
    Tag(String),
}

/// One version to undo, newest first.
#[derive(Debug, Clone)]
pub struct UndoStep<'a> {
    /// The version being undone.
    pub version: Version,
    /// Its undo script.
    pub undo: &'a Script,
}

/// Plans a rollback of `keyspace`: applied versions selected by `target`, in reverse
/// version order, each with its undo script; or the selected versions that have no
/// undo script (then nothing may be undone).
pub fn rollback<'a>(
    undo: &BTreeMap<&Version, &'a Script>,
    history: &KeyspaceHistory,
    target: &RollbackTarget,
) -> Result<Vec<UndoStep<'a>>, Vec<Version>> {
    let mut applied: Vec<(Version, Option<&str>)> = history
        .versions
        .iter()
        .filter(|(_, e)| e.state == State::Applied)
        .filter_map(|(v, e)| {
            let tag = e.last_success.as_ref().and_then(|r| r.tag.as_deref());
            Some((Version::parse(v).ok()?, tag))
        })
        .collect();
    applied.sort_by(|a, b| b.0.cmp(&a.0));
    let chosen: Vec<Version> = match target {
        RollbackTarget::Latest => applied.into_iter().take(1).map(|(v, _)| v).collect(),
        RollbackTarget::Above(min) => applied
            .into_iter()
            .filter(|(v, _)| v.cmp_numeric(min) == std::cmp::Ordering::Greater)
            .map(|(v, _)| v)
            .collect(),
        RollbackTarget::Tag(t) => applied
            .into_iter()
            .filter(|(_, tag)| *tag == Some(t.as_str()))
            .map(|(v, _)| v)
            .collect(),
    };
    let missing: Vec<Version> = chosen
        .iter()
        .filter(|v| !undo.contains_key(v))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    Ok(chosen
        .into_iter()
        .filter_map(|version| {
            let undo = undo.get(&version).copied()?;
            Some(UndoStep { version, undo })
        })
        .collect())
}

#[cfg(test)]
mod tests;
