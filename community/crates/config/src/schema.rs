//! Defines the keys `cassachange.yml` may hold, their types, and the checks that turn a
//! typo or a wrong type into a one-line error naming the key.

use std::fmt::Write as _;

use serde_yaml_ng::Value;

use cassachange_cql::suggest;

/// The type a key's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// A string (numbers are accepted and read as their text, as PyYAML users expect).
    Str,
    /// A TCP port.
    Port,
    /// Seconds, whole or decimal, above zero; `null` means "driver default".
    Seconds,
    /// A duration such as `30s`, `5m`, `1h` or a number of seconds.
    Duration,
    /// Whole seconds, at least 2 (Cassandra expires TTLs at whole seconds).
    LockTtl,
    /// A boolean (`true`/`false`, and YAML 1.1's `yes`/`no`/`on`/`off` like PyYAML).
    Bool,
    /// Contact points: a list (or comma-separated string) that is not empty once blanks are dropped (an
    /// empty value must never mean "localhost").
    Hosts,
    /// Keyspace names: a list or a comma-separated string; a string of only separators (`',,'`) is an
    /// error, not "unset" (an empty string or list still means unset).
    Keyspaces,
    /// `warn` or `error`.
    DriftPolicy,
    /// `warn`, `error` or `ignore`.
    SchemaDriftPolicy,
    /// `quorum`, `each_quorum` or `local_quorum`.
    Consistency,
    /// `vault`, `ssm`, `asm` or `azure-keyvault`.
    Provider,
    /// `cassandra`, `cassandra-4` or `astra`.
    Target,
    /// The `notifications` block.
    Notifications,
    /// The `secrets` block: config key → secret URI.
    Secrets,
    /// The `profiles` block.
    Profiles,
}

/// Whether a key may come from a secret manager, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// It may not.
    No,
    /// A string value replaces the setting.
    Text,
    /// A file's content in base64, held in memory (never written to disk).
    File,
}

/// One known key: the one table from which the YAML checks, the environment
/// variables, the command-line flags' names, the secret keys and the README's key list
/// all come.
#[derive(Debug)]
pub struct KeySpec {
    /// Name in YAML.
    pub name: &'static str,
    /// Its type.
    pub(crate) ty: Ty,
    /// The environment variable that sets it, if any.
    pub env: Option<&'static str>,
    /// The command-line flag that sets it, if any.
    pub flag: Option<&'static str>,
    /// Whether a `secrets` entry may fill it.
    pub secret: SecretKind,
    /// What it means, for the README's key list.
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    ty: Ty,
    env: Option<&'static str>,
    flag: Option<&'static str>,
    secret: SecretKind,
    doc: &'static str,
) -> KeySpec {
    KeySpec {
        name,
        ty,
        env,
        flag,
        secret,
        doc,
    }
}

use SecretKind::{File, No, Text};

