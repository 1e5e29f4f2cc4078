//! Defines `validate`: lint every script offline and report, as text or JSON.

use anyhow::Result;
use serde_json::json;

use crate::check::{check, FileFinding, Report};
use crate::cli::ValidateArgs;
use crate::config::Settings;
use crate::cql::Severity;
use crate::exit::ExitStatus;
use crate::outln;
use crate::scripts::discover;
use crate::ui::UserError;

/// Runs `validate`.
pub(crate) fn run(args: &ValidateArgs, settings: &Settings) -> Result<ExitStatus> {
    let root = &settings.root_folder;
    let found = discover(root).map_err(|e| {
        UserError::error(e.to_string())
            .hint("set root_folder in cassachange.yml or pass --root-folder")
    })?;
    let _ = args;
    let report = check(&found, settings.target());
    let status = if report.errors() > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    if crate::report::json() {
        print_json(&report, &root.display().to_string(), status);
    } else {
        print_text(&report, &root.display().to_string());
    }
    Ok(status)
}

fn print_text(report: &Report<'_>, root: &str) {
    if report.scripts.is_empty() && report.findings.is_empty() {
        outln!("No .cql files found in {root}");
    }
    for (label, tag, severity) in [
        ("WARNINGS:", "WARN ", Severity::Warning),
        ("ERRORS:", "ERR  ", Severity::Error),
    ] {
        let list: Vec<&FileFinding> = report
            .findings
            .iter()
            .filter(|f| f.severity() == severity)
            .collect();
        if list.is_empty() {
            continue;
        }
        outln!("{label}");
        for f in list {
            let place = f
                .finding
                .pos
                .map_or_else(|| f.file.clone(), |p| format!("{}:{p}", f.file));
            outln!("  {tag} {place}: {}", f.finding.message);
            if let Some(h) = &f.finding.hint {
                outln!("        {h}");
            }
            if let Some(src) = &f.source {
                outln!("        → {src}");
            }
        }
        outln!();
    }
    outln!(
        "Validated {} script(s) | {} warning(s) | {} error(s)",
        report.scripts.len(),
        report.warnings(),
        report.errors()
    );
    outln!(
        "{}",
        if report.errors() > 0 {
            "Validation FAILED."
        } else {
            "Validation PASSED."
        }
    );
}

fn print_json(report: &Report<'_>, root: &str, status: ExitStatus) {
    let scripts: Vec<_> = report
        .scripts
        .iter()
        .map(|s| {
            json!({
                "path": s.script.relative_path,
                "type": s.script.kind.as_str(),
                "version": s.script.version.as_ref().map(ToString::to_string),
                "checksum": s.script.checksum,
                "statements": s.statements,
            })
        })
        .collect();
    let findings: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "severity": f.severity(),
                "rule": f.finding.rule,
                "file": f.file,
                "line": f.finding.pos.map(|p| p.line),
                "column": f.finding.pos.map(|p| p.col),
                "message": f.finding.message,
                "hint": f.finding.hint,
                "source": f.source,
            })
        })
        .collect();
    crate::report::emit(
        status,
        crate::report::fields([
            ("root_folder", root.into()),
            ("passed", (report.errors() == 0).into()),
            (
                "summary",
                json!({
                    "scripts": report.scripts.len(),
                    "warnings": report.warnings(),
                    "errors": report.errors(),
                }),
            ),
            ("scripts", scripts.into()),
            ("findings", findings.into()),
        ]),
    );
}
