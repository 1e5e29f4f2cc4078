//! Defines the enterprise edition: the plugin library, loaded after checking the file
//! is safe to load, and a `Host` that lets it run CQL on our session.
//!
//! The boundary is synchronous. Calls into the plugin run on a plain thread outside the
//! tokio runtime (the runtime worker steps aside with `block_in_place`), so the host's
//! CQL callback can block on the runtime; no tokio type crosses the boundary.

use std::path::Path;
use std::sync::{Arc, Mutex};

use cassachange_plugin_api::{self as api, AuditRecord, Host, Plugin, Rows, Value};
use scylla::value::{CqlTimestamp, CqlValue};

use super::plugin_file::{open_checked, Checked};
use super::{AuditEvent, Edition};
use crate::config::{is_file_secret, Settings};
use crate::db::Db;
use crate::exit::ExitStatus;
use crate::ui::UserError;

/// The enterprise edition.
pub(super) struct PluginEdition {
    plugin: Plugin,
    /// The checked copy the plugin was loaded from (kept for the process's lifetime).
    _checked: Checked,
    attached: Mutex<Option<Attached>>,
    /// Audit events not written yet (see [`Edition::flush_audit`]).
    pending: Mutex<Vec<AuditRecord>>,
}

/// An audit event time in ms, strictly increasing within the process: events share the
/// run's partition and are keyed by their time, so two in the same millisecond must
/// not overwrite each other.
fn audit_time() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::timefmt::now_ms();
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => prev = seen,
        }
    }
}

/// Bound values per unlogged batch in `execute_many`: under Cassandra's default
/// `batch_size_warn_threshold` (5 KiB).
const BATCH_BYTES: usize = 4 * 1024;
/// Audit events held before they are written anyway (bounds memory on huge runs).
const MAX_HELD: usize = 2_000;
/// Batches in flight at once in `execute_many`.
const BATCHES_IN_FLIGHT: usize = 16;

fn value_size(v: &Value) -> usize {
    match v {
        Value::Text(s) => s.len() + 4,
        _ => 12,
    }
}

#[derive(Clone)]
struct Attached {
    db: Arc<Db>,
    handle: tokio::runtime::Handle,
    history_keyspace: String,
    /// The consistency of reads and writes of the plugin's rows: those of history
    /// (`history_consistency`), so a multi-datacenter `audit` sees every event.
    read_cl: crate::db::Consistency,
    write_cl: crate::db::Consistency,
}

fn abi_str(s: &cassachange_plugin_api::RString) -> &str {
    s.as_str()
}

fn to_cql(v: Value) -> Option<CqlValue> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(CqlValue::Boolean(b)),
        Value::Int(i) => Some(CqlValue::Int(i)),
        Value::BigInt(i) => Some(CqlValue::BigInt(i)),
        Value::Text(s) => Some(CqlValue::Text(s.into_string())),
        Value::Timestamp(t) => Some(CqlValue::Timestamp(CqlTimestamp(t))),
    }
}

fn from_cql(v: Option<CqlValue>) -> Value {
    match v {
        None => Value::Null,
        Some(CqlValue::Boolean(b)) => Value::Bool(b),
        Some(CqlValue::Int(i)) => Value::Int(i),
        Some(CqlValue::BigInt(i)) => Value::BigInt(i),
        Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => Value::Text(s.into()),
        Some(CqlValue::Timestamp(t)) => Value::Timestamp(t.0),
        Some(other) => Value::Text(format!("{other:?}").into()),
    }
}

/// Decodes a file secret's base64 text (standard alphabet, padding optional, line
/// breaks and spaces ignored, as `base64` without `-w 0` wraps its output).
fn decode_file_secret(text: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    use base64::Engine;
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err("it is empty".into());
    }
    // The error names a position, never the text.
    LENIENT.decode(compact).map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _) => format!("invalid character at offset {at}"),
        base64::DecodeError::InvalidLength(_) => "its length is not that of base64".into(),
        base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("invalid last symbol at offset {at}")
        }
        base64::DecodeError::InvalidPadding => "invalid padding".into(),
    })
}

/// The secret manager a URI's scheme names, for messages.
fn backend_of(uri: &str) -> &'static str {
    match uri
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .as_deref()
    {
        Some("vault") => "HashiCorp Vault",
        Some("ssm") => "AWS SSM Parameter Store",
        Some("asm") => "AWS Secrets Manager",
        Some("akv") => "Azure Key Vault",
        _ => "secret manager",
    }
}

/// The `secrets_provider` name of a URI's scheme (`vault`, `ssm`, `asm`,
/// `azure-keyvault`), for the `[secrets]` line.
fn scheme_name(uri: &str) -> &'static str {
    match uri
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .as_deref()
    {
        Some("vault") => "vault",
        Some("ssm") => "ssm",
        Some("asm") => "asm",
        Some("akv") => "azure-keyvault",
        _ => "a secret manager",
    }
}

/// The host services the plugin sees; without a session yet, CQL is refused.
struct HostImpl(Option<Attached>);