/// Every top-level key, in the order of the reference documentation.
pub const KEYS: &[KeySpec] = &[
    key(
        "hosts",
        Ty::Hosts,
        Some("CASSANDRA_HOSTS"),
        Some("--hosts"),
        Text,
        "contact points (list or comma-separated)",
    ),
    key(
        "port",
        Ty::Port,
        Some("CASSANDRA_PORT"),
        Some("--port"),
        No,
        "CQL port (9042)",
    ),
    key(
        "username",
        Ty::Str,
        Some("CASSANDRA_USERNAME"),
        Some("--username"),
        Text,
        "login",
    ),
    key(
        "password",
        Ty::Str,
        Some("CASSANDRA_PASSWORD"),
        Some("--password"),
        Text,
        "password (redacted everywhere)",
    ),
    key(
        "astra_token",
        Ty::Str,
        Some("ASTRA_TOKEN"),
        Some("--astra-token"),
        Text,
        "AstraDB application token (with `secure_connect_bundle`)",
    ),
    key(
        "secure_connect_bundle",
        Ty::Str,
        Some("ASTRA_SECURE_CONNECT_BUNDLE"),
        Some("--secure-connect-bundle"),
        File,
        "AstraDB secure connect bundle (.zip)",
    ),
    key("ssl", Ty::Bool, None, None, No, "TLS to the nodes"),
    key(
        "ssl_cafile",
        Ty::Str,
        None,
        None,
        File,
        "CA certificate(s) that signed the nodes'",
    ),
    key(
        "ssl_certfile",
        Ty::Str,
        None,
        None,
        File,
        "client certificate (mutual TLS)",
    ),
    key(
        "ssl_keyfile",
        Ty::Str,
        None,
        None,
        File,
        "client key (mutual TLS)",
    ),
    key(
        "ssl_verify_hostname",
        Ty::Bool,
        None,
        None,
        No,
        "check that node certificates name the node (`true`); `false` keeps the chain check",
    ),
    key(
        "keyspace",
        Ty::Str,
        Some("CASSANDRA_KEYSPACE"),
        Some("--keyspace"),
        Text,
        "the target keyspace",
    ),
    key(
        "keyspaces",
        Ty::Keyspaces,
        None,
        Some("--keyspaces"),
        No,
        "several target keyspaces (list or comma-separated)",
    ),
    key(
        "history_keyspace",
        Ty::Str,
        Some("CASSACHANGE_HISTORY_KEYSPACE"),
        Some("--history-keyspace"),
        Text,
        "keyspace of cassachange's own tables",
    ),
    key(
        "history_table",
        Ty::Str,
        Some("CASSACHANGE_HISTORY_TABLE"),
        Some("--history-table"),
        No,
        "history table name (`change_history`)",
    ),
    key(
        "root_folder",
        Ty::Str,
        Some("CASSACHANGE_ROOT_FOLDER"),
        Some("--root-folder"),
        No,
        "the migrations folder (`migrations`)",
    ),
    key(
        "timeout",
        Ty::Seconds,
        Some("CASSACHANGE_TIMEOUT"),
        Some("--timeout"),
        No,
        "seconds per statement (`null`: the driver's)",
    ),
    key(
        "verbose",
        Ty::Bool,
        None,
        Some("--verbose"),
        No,
        "debug logs on stderr (`-v`)",
    ),
    key(
        "dry_run",
        Ty::Bool,
        None,
        Some("--dry-run"),
        No,
        "plan only: no lock, nothing written",
    ),
    key(
        "tag",
        Ty::Str,
        None,
        Some("--tag"),
        No,
        "release tag recorded with each script",
    ),
    key(
        "environment",
        Ty::Str,
        Some("CASSACHANGE_ENV"),
        None,
        No,
        "the notifications' `environment`",
    ),
    key(
        "checksum_drift",
        Ty::DriftPolicy,
        None,
        None,
        No,
        "an applied script whose file changed: `warn` or `error`",
    ),
    key(
        "schema_drift",
        Ty::SchemaDriftPolicy,
        None,
        None,
        No,
        "a live schema that differs from what the scripts made: `warn`, `error` (deploy refuses) or `ignore`",
    ),
    key(
        "target",
        Ty::Target,
        Some("CASSACHANGE_TARGET"),
        Some("--target"),
        No,
        "what `validate` checks for: `cassandra`, `cassandra-4` or `astra`",
    ),
    key(
        "history_consistency",
        Ty::Consistency,
        Some("CASSACHANGE_HISTORY_CONSISTENCY"),
        None,
        No,
        "`quorum` (default), `each_quorum` or `local_quorum`",
    ),
    key(
        "lock_ttl",
        Ty::LockTtl,
        Some("CASSACHANGE_LOCK_TTL"),
        None,
        No,
        "seconds the deploy lock lives without renewal (1800)",
    ),
    key(
        "lock_wait",
        Ty::Duration,
        Some("CASSACHANGE_LOCK_WAIT"),
        Some("--lock-wait"),
        No,
        "how long to wait for a held lock (`30s`, `5m`; 0)",
    ),
    key(
        "notifications",
        Ty::Notifications,
        None,
        None,
        No,
        "Slack / Teams / webhook channels and `on_events`",
    ),
    key(
        "secrets_provider",
        Ty::Provider,
        None,
        None,
        No,
        "`vault`, `ssm`, `asm` or `azure-keyvault` (enterprise)",
    ),
    key(
        "secrets",
        Ty::Secrets,
        None,
        None,
        No,
        "key → secret URI (enterprise)",
    ),
    key(
        "default_profile",
        Ty::Str,
        None,
        None,
        No,
        "the profile used without `--profile`",
    ),
    key(
        "profiles",
        Ty::Profiles,
        None,
        None,
        No,
        "named overrides, deep-merged over the base",
    ),
];

/// Keys a profile may not hold.
pub(crate) const BASE_ONLY: &[&str] = &["profiles", "default_profile"];

/// Keys a `secrets` block may fill from a secret manager.
pub fn secret_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter()
        .filter(|k| k.secret != SecretKind::No)
        .map(|k| k.name)
}

