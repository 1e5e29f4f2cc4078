//! Defines the immutable audit log: `{history_keyspace}.audit_log` (spec §27), created on
//! first use; one INSERT per event, never an UPDATE or DELETE; and the `audit` command.

// The 1.0 simulation (`sim-older`) has no commands: the `audit` command goes unused there.
#![cfg_attr(feature = "sim-older", allow(dead_code))]

use std::collections::HashSet;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

use cassachange_plugin_api::{
    AuditRecord, CommandOutput, HostRef, RStr, RString, RVec, Rows, Value,
};

fn exec(host: &HostRef<'_>, cql: &str, values: Vec<Value>) -> Result<Rows, String> {
    host.execute(RStr::from_str(cql), RVec::from(values))
        .into_result()
        .map_err(RString::into_string)
}

fn check_name(keyspace: &str) -> Result<(), String> {
    let ok = keyspace
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && keyspace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(())
        .ok_or_else(|| format!("invalid history keyspace name '{keyspace}'"))
}

/// Creates `audit_log` once per keyspace per process.
fn ensure_table(host: &HostRef<'_>, keyspace: &str) -> Result<(), String> {
    static DONE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let done = DONE.get_or_init(|| Mutex::new(HashSet::new()));
    if done.lock().map_err(|e| e.to_string())?.contains(keyspace) {
        return Ok(());
    }
    exec(
        host,
        &format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.audit_log (event_time timestamp, run_id text, \
             event_type text, operator text, hostname text, keyspace_name text, script text, \
             status text, detail text, PRIMARY KEY (run_id, event_time)) \
             WITH CLUSTERING ORDER BY (event_time ASC)"
        ),
        vec![],
    )?;
    done.lock()
        .map_err(|e| e.to_string())?
        .insert(keyspace.to_string());
    Ok(())
}

fn insert(ks: &str) -> String {
    format!(
        "INSERT INTO {ks}.audit_log (event_time, run_id, event_type, operator, hostname, keyspace_name, \
         script, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
}

fn values(r: &AuditRecord) -> Vec<Value> {
    let text = |s: &RString| Value::Text(s.clone());
    vec![
        Value::Timestamp(r.event_time_ms),
        text(&r.run_id),
        text(&r.event_type),
        text(&r.operator),
        text(&r.hostname),
        text(&r.keyspace),
        text(&r.script),
        text(&r.status),
        text(&r.detail),
    ]
}

/// Appends one event.
pub(crate) fn record(host: &HostRef<'_>, r: &AuditRecord) -> Result<(), String> {
    let ks = r.history_keyspace.as_str();
    check_name(ks)?;
    ensure_table(host, ks)?;
    exec(host, &insert(ks), values(r))
        .map(drop)
        .map_err(|e| format!("writing {} to {ks}.audit_log: {e}", r.event_type))
}

/// Appends several events, one row each, in one host call per history keyspace.
pub(crate) fn record_batch(host: &HostRef<'_>, records: &[AuditRecord]) -> Result<(), String> {
    let mut by_keyspace: Vec<(&str, Vec<&AuditRecord>)> = Vec::new();
    for r in records {
        let ks = r.history_keyspace.as_str();
        match by_keyspace.iter_mut().find(|(k, _)| *k == ks) {
            Some((_, list)) => list.push(r),
            None => by_keyspace.push((ks, vec![r])),
        }
    }
    for (ks, list) in by_keyspace {
        check_name(ks)?;
        ensure_table(host, ks)?;
        let rows: RVec<RVec<Value>> = list.iter().map(|r| RVec::from(values(r))).collect();
        host.execute_many(RStr::from_str(&insert(ks)), rows)
            .into_result()
            .map_err(|e| {
                let first = list.first().map_or("", |r| r.event_type.as_str());
                format!(
                    "writing {} event(s) from {first} on to {ks}.audit_log: {e}",
                    list.len()
                )
            })?;
    }
    Ok(())
}

struct Args {
    history_keyspace: String,
    limit: usize,
    run_id: Option<String>,
    keyspaces: Vec<String>,
    json: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        history_keyspace: String::new(),
        limit: 50,
        run_id: None,
        keyspaces: Vec::new(),
        json: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--history-keyspace" => a.history_keyspace.clone_from(value),
            "--limit" => {
                a.limit = value
                    .parse()
                    .map_err(|_| format!("--limit: '{value}' is not a number"))?;
            }
            "--run-id" => a.run_id = Some(value.clone()),
            "--keyspace" => a.keyspaces.push(value.clone()),
            "--format" => a.json = value == "json",
            other => return Err(format!("unknown argument {other}")),
        }
    }
    check_name(&a.history_keyspace)?;
    // Names are unquoted in the CQL: CQL and system_schema read them in lower case.
    a.history_keyspace = a.history_keyspace.to_ascii_lowercase();
    Ok(a)
}

