//! Defines the plan: a pure function from (scripts, history) to the ordered actions of a
//! deploy or rollback, each with its reason. Deploy executes a plan, `--dry-run` prints
//! one and `status` reads one; all come from here, so they cannot disagree.
//!
//! The blocked-script rules live here too: a script a run started and never recorded
//! (or stopped inside after a statement not safe to repeat) stops its keyspace — the
//! deploy plan stops there, and a rollback of that keyspace is refused — until `repair
//! --script` marks it.

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
    /// recording an outcome (killed, its lease lost), or stopped inside it after a
    /// statement not safe to repeat had run; `repair --script` marks it for retry.
    Interrupted {
        /// The run that started it.
        run_id: String,
        /// When it started, or when the run stopped in it (ms).
        at: i64,
        /// How the run stopped in it, when it recorded that (`None`: it died).
        stopped: Option<String>,
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
            Reason::Interrupted {
                run_id,
                at,
                stopped: None,
            } => format!(
                "interrupted: run {run_id} started it at {} and recorded no outcome; some of \
                 its statements may have run",
                crate::timefmt::format_ms(*at)
            ),
            Reason::Interrupted {
                run_id,
                at,
                stopped: Some(how),
            } => format!(
                "interrupted: run {run_id} stopped in it at {}: {how}",
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
    /// The script that stops this keyspace, if one does: nothing from it on runs.
    pub fn blocked(&self) -> Option<&Step<'_>> {
        self.steps.iter().find(|s| s.reason.blocks())
    }

    /// The steps that run: none after a script that blocks the keyspace.
    pub fn to_run(&self) -> impl Iterator<Item = &Step<'_>> {
        self.steps
            .iter()
            .take_while(|s| !s.reason.blocks())
            .filter(|s| s.reason.runs())
    }

    /// Number of scripts skipped: those before the script that blocks the keyspace (if
    /// one does) that do not run; that script and the ones after it are not reached.
    pub fn skipped(&self) -> usize {
        self.steps
            .iter()
            .take_while(|s| !s.reason.blocks())
            .filter(|s| !s.reason.runs())
            .count()
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

/// The run that left `e` interrupted, when, and how it stopped (when it said).
fn interrupted(e: &crate::history::state::Entry) -> Reason {
    Reason::Interrupted {
        run_id: e.last.run_id.as_deref().unwrap_or("?").to_string(),
        at: e.last.installed_on,
        stopped: e
            .last
            .description
            .as_deref()
            .filter(|d| !d.is_empty() && *d != crate::history::state::NO_OUTCOME)
            .map(str::to_string),
    }
}

/// Plans a deploy into `keyspace` of `forward` (forward scripts in execution order);
/// `undo` scripts only matter when one was interrupted: an undo script a rollback
/// started and never recorded stops the keyspace before anything runs (its version
/// reads as applied, half undone maybe).
pub fn deploy<'a>(
    forward: &'a [Script],
    undo: &'a [Script],
    history: &KeyspaceHistory,
    keyspace: &str,
) -> KeyspacePlan<'a> {
    let highest = highest_applied(history);
    let mut steps: Vec<Step<'a>> = undo
        .iter()
        .filter_map(|script| {
            interrupted_reason(history, &script.filename).map(|reason| Step { script, reason })
        })
        .collect();
    steps.reserve(forward.len());
    let mut drift = Vec::new();
    for script in forward {
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

/// Why nothing of a keyspace may be rolled back.
#[derive(Debug, Clone)]
pub enum RollbackRefusal<'a> {
    /// Scripts (forward or undo) a run left unfinished: undoing anything now could
    /// undo an older version under a half-applied newer one, or run a half-run undo
    /// again from its start.
    Interrupted(Vec<Step<'a>>),
    /// Selected versions without an undo script.
    Missing(Vec<Version>),
}

/// Plans a rollback of `keyspace`: applied versions selected by `target`, in reverse
/// version order, each with its undo script. Refused when any of `scripts` (every
/// script on disk) is interrupted in this keyspace, or when a selected version has no
/// undo script (then nothing may be undone).
pub fn rollback<'a>(
    scripts: impl IntoIterator<Item = &'a Script>,
    undo: &BTreeMap<&Version, &'a Script>,
    history: &KeyspaceHistory,
    target: &RollbackTarget,
) -> Result<Vec<UndoStep<'a>>, RollbackRefusal<'a>> {
    let interrupted: Vec<Step<'a>> = scripts
        .into_iter()
        .filter_map(|script| {
            interrupted_reason(history, &script.filename).map(|reason| Step { script, reason })
        })
        .collect();
    if !interrupted.is_empty() {
        return Err(RollbackRefusal::Interrupted(interrupted));
    }
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
        return Err(RollbackRefusal::Missing(missing));
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
