//! Defines the saved plan: the document `deploy --dry-run-output` writes (the original's
//! shape, plus what a later check needs: the tool's version, the cluster's name and a
//! fingerprint of each keyspace's history) and what `deploy --plan` holds a deploy to —
//! the same keyspaces, scripts, order, checksums and actions, against the same history
//! and cluster, by the same tool. Anything else is a refusal that says what changed.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::config::Settings;
use crate::history::state::{fingerprint, HistoryRow};
use crate::plan::KeyspacePlan;
use crate::preflight;
use crate::ui::{self, UserError};

/// What the plan document says besides the plans themselves.
pub(super) struct Context<'a> {
    /// The settings of the run.
    pub(super) settings: &'a Settings,
    /// The cluster's name.
    pub(super) cluster: &'a str,
    /// The history the plans were made from.
    pub(super) rows: &'a [HistoryRow],
    /// The pre-flight's findings, when it ran.
    pub(super) preflight: Option<&'a [preflight::Finding]>,
    /// The schema drift check's answers, when it ran.
    pub(super) schema_drift: Option<&'a Value>,
}

/// The pre-flight findings as JSON.
pub(super) fn findings_value(findings: &[preflight::Finding]) -> Value {
    Value::Array(
        findings
            .iter()
            .map(|f| {
                json!({
                    "keyspace": f.keyspace,
                    "script": f.file,
                    "line": f.line,
                    "reason": f.reason,
                })
            })
            .collect(),
    )
}

/// Applied scripts whose files changed, as JSON.
pub(super) fn drift_value(plans: &[KeyspacePlan<'_>]) -> Value {
    Value::Array(
        plans
            .iter()
            .flat_map(|p| {
                p.drift.iter().map(move |d| {
                    json!({
                        "keyspace": p.keyspace,
                        "script": d.script.filename,
                        "applied_checksum": d.applied_checksum,
                        "file_checksum": d.script.checksum,
                    })
                })
            })
            .collect(),
    )
}

/// The fingerprint of each keyspace's history.
pub(super) fn fingerprints(rows: &[HistoryRow], keyspaces: &[&str]) -> BTreeMap<String, String> {
    keyspaces
        .iter()
        .map(|ks| ((*ks).to_string(), fingerprint(rows, ks)))
        .collect()
}

/// The dry-run plan in the original's shape, plus `preflight`, `cassachange_version`,
/// `cluster_name`, `history` (a fingerprint per keyspace) and `schema_drift`.
pub(super) fn value(plans: &[KeyspacePlan<'_>], cx: &Context<'_>) -> Value {
    let settings = cx.settings;
    let actions: Vec<_> = plans
        .iter()
        .flat_map(|p| {
            p.steps.iter().map(move |s| {
                json!({
                    "action": if s.reason.runs() { "run" } else { "skip" },
                    "script": s.script.filename,
                    "relative_path": s.script.relative_path,
                    "version": s.script.version.as_ref().map(ToString::to_string),
                    "type": s.script.kind.as_str(),
                    "keyspace": p.keyspace,
                    "checksum": s.script.checksum,
                    "reason": s.reason.code(),
                })
            })
        })
        .collect();
    let keyspaces: Vec<&str> = plans.iter().map(|p| p.keyspace.as_str()).collect();
    let mut doc = json!({
        "generated_at": crate::timefmt::format_ms(crate::timefmt::now_ms()).replace(' ', "T") + "Z",
        "profile": settings.profile.clone().unwrap_or_default(),
        "tag": settings.tag.clone().unwrap_or_default(),
        "dry_run": true,
        "keyspaces": settings.keyspaces,
        "root_folder": settings.root_folder.display().to_string(),
        "total_actions": actions.len(),
        "actions": actions,
        "cassachange_version": crate::VERSION,
        "cluster_name": cx.cluster,
        "history": fingerprints(cx.rows, &keyspaces),
    });
    if let Some(findings) = cx.preflight {
        doc["preflight"] = findings_value(findings);
    }
    if let Some(answers) = cx.schema_drift {
        doc["schema_drift"] = answers.clone();
    }
    doc
}

/// The document as the file holds it (secrets redacted value by value).
pub(super) fn text(doc: Value) -> String {
    serde_json::to_string_pretty(&crate::report::redacted(doc)).unwrap_or_default() + "\n"
}

/// Writes the plan to `path`.
pub(super) fn write(path: &Path, text: &str, actions: usize) -> Result<(), UserError> {
    std::fs::write(path, text).map_err(|e| {
        UserError::error(format!(
            "cannot write the plan to '{}': {e}",
            path.display()
        ))
        .hint("pass a writable path to --dry-run-output")
    })?;
    ui::note(format_args!(
        "Dry-run plan written to {} ({actions} actions)",
        path.display()
    ));
    Ok(())
}

/// Reads a saved plan.
pub(super) fn read(path: &Path) -> Result<Value, UserError> {
    let at = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::error(format!("--plan '{at}': cannot read it ({e})"))
            .hint("pass the file that `cassachange deploy --dry-run-output` wrote")
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        UserError::error(format!("--plan '{at}': not JSON ({e})"))
            .hint("pass the file that `cassachange deploy --dry-run-output` wrote")
    })?;
    for field in ["actions", "history", "cassachange_version", "cluster_name"] {
        if doc.get(field).is_none() {
            return Err(UserError::error(format!(
                "--plan '{at}': not a plan cassachange can hold a deploy to (no `{field}`)"
            ))
            .hint(
                "make it with `cassachange deploy --dry-run-output <file>` (this version or \
                 newer); plans of older versions and of the Python tool lack what the check \
                 needs",
            ));
        }
    }
    Ok(doc)
}