/// True when `key`'s secret is a file's content in base64 (a file secret).
pub fn is_file_secret(key: &str) -> bool {
    spec(key).is_some_and(|k| k.secret == SecretKind::File)
}

/// The flag that sets `key` on the command line.
pub fn flag_of(key: &str) -> Option<&'static str> {
    spec(key).and_then(|k| k.flag)
}

/// The README's key list, generated from [`KEYS`] (a test keeps the README equal to it).
pub fn keys_markdown() -> String {
    let mut out = String::from(
        "| key | environment variable | flag | from a secret | meaning |\n|---|---|---|---|---|\n",
    );
    let code = |v: Option<&str>| v.map_or_else(|| "—".to_string(), |v| format!("`{v}`"));
    for k in KEYS {
        let secret = match k.secret {
            SecretKind::No => "—",
            SecretKind::Text => "text",
            SecretKind::File => "file (base64)",
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {secret} | {} |",
            k.name,
            code(k.env),
            code(k.flag),
            k.doc
        );
    }
    out
}

/// The channel a `secrets` key `notifications.channels[N].webhook_url` fills (a
/// webhook URL is a credential too).
pub fn channel_secret_index(key: &str) -> Option<usize> {
    key.strip_prefix("notifications.channels[")?
        .strip_suffix("].webhook_url")?
        .parse()
        .ok()
}

/// Events a notification may be sent for.
pub(crate) const EVENTS: &[&str] = &[
    "deploy_start",
    "deploy_success",
    "deploy_failed",
    "rollback_start",
    "rollback_success",
    "rollback_failed",
    "script_failed",
    "repair",
];

const CHANNEL_KEYS: &[&str] = &[
    "type",
    "webhook_url",
    "webhook_url_env",
    "url",
    "method",
    "timeout",
    "headers",
];
const CHANNEL_TYPES: &[&str] = &["slack", "teams", "webhook"];

/// Looks a key up.
pub fn spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

/// One problem in the file: the dotted key path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `profiles.dev.port`.
    pub key: String,
    /// What is wrong, and what would be right.
    pub message: String,
}

fn problem(key: &str, message: impl Into<String>) -> Problem {
    Problem {
        key: key.to_string(),
        message: message.into(),
    }
}

/// A short description of a YAML value for messages (never a whole map).
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => {
            format!("'{}…'", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("'{s}'"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// Reads a YAML scalar as a string the way users mean it (`port: 9042` and
/// `password: 12345` both work).
pub(crate) fn scalar_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads a boolean, accepting YAML 1.1 spellings as PyYAML does.
pub(crate) fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" => Some(true),
            "false" | "no" | "off" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Reads seconds (`30`, `2.5`, `"30"`); `Ok(None)` for null.
pub(crate) fn as_seconds(v: &Value) -> Result<Option<f64>, String> {
    let n = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n > 0.0 && n <= MAX_SECONDS => Ok(Some(n)),
        Some(_) => Err(format!(
            "must be a number of seconds above 0 and at most {MAX_SECONDS} (365 days), found {}",
            show(v)
        )),
        None => Err(format!(
            "expected a number of seconds or null, found {}",
            show(v)
        )),
    }
}

/// The largest number of seconds a timeout, TTL or wait may be: 365 days.
pub(crate) const MAX_SECONDS: f64 = 86_400.0 * 365.0;

/// Reads a duration: seconds as a number, or `<n>ms|s|m|h`.
pub(crate) fn as_duration(v: &Value) -> Result<std::time::Duration, String> {
    let text = scalar_str(v)
        .ok_or_else(|| format!("expected a duration like 30s or 5m, found {}", show(v)))?;
    match parse_duration(&text) {
        Ok(d) => Ok(d),
        Err(DurationError::TooLong) => Err(format!(
            "must be at most 365 days (like 30s, 5m, 1h or 24h), found {}",
            show(v)
        )),
        Err(DurationError::Malformed) => Err(format!(
            "expected a duration like 30s, 5m or 1h, found {}",
            show(v)
        )),
    }
}

/// Why a duration does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// Not `<number>[ms|s|m|h]`.
    Malformed,
    /// More than 365 days.
    TooLong,
}

/// Parses `90`, `90s`, `500ms`, `5m`, `1h` (at most 365 days).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, DurationError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| DurationError::Malformed)?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(DurationError::Malformed),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(DurationError::Malformed);
    }
    if secs > MAX_SECONDS {
        return Err(DurationError::TooLong);
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Reads a port (`9042` or `"9042"`).
pub(crate) fn as_port(v: &Value) -> Result<u16, String> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(p @ 1..=65535) => Ok(u16::try_from(p).unwrap_or(9042)),
        _ => Err(format!(
            "expected a port number between 1 and 65535, found {}",
            show(v)
        )),
    }
}

