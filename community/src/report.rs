//! Defines the JSON documents of `--format json`: one document per command on stdout
//! (the human lines go to stderr instead), all sharing one envelope:
//!
//! ```json
//! { "schema_version": 1, "command": "deploy", "cassachange_version": "1.1.0",
//!   "ok": true, "exit_code": 0, ...the command's fields... }
//! ```
//!
//! An error is a document too: `"ok": false`, the exit code, and
//! `"error": {"message": …, "hints": […]}`; exit codes are the same as in text mode.
//! Fields are only ever added within a schema version. The dry-run plan file
//! (`--dry-run-output`) keeps the original tool's shape.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::exit::ExitStatus;
use crate::history::state::HistoryRow;
use crate::timefmt::format_ms;

/// The version of the documents' shape.
pub const SCHEMA_VERSION: u32 = 1;

static JSON: AtomicBool = AtomicBool::new(false);
static EMITTED: AtomicBool = AtomicBool::new(false);
static COMMAND: Mutex<&'static str> = Mutex::new("");

/// Turns JSON mode on for this process (human lines then go to stderr).
pub fn set_json(on: bool, command: &'static str) {
    JSON.store(on, Ordering::SeqCst);
    *COMMAND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = command;
}

/// True in JSON mode.
pub fn json() -> bool {
    JSON.load(Ordering::SeqCst)
}

/// True once this process wrote its document.
pub fn emitted() -> bool {
    EMITTED.load(Ordering::SeqCst)
}

fn command() -> &'static str {
    *COMMAND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The envelope around a command's fields.
pub fn document(status: ExitStatus, fields: Map<String, Value>) -> Value {
    let mut doc = Map::new();
    doc.insert("schema_version".into(), SCHEMA_VERSION.into());
    doc.insert("command".into(), command().into());
    doc.insert("cassachange_version".into(), crate::VERSION.into());
    doc.insert("ok".into(), (status == ExitStatus::Success).into());
    doc.insert("exit_code".into(), status.code().into());
    for (k, v) in fields {
        doc.insert(k, v);
    }
    Value::Object(doc)
}

/// Writes the command's document to stdout (once; later calls are ignored). Secrets
/// are redacted as everywhere else.
pub fn emit(status: ExitStatus, fields: Map<String, Value>) {
    if EMITTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let text =
        serde_json::to_string_pretty(&redacted(document(status, fields))).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(crate::redact::redact(&text).as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

/// `v` with every string and key through the redactor, before it is serialised: in JSON
/// text a secret holding `"` or `\` is escaped, where the redactor would not find it.
pub fn redacted(v: Value) -> Value {
    let r = |s: &str| crate::redact::redact(s).into_owned();
    match v {
        Value::String(s) => Value::String(r(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(redacted).collect()),
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (r(&k), redacted(v))).collect())
        }
        other => other,
    }
}

/// The `error` field of a document.
pub fn error_value(message: &str, hints: &[String]) -> Value {
    json!({ "message": message, "hints": hints })
}

/// Writes the error document, unless the command already wrote its own.
pub fn emit_error(status: ExitStatus, message: &str, hints: &[String]) {
    let mut fields = Map::new();
    fields.insert("error".into(), error_value(message, hints));
    emit(status, fields);
}

/// A history row as JSON.
pub fn history_row(r: &HistoryRow) -> Value {
    json!({
        "installed_on": format_ms(r.installed_on),
        "installed_on_ms": r.installed_on,
        "script": &*r.script,
        "script_type": r.script_type.as_deref(),
        "version": r.version.as_deref(),
        "description": r.description.as_deref(),
        "checksum": r.checksum.as_deref(),
        "execution_time_ms": r.execution_time,
        "status": r.status.as_deref(),
        "installed_by": r.installed_by.as_deref(),
        "keyspace": r.keyspace_name.as_deref(),
        "tag": r.tag.as_deref(),
        "run_id": r.run_id.as_deref(),
    })
}

/// Builds a field map from pairs.
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