impl Host for HostImpl {
    fn execute(&self, cql: &str, values: Vec<Value>) -> Result<Rows, String> {
        let a = self.0.as_ref().ok_or("no database session is open yet")?;
        let values = values.into_iter().map(to_cql).collect();
        let is_read = cql
            .trim_start()
            .get(..6)
            .is_some_and(|w| w.eq_ignore_ascii_case("select"));
        let cl = if is_read { a.read_cl } else { a.write_cl };
        let rows = a
            .handle
            .block_on(a.db.query_at("enterprise plugin statement", cql, values, cl))
            .map_err(|e| e.to_string())?;
        Ok(Rows {
            columns: rows.columns.into_iter().map(Into::into).collect(),
            rows: rows
                .rows
                .into_iter()
                .map(|r| r.into_iter().map(from_cql).collect())
                .collect(),
        })
    }

    fn execute_many(&self, cql: &str, rows: Vec<Vec<Value>>) -> Result<(), String> {
        use futures_util::stream::TryStreamExt;
        let a = self.0.as_ref().ok_or("no database session is open yet")?;
        // Group rows into unlogged batches under the size threshold, then run a few
        // batches at once. Each row is an idempotent write: a failure is reported, and
        // the caller stops.
        let mut groups: Vec<Vec<crate::db::Values>> = Vec::new();
        let mut size = 0usize;
        for row in rows {
            let bytes: usize = row.iter().map(value_size).sum();
            if groups.is_empty() || size + bytes > BATCH_BYTES {
                groups.push(Vec::new());
                size = 0;
            }
            size += bytes;
            if let Some(g) = groups.last_mut() {
                g.push(row.into_iter().map(to_cql).collect());
            }
        }
        let (db, cl) = (&a.db, a.write_cl);
        a.handle.block_on(async {
            futures_util::stream::iter(groups.into_iter().map(Ok))
                .try_for_each_concurrent(BATCHES_IN_FLIGHT, |group| async move {
                    db.write_many("enterprise plugin statement", cql, group, cl)
                        .await
                        .map_err(|e| e.to_string())
                })
                .await
        })
    }

    fn log(&self, level: u8, message: &str) {
        match level {
            0 => tracing::error!(target: "cassachange::plugin", "{message}"),
            1 => tracing::warn!(target: "cassachange::plugin", "{message}"),
            2 => tracing::info!(target: "cassachange::plugin", "{message}"),
            _ => tracing::debug!(target: "cassachange::plugin", "{message}"),
        }
    }
}

/// Runs `f` on a plain thread, outside the async runtime (the current worker, if any,
/// hands its tasks over while it waits).
fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let run = || {
        std::thread::scope(|s| s.spawn(f).join()).unwrap_or_else(|p| std::panic::resume_unwind(p))
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::task::block_in_place(run)
    } else {
        run()
    }
}

impl PluginEdition {
    /// Checks and loads the plugin at `path`.
    pub(super) fn load(path: &Path, verbose: bool) -> Result<Self, UserError> {
        let refuse = |why: String| {
            UserError::error(format!("refusing to load the enterprise plugin {}: {why}", path.display()))
                .hint("fix the file, or remove it (and unset CASSACHANGE_PLUGIN) to run the community edition")
        };
        let started = std::time::Instant::now();
        let checked = open_checked(path).map_err(refuse)?;
        let plugin = api::load_as(&checked.open, path).map_err(|e| {
            if verbose {
                if let Some(detail) = e.detail() {
                    eprintln!("{detail}");
                }
            }
            UserError::error(format!("cannot use the enterprise plugin: {e}")).hint(
                "install the plugin built for this cassachange version, or remove it to run the community edition",
            )
        })?;
        tracing::debug!("loaded {} in {:?}", path.display(), started.elapsed());
        Ok(PluginEdition {
            plugin,
            _checked: checked,
            attached: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
        })
    }

    fn host(&self) -> HostImpl {
        HostImpl(self.attached.lock().ok().and_then(|a| a.clone()))
    }
}

impl Edition for PluginEdition {
    fn describe(&self) -> String {
        let info = self.plugin.info();
        let providers: Vec<&str> = info.providers.iter().map(abi_str).collect();
        format!(
            "enterprise {}; plugin interface {}; providers: {}",
            info.plugin_version,
            info.interface_version,
            if providers.is_empty() {
                "none".to_string()
            } else {
                providers.join(", ")
            }
        )
    }

    fn json(&self) -> serde_json::Value {
        let info = self.plugin.info();
        let providers: Vec<&str> = info.providers.iter().map(abi_str).collect();
        serde_json::json!({
            "name": "enterprise",
            "plugin": {
                "version": info.plugin_version.as_str(),
                "interface_version": info.interface_version.as_str(),
                "providers": providers,
            }
        })
    }