/// Reads a list of strings, or splits one comma-separated string.
pub(crate) fn as_list(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .map(|i| {
                scalar_str(i).map(|s| s.trim().to_string()).ok_or_else(|| {
                    format!("expected a list of strings, found {} in the list", show(i))
                })
            })
            .filter(|r| r.as_ref().map_or(true, |s| !s.is_empty()))
            .collect(),
        _ => scalar_str(v)
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .ok_or_else(|| {
                format!(
                    "expected a list or a comma-separated string, found {}",
                    show(v)
                )
            }),
    }
}

/// Checks one value against its type; nested blocks are checked key by key.
pub(crate) fn check(path: &str, ty: Ty, v: &Value, out: &mut Vec<Problem>) {
    let res: Result<(), String> = match ty {
        Ty::Str => match v {
            Value::Null => Ok(()),
            _ if scalar_str(v).is_some() => Ok(()),
            _ => Err(format!("expected a string, found {}", show(v))),
        },
        Ty::Port => as_port(v).map(drop),
        Ty::Seconds => as_seconds(v).map(drop),
        Ty::Duration => as_duration(v).map(drop),
        Ty::LockTtl => match as_seconds(v) {
            Ok(Some(n)) if n >= 2.0 => Ok(()),
            Ok(_) => Err(format!("must be at least 2 seconds, found {}", show(v))),
            Err(e) => Err(e),
        },
        Ty::Bool => match v {
            Value::Null => Ok(()),
            _ => as_bool(v)
                .map(drop)
                .ok_or_else(|| format!("expected true or false, found {}", show(v))),
        },
        Ty::Keyspaces => match v {
            Value::Null => Ok(()),
            _ => match as_list(v) {
                Ok(l) if l.is_empty() && scalar_str(v).is_some_and(|s| !s.trim().is_empty()) => {
                    Err(format!(
                        "no keyspace in {}: give at least one name (or leave it out)",
                        show(v)
                    ))
                }
                other => other.map(drop),
            },
        },
        Ty::Hosts => match v {
            Value::Null => Ok(()),
            _ => match as_list(v) {
                Ok(l) if l.is_empty() => Err(format!(
                    "no contact point in {}: give at least one host (an empty value is not \
                     localhost; remove the setting to use the default 127.0.0.1)",
                    show(v)
                )),
                other => other.map(drop),
            },
        },
        Ty::DriftPolicy => match scalar_str(v).as_deref() {
            Some("warn" | "error") => Ok(()),
            _ => Err(format!("expected 'warn' or 'error', found {}", show(v))),
        },
        Ty::SchemaDriftPolicy => match scalar_str(v).as_deref() {
            Some("warn" | "error" | "ignore") => Ok(()),
            _ => Err(format!(
                "expected 'warn', 'error' or 'ignore', found {}",
                show(v)
            )),
        },
        Ty::Provider => match scalar_str(v)
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref()
        {
            None if v.is_null() => Ok(()),
            Some("vault" | "ssm" | "asm" | "azure-keyvault") => Ok(()),
            _ => Err(format!(
                "expected vault, ssm, asm or azure-keyvault, found {}",
                show(v)
            )),
        },
        Ty::Target => match scalar_str(v) {
            None if v.is_null() => Ok(()),
            Some(s) if cassachange_cql::Target::parse(&s).is_some() => Ok(()),
            _ => Err(format!(
                "expected 'cassandra' (5.0), 'cassandra-4' (4.0/4.1) or 'astra', found {}",
                show(v)
            )),
        },
        Ty::Consistency => match scalar_str(v).map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("quorum" | "each_quorum" | "local_quorum") => Ok(()),
            _ => Err(format!(
                "expected 'quorum', 'each_quorum' or 'local_quorum', found {}",
                show(v)
            )),
        },
        Ty::Notifications => {
            check_notifications(path, v, out);
            Ok(())
        }
        Ty::Secrets => {
            check_secrets(path, v, out);
            Ok(())
        }
        Ty::Profiles => Ok(()),
    };
    if let Err(message) = res {
        out.push(problem(path, message));
    }
}