fn cell(rows: &Rows, row: usize, col: &str) -> Option<Value> {
    let i = rows.columns.iter().position(|c| c.as_str() == col)?;
    rows.rows.get(row)?.get(i).cloned()
}

fn text_of(v: Option<Value>) -> String {
    match v {
        Some(Value::Text(s)) => s.into_string(),
        _ => String::new(),
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` UTC (days-to-civil, Howard Hinnant).
fn format_ms(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{milli:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The `audit` command: newest first, `--limit`, `--run-id`, `--keyspace`.
pub(crate) fn command(host: &HostRef<'_>, args: &[String]) -> Result<CommandOutput, String> {
    let a = parse(args)?;
    let ks = &a.history_keyspace;
    let exists = exec(
        host,
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'audit_log'",
        vec![Value::Text(ks.as_str().into())],
    )?;
    if exists.rows.is_empty() {
        if a.json {
            return Ok(CommandOutput {
                stdout: "[]\n".into(),
                exit_code: 0,
            });
        }
        return Ok(CommandOutput {
            stdout: format!("No audit events: {ks}.audit_log does not exist yet (it is created by the first audited run).\n").into(),
            exit_code: 0,
        });
    }
    let cols =
        "event_time, run_id, event_type, operator, hostname, keyspace_name, script, status, detail";
    let rows = match &a.run_id {
        Some(r) => exec(
            host,
            &format!("SELECT {cols} FROM {ks}.audit_log WHERE run_id = ?"),
            vec![Value::Text(r.as_str().into())],
        )?,
        None => exec(host, &format!("SELECT {cols} FROM {ks}.audit_log"), vec![])?,
    };
    let mut events: Vec<(i64, [String; 6], serde_json::Value)> = (0..rows.rows.len())
        .filter_map(|i| {
            let Some(Value::Timestamp(t)) = cell(&rows, i, "event_time") else {
                return None;
            };
            let keyspace = text_of(cell(&rows, i, "keyspace_name"));
            if !a.keyspaces.is_empty()
                && !a
                    .keyspaces
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(&keyspace))
            {
                return None;
            }
            let script = text_of(cell(&rows, i, "script"));
            let status = text_of(cell(&rows, i, "status"));
            let full_detail = text_of(cell(&rows, i, "detail"));
            let run_id = text_of(cell(&rows, i, "run_id"));
            let json = serde_json::json!({
                "event_time": format_ms(t),
                "event_time_ms": t,
                "run_id": run_id,
                "event_type": text_of(cell(&rows, i, "event_type")),
                "operator": text_of(cell(&rows, i, "operator")),
                "hostname": text_of(cell(&rows, i, "hostname")),
                "keyspace": keyspace,
                "script": script,
                "status": status,
                "detail": full_detail,
            });
            let detail = [script, status, full_detail]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let run: String = run_id.chars().take(8).collect();
            Some((
                t,
                [
                    format_ms(t),
                    run,
                    text_of(cell(&rows, i, "event_type")),
                    text_of(cell(&rows, i, "operator")),
                    keyspace,
                    detail,
                ],
                json,
            ))
        })
        .collect();
    events.sort_by(|x, y| y.0.cmp(&x.0).then_with(|| y.1[2].cmp(&x.1[2])));
    events.truncate(a.limit);
    if a.json {
        let list: Vec<&serde_json::Value> = events.iter().map(|e| &e.2).collect();
        return Ok(CommandOutput {
            stdout: (serde_json::to_string(&list).map_err(|e| e.to_string())? + "\n").into(),
            exit_code: 0,
        });
    }
    if events.is_empty() {
        return Ok(CommandOutput {
            stdout: "No audit events match.\n".into(),
            exit_code: 0,
        });
    }
    let header = [
        "EVENT_TIME",
        "RUN_ID",
        "EVENT_TYPE",
        "OPERATOR",
        "KEYSPACE",
        "DETAIL",
    ]
    .map(String::from);
    let mut width = header.clone().map(|h| h.chars().count());
    for (_, e, _) in &events {
        for (w, v) in width.iter_mut().zip(e) {
            *w = (*w).max(v.chars().count());
        }
    }
    let mut out = String::new();
    for line in std::iter::once(&header).chain(events.iter().map(|(_, e, _)| e)) {
        let cells: Vec<String> = line
            .iter()
            .zip(width)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    Ok(CommandOutput {
        stdout: out.into(),
        exit_code: 0,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_milliseconds() {
        assert_eq!(
            super::format_ms(1_710_513_201_042),
            "2024-03-15 14:33:21.042"
        );
    }
}