    fn resolve_secrets(&self, settings: &mut Settings) -> Result<(), UserError> {
        if settings.secrets.is_empty() {
            return Ok(());
        }
        let provider = settings.secrets_provider.clone().unwrap_or_default();
        let pairs: Vec<(String, String)> = settings.secrets.clone().into_iter().collect();
        let host = self.host();
        let resolved = off_runtime(|| self.plugin.resolve_secrets(&host, &provider, pairs))
            .map_err(|e| {
                UserError::error(format!("resolving secrets failed: {e}"))
                    .hint("nothing was connected to or changed; fix the secret or its access, then run again")
            })?;
        let warnings_before = settings.warnings.len();
        // The spec's line: `[secrets] resolved 2 keys via azure-keyvault`.
        let mut via: Vec<&str> = settings
            .secrets
            .values()
            .map(|uri| scheme_name(uri))
            .collect();
        via.sort_unstable();
        via.dedup();
        crate::outln!(
            "[secrets] resolved {} keys via {}",
            resolved.len(),
            via.join(", ")
        );
        for (key, value) in resolved {
            let uri = settings.secrets.get(&key).cloned().unwrap_or_default();
            if is_file_secret(&key) {
                let bytes = decode_file_secret(&value).map_err(|e| {
                    UserError::error(format!(
                        "secrets.{key} ({uri}, {}): the value is not base64 ({e}); a file secret \
                         holds the file's content base64-encoded",
                        backend_of(&uri)
                    ))
                    .hint("store it with: base64 -w 0 <file> (then put that text in the secret)")
                })?;
                crate::redact::register_file(&value, &bytes);
                settings.apply_file_secret(&key, &uri, bytes);
            } else {
                settings.apply_secret(&key, &uri, value);
            }
        }
        for w in &settings.warnings[warnings_before..] {
            crate::ui::warn(w);
        }
        Ok(())
    }

    fn attach(
        &self,
        db: Arc<Db>,
        history_keyspace: &str,
        consistency: crate::config::HistoryConsistency,
    ) {
        let (read_cl, write_cl) = cassachange_cassandra::history::levels(consistency);
        if let (Ok(mut slot), Ok(handle)) =
            (self.attached.lock(), tokio::runtime::Handle::try_current())
        {
            *slot = Some(Attached {
                db,
                handle,
                history_keyspace: history_keyspace.to_ascii_lowercase(),
                read_cl,
                write_cl,
            });
        }
    }

    fn audit(&self, event: &AuditEvent) -> Result<(), UserError> {
        static HOSTNAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let host = self.host();
        let history_keyspace = host
            .0
            .as_ref()
            .map(|a| a.history_keyspace.clone())
            .unwrap_or_default();
        // Every text through the redactor: a keyspace that came from a secret manager
        // is a secret in the audit log too.
        let r = |t: &str| crate::redact::redact(t).as_ref().into();
        let record = AuditRecord {
            history_keyspace: history_keyspace.into(),
            event_time_ms: audit_time(),
            run_id: event.run_id.as_str().into(),
            event_type: event.event_type.as_str().into(),
            operator: r(&event.operator),
            hostname: HOSTNAME.get_or_init(crate::host::hostname).as_str().into(),
            keyspace: r(&event.keyspace),
            script: r(&event.script),
            status: event.status.as_str().into(),
            detail: r(&event.detail),
        };
        let held = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending.push(record);
            pending.len()
        };
        // A plugin without batches writes each event at once, as before; a long run of
        // held events (skips over many keyspaces) is written in bounded chunks.
        if !self.plugin.batches_audit() || held >= MAX_HELD {
            self.flush_audit()?;
        }
        Ok(())
    }

    fn audits(&self) -> bool {
        true
    }

    fn flush_audit(&self) -> Result<(), UserError> {
        let records = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if records.is_empty() {
            return Ok(());
        }
        let what = match records.as_slice() {
            [one] => one.event_type.to_string(),
            [first, rest @ ..] => format!("{} and {} later event(s)", first.event_type, rest.len()),
            [] => String::new(),
        };
        let host = self.host();
        let (n, started) = (records.len(), std::time::Instant::now());
        let written = off_runtime(|| self.plugin.record_audit_batch(&host, records));
        tracing::debug!("audit: {n} event(s) written in {:?}", started.elapsed());
        written.map_err(|e| {
            UserError::failure(format!("the audit log write failed ({what}): {e}"))
                .hint("the run stopped here, before its next step; what already ran is recorded in change_history")
                .hint("fix the audit log's keyspace or permissions, then run the command again")
                .status(ExitStatus::Failure)
        })
    }

    fn commands(&self) -> Vec<String> {
        self.plugin
            .commands()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.name.into_string())
            .collect()
    }

    fn command(&self, name: &str, args: Vec<String>) -> Option<Result<(String, i32), UserError>> {
        let host = self.host();
        let out = off_runtime(|| self.plugin.run_command(&host, name, args))?;
        Some(
            out.map(|o| (o.stdout.into_string(), o.exit_code))
                .map_err(|e| UserError::failure(format!("{name}: {e}"))),
        )
    }
}
