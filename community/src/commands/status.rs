//! Defines `status`: the history rows of the target keyspaces (newest first, filtered by
//! `--tag`), then what a deploy would run now and which applied scripts have drifted.

use anyhow::Result;

use super::{connect, tracking};
use crate::cli::StatusArgs;
use crate::config::{SchemaDriftPolicy, Settings};
use crate::exit::ExitStatus;
use crate::history::state::{HistoryRow, KeyspaceHistory};
use crate::history::store::HistoryStore;
use crate::outln;
use crate::plan;
use crate::scripts::discover;
use crate::timefmt::format_ms;
use crate::ui;

/// Runs `status`.
pub(crate) async fn run(args: &StatusArgs, settings: &Settings) -> Result<ExitStatus> {
    let history_ks = settings.require_history_keyspace()?;
    let keyspaces: Vec<&str> = settings.keyspaces.iter().map(String::as_str).collect();
    let db = connect::open(settings, &[history_ks]).await?;
    let table = connect::history_table(&db, settings, history_ks);
    let rows = match table.read_all().await {
        Ok(rows) => rows,
        Err(e) => {
            let mut err = crate::ui::UserError::from(e);
            if let Some(why) = super::health::unreadable_because(&db, settings, history_ks).await {
                err = err.hint(format!("the cluster: {why}"));
            }
            return Err(err.into());
        }
    };

    let mut shown: Vec<&HistoryRow> = rows
        .iter()
        .filter(|r| {
            keyspaces.iter().any(|k| {
                r.keyspace_name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(k))
            })
        })
        .filter(|r| {
            args.tag
                .as_ref()
                .is_none_or(|t| r.tag.as_deref() == Some(t.as_str()))
        })
        .collect();
    shown.sort_by(|a, b| {
        b.installed_on
            .cmp(&a.installed_on)
            .then_with(|| b.script.cmp(&a.script))
    });
    if shown.is_empty() {
        match &args.tag {
            Some(t) => outln!("No migrations found for tag '{t}'."),
            None => outln!("No migrations found."),
        }
    } else {
        print_table(&shown);
    }

    // A freeze says why no deploy will start.
    let frozen = super::runs::freeze_flag(&db, settings, table.keyspace())
        .read()
        .await
        .map_err(crate::ui::UserError::from)?;
    if frozen.is_some() {
        outln!();
        super::repair::print_freeze(frozen.as_ref());
    }

    // Schema drift, beside the scripts' state.
    let schema = if settings.schema_drift == SchemaDriftPolicy::Ignore {
        Vec::new()
    } else {
        let store = connect::schema_records(&db, settings, table.keyspace());
        tracking::check(&db, &store, &rows, &keyspaces, false)
            .await
            .map_err(crate::ui::UserError::from)?
    };
    let schema_of = |ks: &str| schema.iter().find(|d| d.keyspace.eq_ignore_ascii_case(ks));

    let mut json_keyspaces = Vec::new();
    match discover(&settings.root_folder) {
        Ok(found) => {
            for ks in &keyspaces {
                let history = KeyspaceHistory::build(&rows, ks);
                let p = plan::deploy(&found.forward, &found.undo, &history, ks);
                let (always, pending): (Vec<_>, Vec<_>) =
                    p.to_run().partition(|s| s.reason == plan::Reason::Always);
                let blocked = p.blocked();
                if crate::report::json() {
                    json_keyspaces.push(serde_json::json!({
                        "keyspace": ks,
                        "up_to_date": pending.is_empty() && blocked.is_none(),
                        "blocked": blocked.map(|s| serde_json::json!({
                            "script": s.script.filename,
                            "reason": s.reason.code(),
                            "text": s.reason.text(),
                        })),
                        "pending": pending.iter().map(|s| serde_json::json!({
                            "script": s.script.filename,
                            "reason": s.reason.code(),
                            "text": s.reason.text(),
                        })).collect::<Vec<_>>(),
                        "always": always.len(),
                        "drift": p.drift.iter().map(|d| serde_json::json!({
                            "script": d.script.filename,
                            "applied_checksum": d.applied_checksum,
                            "file_checksum": d.script.checksum,
                        })).collect::<Vec<_>>(),
                        "schema_drift": schema_of(ks).map(tracking::value),
                    }));
                }
                outln!();
                if let Some(stop) = blocked {
                    outln!(
                        "{ks}: stopped at {}: a deploy runs nothing from it on until \
                         `cassachange repair --script {}`",
                        stop.script.filename,
                        stop.script.filename
                    );
                    outln!("  {:<44} {}", stop.script.filename, stop.reason.text());
                    if !pending.is_empty() {
                        outln!("  before it, {} script(s) would run:", pending.len());
                        for s in &pending {
                            outln!("  {:<44} {}", s.script.filename, s.reason.text());
                        }
                    }
                } else if pending.is_empty() {
                    outln!(
                        "{ks}: up to date ({} script(s) on disk; {} always-script(s) run on every deploy)",
                        p.steps.len(),
                        always.len()
                    );
                } else {
                    outln!("{ks}: {} script(s) would run on deploy:", pending.len());
                    for s in pending {
                        outln!("  {:<44} {}", s.script.filename, s.reason.text());
                    }
                }
                for d in &p.drift {
                    outln!(
                        "  DRIFT {:<38} changed since applied (applied {}, now {})",
                        d.script.filename,
                        d.applied_checksum,
                        d.script.checksum
                    );
                }
                if let Some(d) = schema_of(ks) {
                    print_schema(d);
                }
            }
        }
        Err(e) => ui::warn(format_args!("{e}; pending scripts and drift are not shown")),
    }
    if crate::report::json() {
        crate::report::emit(
            ExitStatus::Success,
            crate::report::fields([
                ("tag_filter", args.tag.clone().into()),
                (
                    "history",
                    shown
                        .iter()
                        .map(|r| crate::report::history_row(r))
                        .collect::<Vec<_>>()
                        .into(),
                ),
                ("keyspaces", json_keyspaces.into()),
                ("freeze", super::repair::freeze_value(frozen.as_ref())),
            ]),
        );
    }
    Ok(ExitStatus::Success)
}