/// Iterates a mapping's string keys; non-string keys become problems.
pub(crate) fn entries<'v>(
    path: &str,
    v: &'v Value,
    out: &mut Vec<Problem>,
) -> Vec<(String, &'v Value)> {
    let Value::Mapping(map) = v else {
        if !v.is_null() {
            out.push(problem(
                path,
                format!("expected a mapping of keys, found {}", show(v)),
            ));
        }
        return Vec::new();
    };
    let mut list = Vec::new();
    for (k, val) in map {
        match scalar_str(k) {
            Some(k) if !k.is_empty() => list.push((k, val)),
            _ => out.push(problem(
                path,
                format!("keys must be plain words, found {}", show(k)),
            )),
        }
    }
    list
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// An unknown key, with a did-you-mean among `known`.
pub(crate) fn unknown_key(path: &str, key: &str, known: &[&str]) -> Problem {
    let message = match suggest::did_you_mean(key, known.iter().copied()) {
        s if s.is_empty() => format!("unknown key; known keys: {}", known.join(", ")),
        s => format!("unknown key{s}"),
    };
    problem(&join(path, key), message)
}

/// Checks the keys of a config mapping (the base or one profile).
pub(crate) fn check_config_map(path: &str, v: &Value, in_profile: bool, out: &mut Vec<Problem>) {
    let names: Vec<&str> = KEYS
        .iter()
        .map(|k| k.name)
        .filter(|n| !(in_profile && BASE_ONLY.contains(n)))
        .collect();
    for (k, val) in entries(path, v, out) {
        let p = join(path, &k);
        match spec(&k) {
            Some(s) if in_profile && BASE_ONLY.contains(&s.name) => {
                out.push(problem(
                    &p,
                    "only allowed at the top level, not inside a profile",
                ));
            }
            Some(s) if s.ty == Ty::Profiles => {
                for (name, body) in entries(&p, val, out) {
                    check_config_map(&join(&p, &name), body, true, out);
                }
            }
            Some(s) => check(&p, s.ty, val, out),
            None => out.push(unknown_key(path, &k, &names)),
        }
    }
}

fn check_secrets(path: &str, v: &Value, out: &mut Vec<Problem>) {
    for (k, val) in entries(path, v, out) {
        let p = join(path, &k);
        if !secret_keys().any(|s| s == k) && channel_secret_index(&k).is_none() {
            let mut known: Vec<&str> = secret_keys().collect();
            known.push("notifications.channels[N].webhook_url");
            out.push(unknown_key(path, &k, &known));
        } else if !matches!(val, Value::String(s) if s.contains("://")) {
            out.push(problem(
                &p,
                // Never echo the value: it may be the secret itself, pasted by mistake.
                "expected a secret URI like vault://path#key (the value is not shown)",
            ));
        }
    }
}

fn check_notifications(path: &str, v: &Value, out: &mut Vec<Problem>) {
    for (k, val) in entries(path, v, out) {
        let p = join(path, &k);
        match k.as_str() {
            "on_events" => match as_list(val) {
                Ok(events) => {
                    for e in events {
                        if !EVENTS.contains(&e.as_str()) {
                            let m = match suggest::did_you_mean(&e, EVENTS.iter().copied()) {
                                s if s.is_empty() => {
                                    format!("unknown event '{e}'; events: {}", EVENTS.join(", "))
                                }
                                s => format!("unknown event '{e}'{s}"),
                            };
                            out.push(problem(&p, m));
                        }
                    }
                }
                Err(m) => out.push(problem(&p, m)),
            },
            "channels" => {
                let Value::Sequence(items) = val else {
                    if !val.is_null() {
                        out.push(problem(
                            &p,
                            format!("expected a list of channels, found {}", show(val)),
                        ));
                    }
                    continue;
                };
                for (i, ch) in items.iter().enumerate() {
                    check_channel(&format!("{p}[{i}]"), ch, out);
                }
            }
            _ => out.push(unknown_key(path, &k, &["on_events", "channels"])),
        }
    }
}

fn check_channel(path: &str, v: &Value, out: &mut Vec<Problem>) {
    let mut ty = None;
    for (k, val) in entries(path, v, out) {
        let p = join(path, &k);
        match k.as_str() {
            "type" => match scalar_str(val).map(|s| s.to_ascii_lowercase()) {
                Some(t) if CHANNEL_TYPES.contains(&t.as_str()) => ty = Some(t),
                Some(t) => {
                    let s = suggest::did_you_mean(&t, CHANNEL_TYPES.iter().copied());
                    out.push(problem(
                        &p,
                        format!("unknown channel type '{t}'{s}; types: slack, teams, webhook"),
                    ));
                    ty = Some(String::new());
                }
                None => out.push(problem(
                    &p,
                    format!("expected slack, teams or webhook, found {}", show(val)),
                )),
            },
            "timeout" => check(&p, Ty::Seconds, val, out),
            "headers" => {
                for (hk, hv) in entries(&p, val, out) {
                    if scalar_str(hv).is_none() {
                        out.push(problem(
                            &join(&p, &hk),
                            format!("expected a string, found {}", show(hv)),
                        ));
                    }
                }
            }
            "webhook_url" | "webhook_url_env" | "url" | "method" => check(&p, Ty::Str, val, out),
            _ => out.push(unknown_key(path, &k, CHANNEL_KEYS)),
        }
    }
    if v.is_mapping() && ty.is_none() {
        out.push(problem(
            &join(path, "type"),
            "missing: every channel needs type: slack, teams or webhook",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        let v: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut out = Vec::new();
        check_config_map("", &v, false, &mut out);
        out.into_iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect()
    }

    #[test]
    fn accepts_the_reference_config() {
        let yaml = include_str!("../../../../examples/cassachange.yml");
        assert_eq!(problems(yaml), Vec::<String>::new());
    }

    #[test]
    fn typo_gets_did_you_mean() {
        assert_eq!(
            problems("histroy_keyspace: x\nprofiles:\n  dev:\n    prot: 1\n"),
            [
                "histroy_keyspace: unknown key (did you mean 'history_keyspace'?)",
                "profiles.dev.prot: unknown key (did you mean 'port'?)"
            ]
        );
    }

    #[test]
    fn wrong_types_name_the_key() {
        assert_eq!(
            problems("port: nine\ntimeout: -1\nssl: maybe\nhosts: {a: 1}\ncassandra: 1\n"),
            [
                "port: expected a port number between 1 and 65535, found 'nine'",
                "timeout: must be a number of seconds above 0 and at most 31536000 (365 days), found -1",
                "ssl: expected true or false, found 'maybe'",
                "hosts: expected a list or a comma-separated string, found a mapping",
                "cassandra: unknown key; known keys: hosts, port, username, password, astra_token, \
                 secure_connect_bundle, ssl, ssl_cafile, ssl_certfile, ssl_keyfile, ssl_verify_hostname, \
                 keyspace, keyspaces, history_keyspace, history_table, root_folder, timeout, verbose, \
                 dry_run, tag, environment, checksum_drift, schema_drift, target, history_consistency, lock_ttl, lock_wait, \
                 notifications, \
                 secrets_provider, secrets, default_profile, profiles"
            ]
        );
    }

    #[test]
    fn nested_blocks_are_checked() {
        let yaml = "notifications:\n  on_events: [deploy_sucess]\n  channels:\n    - type: slak\n      webhook_url_env: X\n    - url: http://x\nprofiles:\n  p:\n    default_profile: x\n    secrets:\n      pasword: vault://a#b\n";
        assert_eq!(
            problems(yaml),
            [
                "notifications.on_events: unknown event 'deploy_sucess' (did you mean 'deploy_success'?)",
                "notifications.channels[0].type: unknown channel type 'slak' (did you mean 'slack'?); types: slack, teams, webhook",
                "notifications.channels[1].type: missing: every channel needs type: slack, teams or webhook",
                "profiles.p.default_profile: only allowed at the top level, not inside a profile",
                "profiles.p.secrets.pasword: unknown key (did you mean 'password'?)",
            ]
        );
    }

    #[test]
    fn yaml_1_1_booleans_and_numbers_as_strings() {
        assert_eq!(
            problems("ssl: yes\nverbose: off\npassword: 12345\nport: '9042'\ntimeout: null\n"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn lock_ttl_has_a_floor() {
        assert_eq!(
            problems("lock_ttl: 1\n"),
            ["lock_ttl: must be at least 2 seconds, found 1"]
        );
        assert_eq!(problems("lock_ttl: 30\n"), Vec::<String>::new());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(
            parse_duration("5m"),
            Ok(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            parse_duration("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        assert_eq!(parse_duration("5 parsecs"), Err(DurationError::Malformed));
        assert_eq!(
            parse_duration("8760h"),
            Ok(std::time::Duration::from_secs(31_536_000))
        );
        for huge in ["99999999999999999999s", "8761h", "525601m"] {
            assert_eq!(parse_duration(huge), Err(DurationError::TooLong), "{huge}");
        }
    }
}
