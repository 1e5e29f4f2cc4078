//! Defines the checks `validate` runs over a whole script tree: file-level rules
//! (names, duplicate versions, orphaned undo scripts) plus the CQL linter per script.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::cql::{lint_script_for, Finding, Rule, Severity, Target};
use crate::scripts::{Discovery, Script, ScriptError, ScriptKind};

/// One finding with the file it is in.
#[derive(Debug, Clone)]
pub struct FileFinding {
    /// Path relative to the root folder.
    pub file: String,
    /// The finding.
    pub finding: Finding,
    /// The source line at the finding's position, trimmed.
    pub source: Option<String>,
}

impl FileFinding {
    /// Severity of the finding.
    pub fn severity(&self) -> Severity {
        self.finding.rule.severity()
    }
}

/// A script as `validate --format json` lists it.
#[derive(Debug, Clone)]
pub struct ScriptSummary<'a> {
    /// The script.
    pub script: &'a Script,
    /// Number of statements.
    pub statements: usize,
}

/// The result of checking a tree.
#[derive(Debug, Default)]
pub struct Report<'a> {
    /// Every recognised script, by relative path.
    pub scripts: Vec<ScriptSummary<'a>>,
    /// Every finding, by file then position.
    pub findings: Vec<FileFinding>,
}

impl Report<'_> {
    /// Number of error findings.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity() == Severity::Error)
            .count()
    }

    /// Number of warning findings.
    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }
}

fn file_level(file: &str, rule: Rule, message: String, hint: Option<String>) -> FileFinding {
    FileFinding {
        file: file.to_string(),
        finding: Finding {
            rule,
            pos: None,
            message,
            hint,
        },
        source: None,
    }
}

/// Runs every check over a discovered tree, with the rules of `target`.
pub fn check(d: &Discovery, target: Target) -> Report<'_> {
    let mut report = Report::default();
    for rel in &d.unrecognised {
        report.findings.push(file_level(
            rel,
            Rule::UnrecognisedName,
            "unrecognised file name; the file will be ignored".into(),
            Some("name scripts V<version>__<desc>.cql, U<version>__<desc>.cql, R__<desc>.cql or A__<desc>.cql".into()),
        ));
    }
    for e in &d.errors {
        let (ScriptError::Unreadable { path, .. } | ScriptError::NotUtf8 { path, .. }) = e;
        let message = e.to_string();
        let message = message
            .strip_prefix(&format!("{path}: "))
            .unwrap_or(&message)
            .to_string();
        report
            .findings
            .push(file_level(path, Rule::Unreadable, message, None));
    }
    duplicates(d, &mut report);

    let mut all: Vec<&Script> = d.all().collect();
    all.sort_by(|a, b| a.relative_path.cmp(&b.relative_path));
    let lints = crate::par::map(&all, |s| lint_script_for(&s.content, target));
    for (script, lint) in all.into_iter().zip(lints) {
        for finding in lint.findings {
            let source = finding
                .pos
                .and_then(|p| source_line(&script.content, p.line));
            report.findings.push(FileFinding {
                file: script.relative_path.clone(),
                finding,
                source,
            });
        }
        report.scripts.push(ScriptSummary {
            script,
            statements: lint.statements,
        });
    }
    report.findings.sort_by(|a, b| {
        a.file
            .cmp(&b.file)
            .then_with(|| a.finding.pos.cmp(&b.finding.pos))
    });
    report
}

fn duplicates(d: &Discovery, report: &mut Report<'_>) {
    // Versions among V scripts, and among U scripts, compared by number.
    for kind in [ScriptKind::Versioned, ScriptKind::Undo] {
        let mut seen: HashMap<String, &Script> = HashMap::new();
        let list = if kind == ScriptKind::Undo {
            &d.undo
        } else {
            &d.forward
        };
        for s in list.iter().filter(|s| s.kind == kind) {
            let v = s.version.as_ref().expect("versioned scripts have versions");
            let Some(first) = seen.get(&v.numeric_key()) else {
                seen.insert(v.numeric_key(), s);
                continue;
            };
            let fv = first.version.as_ref().expect("versioned");
            let message = if fv == v {
                format!(
                    "duplicate version {v}: {} has the same version",
                    first.relative_path
                )
            } else {
                format!(
                    "version {v} equals version {fv} of {} (leading zeros do not count)",
                    first.relative_path
                )
            };
            report.findings.push(file_level(
                &s.relative_path,
                Rule::DuplicateVersion,
                message,
                Some("give every versioned script its own version".into()),
            ));
        }
    }
    // Orphaned undo scripts.
    let forward_versions: HashSet<_> = d
        .forward
        .iter()
        .filter_map(|s| s.version.as_ref())
        .collect();
    for u in &d.undo {
        let v = u.version.as_ref().expect("undo scripts have versions");
        if !forward_versions.contains(v) {
            report.findings.push(file_level(
                &u.relative_path,
                Rule::OrphanUndo,
                format!("undo script has no matching versioned script V{v}__*.cql"),
                Some("an undo script's version must equal its V script's version exactly".into()),
            ));
        }
    }
    // File names: history rows are keyed by file name.
    let mut names: BTreeMap<&str, &Script> = BTreeMap::new();
    for s in d.all() {
        if let Some(first) = names.get(s.filename.as_str()) {
            if s.kind != ScriptKind::Versioned && s.kind != ScriptKind::Undo {
                report.findings.push(file_level(
                    &s.relative_path,
                    Rule::DuplicateName,
                    format!(
                        "file name {} is also used by {}",
                        s.filename, first.relative_path
                    ),
                    Some("history is keyed by file name: rename one of them".into()),
                ));
            }
        } else {
            names.insert(&s.filename, s);
        }
    }
}

fn source_line(content: &str, line: u32) -> Option<String> {
    let text = content
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?
        .trim();
    if text.is_empty() {
        return None;
    }
    Some(if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripts::discover;

    fn rules(files: &[(&str, &str)]) -> Vec<(String, Rule)> {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let d = discover(dir.path()).unwrap();
        check(&d, crate::cql::Target::Cassandra)
            .findings
            .into_iter()
            .map(|f| (f.file, f.finding.rule))
            .collect()
    }

    #[test]
    fn file_level_rules_valid_and_invalid() {
        let ok = "SELECT * FROM t;\n";
        // Valid: distinct versions, a matching undo, distinct repeatable names.
        assert_eq!(
            rules(&[
                ("a/V1__x.cql", ok),
                ("b/V2__y.cql", ok),
                ("U2__y.cql", ok),
                ("a/R__r.cql", ok),
                ("b/R__s.cql", ok)
            ]),
            []
        );
        assert_eq!(
            rules(&[("a/V1__x.cql", ok), ("b/V1__y.cql", ok)]),
            [("b/V1__y.cql".to_string(), Rule::DuplicateVersion)]
        );
        assert_eq!(
            rules(&[("V1.2__x.cql", ok), ("V1.02__y.cql", ok)]),
            [("V1.2__x.cql".to_string(), Rule::DuplicateVersion)],
            "same number, different spelling"
        );
        assert_eq!(
            rules(&[("V1__x.cql", ok), ("U2__y.cql", ok)]),
            [("U2__y.cql".to_string(), Rule::OrphanUndo)]
        );
        assert_eq!(
            rules(&[("a/R__r.cql", ok), ("b/R__r.cql", ok)]),
            [("b/R__r.cql".to_string(), Rule::DuplicateName)]
        );
        assert_eq!(
            rules(&[("notes.cql", ok)]),
            [("notes.cql".to_string(), Rule::UnrecognisedName)]
        );
    }
}