/// The schema drift check's answer for one keyspace (nothing when it has no record).
fn print_schema(d: &tracking::KeyspaceDrift) {
    match &d.answer {
        tracking::Answer::Clean => outln!(
            "  schema: as recorded{}",
            d.record.as_ref().map_or_else(String::new, |r| format!(
                " (recorded {} by {})",
                format_ms(r.recorded_at),
                r.source
            ))
        ),
        tracking::Answer::Drift(findings) => {
            outln!(
                "  SCHEMA DRIFT: {} change(s) made outside the scripts (`cassachange drift` \
                 shows the CQL to undo them)",
                findings.len()
            );
            for f in findings {
                outln!("    {}", f.message);
            }
        }
        tracking::Answer::Unknown { why, .. } if d.record.is_some() => {
            outln!("  schema: cannot tell: {why}");
        }
        tracking::Answer::Unknown { .. } => {}
    }
}

fn print_table(rows: &[&HistoryRow]) {
    let header = [
        "VERSION",
        "KEYSPACE",
        "TAG",
        "SCRIPT",
        "STATUS",
        "INSTALLED_BY",
        "INSTALLED_ON",
        "EXEC_MS",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.version.as_deref().unwrap_or_default().to_string(),
                r.keyspace_name.as_deref().unwrap_or_default().to_string(),
                r.tag.as_deref().unwrap_or_default().to_string(),
                r.script.to_string(),
                r.status.as_deref().unwrap_or_default().to_string(),
                r.installed_by.as_deref().unwrap_or_default().to_string(),
                format_ms(r.installed_on),
                r.execution_time.map(|t| t.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for c in &cells {
        for (w, v) in width.iter_mut().zip(c) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |c: &[String]| {
        c.iter()
            .zip(width)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    outln!("{}", line(&header.map(String::from)));
    for c in &cells {
        outln!("{}", line(c));
    }
}