/// One action as the comparison sees it.
fn actions(doc: &Value) -> Vec<(String, String, String, String)> {
    let field = |a: &Value, k: &str| a[k].as_str().unwrap_or_default().to_string();
    doc["actions"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    (
                        field(a, "keyspace"),
                        field(a, "script"),
                        field(a, "action"),
                        field(a, "checksum"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What differs between a saved plan and the plan of now: one line each, for people.
pub(super) fn differences(saved: &Value, now: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let s = |doc: &Value, k: &str| doc[k].as_str().unwrap_or_default().to_string();
    for (key, what) in [
        ("cassachange_version", "cassachange"),
        ("cluster_name", "the cluster"),
        ("tag", "the tag"),
    ] {
        if s(saved, key) != s(now, key) {
            out.push(format!(
                "{what} is '{}' now; the plan was made with '{}'",
                s(now, key),
                s(saved, key)
            ));
        }
    }
    if saved["keyspaces"] != now["keyspaces"] {
        out.push(format!(
            "the keyspaces are {} now; the plan is for {}",
            now["keyspaces"], saved["keyspaces"]
        ));
    }
    if let (Some(was), Some(is)) = (saved["history"].as_object(), now["history"].as_object()) {
        for (ks, f) in is {
            if was.get(ks).is_some_and(|w| w != f) {
                out.push(format!(
                    "the history of {ks} changed since the plan (another deploy, rollback or \
                     repair ran)"
                ));
            }
        }
    }
    let (was, is) = (actions(saved), actions(now));
    let key = |a: &(String, String, String, String)| (a.0.clone(), a.1.clone());
    let saved_by: BTreeMap<_, _> = was.iter().map(|a| (key(a), a)).collect();
    let now_by: BTreeMap<_, _> = is.iter().map(|a| (key(a), a)).collect();
    for a in &is {
        match saved_by.get(&key(a)) {
            None => out.push(format!("{} ({}): added since the plan", a.1, a.0)),
            Some(w) if w.3 != a.3 => out.push(format!(
                "{} ({}): the file changed since the plan (checksum {} then, {} now)",
                a.1, a.0, w.3, a.3
            )),
            Some(w) if w.2 != a.2 => out.push(format!(
                "{} ({}): would {} now; the plan says {}",
                a.1, a.0, a.2, w.2
            )),
            Some(_) => {}
        }
    }
    for a in &was {
        if !now_by.contains_key(&key(a)) {
            out.push(format!("{} ({}): gone since the plan", a.1, a.0));
        }
    }
    let order = |list: &[(String, String, String, String)]| {
        list.iter()
            .filter(|a| saved_by.contains_key(&key(a)) && now_by.contains_key(&key(a)))
            .map(key)
            .collect::<Vec<_>>()
    };
    if out.is_empty() && order(&was) != order(&is) {
        out.push("the scripts run in another order now".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(actions: &[(&str, &str, &str, &str)], history: &str) -> Value {
        json!({
            "cassachange_version": "1.0",
            "cluster_name": "c1",
            "tag": "r1",
            "keyspaces": ["ks"],
            "history": { "ks": history },
            "actions": actions.iter().map(|(k, s, a, c)| json!({
                "keyspace": k, "script": s, "action": a, "checksum": c,
            })).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn the_same_plan_has_no_differences_and_each_change_is_one_line() {
        let plan = doc(
            &[
                ("ks", "V1__a.cql", "skip", "a1"),
                ("ks", "V2__b.cql", "run", "b1"),
            ],
            "h1",
        );
        assert!(differences(&plan, &plan.clone()).is_empty());
        let edited = doc(
            &[
                ("ks", "V1__a.cql", "skip", "a1"),
                ("ks", "V2__b.cql", "run", "b2"),
            ],
            "h1",
        );
        assert_eq!(
            differences(&plan, &edited),
            ["V2__b.cql (ks): the file changed since the plan (checksum b1 then, b2 now)"]
        );
        let added = doc(
            &[
                ("ks", "V1__a.cql", "skip", "a1"),
                ("ks", "V2__b.cql", "run", "b1"),
                ("ks", "V3__c.cql", "run", "c1"),
            ],
            "h2",
        );
        assert_eq!(
            differences(&plan, &added),
            [
                "the history of ks changed since the plan (another deploy, rollback or repair ran)",
                "V3__c.cql (ks): added since the plan"
            ]
        );
        let mut other = plan.clone();
        other["cluster_name"] = "c2".into();
        other["cassachange_version"] = "1.1".into();
        assert_eq!(
            differences(&plan, &other),
            [
                "cassachange is '1.1' now; the plan was made with '1.0'",
                "the cluster is 'c2' now; the plan was made with 'c1'"
            ]
        );
        let reordered = doc(
            &[
                ("ks", "V2__b.cql", "run", "b1"),
                ("ks", "V1__a.cql", "skip", "a1"),
            ],
            "h1",
        );
        assert_eq!(
            differences(&plan, &reordered),
            ["the scripts run in another order now"]
        );
    }
}
