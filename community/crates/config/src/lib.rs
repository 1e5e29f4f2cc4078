//! Defines `Settings`, the one typed configuration every command reads, and how it is
//! built: `cassachange.yml`, the selected `profiles.<name>` deep-merged over it,
//! environment variables, then command-line flags (CLI > env > profile > base > defaults).

pub mod redact;
mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use schema::{as_bool, as_duration, as_list, as_port, as_seconds, scalar_str};
pub use schema::{
    channel_secret_index, flag_of, is_file_secret, keys_markdown, parse_duration, secret_keys,
    spec, KeySpec, Problem, SecretKind, KEYS,
};

/// The default configuration file, read from the working directory when present.
pub const DEFAULT_CONFIG: &str = "cassachange.yml";
/// Default lock TTL, as the original's.
pub const DEFAULT_LOCK_TTL: u32 = 1800;

/// A value that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it (the driver, a request).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A file setting (`ssl_cafile`, `ssl_certfile`, `ssl_keyfile`,
/// `secure_connect_bundle`): a path to read, or content held in memory.
///
/// File secrets from a secret manager are kept in memory: the TLS configuration and
/// the bundle reader take bytes, so nothing is ever written to disk.
#[derive(Clone, PartialEq, Eq)]
pub enum Material {
    /// A file on disk.
    Path(PathBuf),
    /// Content resolved from `secrets.<key>` (never printed, never written).
    Memory {
        /// The config key it fills.
        key: &'static str,
        /// The decoded content.
        bytes: std::sync::Arc<[u8]>,
    },
}

impl Material {
    /// The content: the file read, or the bytes held.
    pub fn read(&self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        match self {
            Material::Path(p) => std::fs::read(p).map(std::borrow::Cow::Owned),
            Material::Memory { bytes, .. } => Ok(std::borrow::Cow::Borrowed(bytes)),
        }
    }
}

impl fmt::Display for Material {
    /// `'<path>'`, or `(from secrets.<key>, in memory)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Material::Path(p) => write!(f, "'{}'", p.display()),
            Material::Memory { key, .. } => write!(f, "(from secrets.{key}, in memory)"),
        }
    }
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Material::Path(p) => write!(f, "Path({})", p.display()),
            Material::Memory { key, bytes } => {
                write!(f, "Memory(secrets.{key}, {} bytes)", bytes.len())
            }
        }
    }
}

/// Where a setting came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A key in the file (dotted path, e.g. `profiles.dev.port`).
    File {
        /// The file.
        path: PathBuf,
        /// The key path.
        key: String,
    },
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
    /// The built-in default.
    Default,
    /// A secret manager, through the `secrets` block (the URI).
    Secret(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, key } => write!(f, "{}: {key}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Default => f.write_str("default"),
            Origin::Secret(uri) => write!(f, "secret {uri}"),
        }
    }
}

/// The consistency levels of history reads and writes (`history_consistency`).
///
/// A run reads history after taking the lock; it must see every row the previous
/// holder wrote, wherever that run's coordinator was. Reads and writes at `QUORUM`
/// overlap in any topology (the default); `EACH_QUORUM` writes with `LOCAL_QUORUM`
/// reads overlap too and keep reads local; `LOCAL_QUORUM` for both is only safe when
/// every deploy runs in the same datacenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryConsistency {
    /// `QUORUM` reads and writes (default).
    #[default]
    Quorum,
    /// `EACH_QUORUM` writes, `LOCAL_QUORUM` reads.
    EachQuorum,
    /// `LOCAL_QUORUM` reads and writes: one datacenter only.
    LocalQuorum,
}

/// What `checksum_drift` says to do when an applied versioned script changed on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriftPolicy {
    /// Report it and carry on (the default).
    #[default]
    Warn,
    /// Refuse to deploy.
    Error,
}

/// What `schema_drift` says to do when a target keyspace's live schema differs from the
/// one its applied scripts made (see `cassachange drift`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaDriftPolicy {
    /// Report it and carry on (the default).
    #[default]
    Warn,
    /// Refuse to deploy (before the lock).
    Error,
    /// Neither check nor report it (`drift` still does when asked).
    Ignore,
}

/// TLS settings for a plain Cassandra connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// `ssl: true`.
    pub enabled: bool,
    /// CA bundle to verify the server against.
    pub ca_file: Option<Material>,
    /// Client certificate for mutual TLS.
    pub cert_file: Option<Material>,
    /// Client key for mutual TLS.
    pub key_file: Option<Material>,
    /// Check the server certificate's name/IP (`ssl_verify_hostname`, default true).
    pub verify_hostname: bool,
}

/// A notification channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// `slack`, `teams` or `webhook`.
    pub kind: String,
    /// Inline URL (`webhook_url` or `url`).
    pub url: Option<Secret>,
    /// Name of the environment variable holding the URL.
    pub url_env: Option<String>,
    /// HTTP method for generic webhooks.
    pub method: Option<String>,
    /// Request timeout.
    pub timeout: Option<Duration>,
    /// Extra headers; `${VAR}` is replaced from the environment when sent.
    pub headers: BTreeMap<String, String>,
}

/// The `notifications` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notifications {
    /// Events to send; empty means all.
    pub on_events: Vec<String>,
    /// Where to send them.
    pub channels: Vec<Channel>,
}

/// The fully resolved configuration of one run. Its `Debug` output goes through the
/// redactor: a host name, user name or keyspace can come from a secret manager.
#[derive(Clone)]
pub struct Settings {
    /// The configuration file read, if any.
    pub config_file: Option<PathBuf>,
    /// The active profile.
    pub profile: Option<String>,
    /// Contact points.
    pub hosts: Vec<String>,
    /// Native-protocol port.
    pub port: u16,
    /// Login name.
    pub username: Option<String>,
    /// Login password.
    pub password: Option<Secret>,
    /// AstraDB application token.
    pub astra_token: Option<Secret>,
    /// AstraDB secure connect bundle.
    pub secure_connect_bundle: Option<Material>,
    /// TLS for plain Cassandra.
    pub tls: Tls,
    /// Target keyspaces, in order.
    pub keyspaces: Vec<String>,
    /// Keyspace of `change_history`, `deploy_lock` and `audit_log`.
    pub history_keyspace: Option<String>,
    /// Name of the history table.
    pub history_table: String,
    /// Folder of migration scripts.
    pub root_folder: PathBuf,
    /// Per-statement timeout; `None` is the driver default.
    pub timeout: Option<Duration>,
    /// Debug logging.
    pub verbose: bool,
    /// `dry_run: true` in the file.
    pub dry_run: bool,
    /// Release tag from the file.
    pub tag: Option<String>,
    /// Environment label for notifications.
    pub environment: Option<String>,
    /// What to do on checksum drift.
    pub checksum_drift: DriftPolicy,
    /// What to do on schema drift.
    pub schema_drift: SchemaDriftPolicy,
    /// Consistency of history reads and writes.
    pub history_consistency: HistoryConsistency,
    /// Where scripts run, for `validate`'s target rules (`None`: decided by the
    /// connection settings).
    pub target: Option<cassachange_cql::Target>,
    /// Lock lease length.
    pub lock_ttl: Duration,
    /// How long to wait for a held lock (zero: fail at once).
    pub lock_wait: Duration,
    /// Notifications.
    pub notifications: Option<Notifications>,
    /// `secrets_provider`, for the enterprise plugin.
    pub secrets_provider: Option<String>,
    /// `secrets`: config key → URI, for the enterprise plugin.
    pub secrets: BTreeMap<String, String>,
    /// Where each key's value came from.
    pub origins: BTreeMap<&'static str, Origin>,
    /// Things worth saying about the configuration that are not errors (printed once
    /// logging is set up).
    pub warnings: Vec<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = |s: &str| redact::redact(s).into_owned();
        let list = |v: &[String]| v.iter().map(|s| r(s)).collect::<Vec<_>>();
        f.debug_struct("Settings")
            .field("config_file", &self.config_file)
            .field("profile", &self.profile)
            .field("hosts", &list(&self.hosts))
            .field("port", &self.port)
            .field("username", &self.username.as_deref().map(r))
            .field("password", &self.password)
            .field("astra_token", &self.astra_token)
            .field("secure_connect_bundle", &self.secure_connect_bundle)
            .field("tls", &self.tls)
            .field("keyspaces", &list(&self.keyspaces))
            .field("history_keyspace", &self.history_keyspace.as_deref().map(r))
            .field("history_table", &self.history_table)
            .field("root_folder", &self.root_folder)
            .field("timeout", &self.timeout)
            .field("tag", &self.tag.as_deref().map(r))
            .field("lock_ttl", &self.lock_ttl)
            .field("lock_wait", &self.lock_wait)
            .field("secrets_provider", &self.secrets_provider)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why the configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `--config` names a file that does not exist.
    #[error("config file '{0}' does not exist")]
    NotFound(PathBuf),
    /// The file could not be read.
    #[error("cannot read config file '{path}': {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{path}{location}: invalid YAML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// `:line:column` (or `:line`), when known.
        location: String,
        /// The parser's message.
        message: String,
    },
    /// Keys or values are wrong.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One entry per problem.
        problems: Vec<Problem>,
    },
    /// The selected profile is not in the file.
    #[error("profile '{name}' (from {from}) is not defined in {}; defined profiles: {}",
        path.display(), if defined.is_empty() { "none".to_string() } else { defined.join(", ") })]
    UnknownProfile {
        /// The profile asked for.
        name: String,
        /// Who asked for it.
        from: String,
        /// The file.
        path: PathBuf,
        /// Profiles that exist.
        defined: Vec<String>,
    },
    /// A profile was asked for but no file exists.
    #[error("profile '{name}' (from {from}) was selected, but there is no config file ({path} not found)")]
    ProfileWithoutFile {
        /// The profile.
        name: String,
        /// Who asked for it.
        from: String,
        /// The file looked for.
        path: String,
    },
    /// A value from the environment or a flag has the wrong type.
    #[error("{origin}: {message}")]
    BadValue {
        /// Where it came from.
        origin: Origin,
        /// What is wrong.
        message: String,
    },
    /// A required setting has no value.
    #[error("{what} not supplied: use {how}")]
    Missing {
        /// The setting.
        what: &'static str,
        /// Every way to supply it.
        how: &'static str,
    },
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}: {}", path.display(), p.key, p.message))
        .collect();
    lines.join("\n")
}

/// Inputs to [`load`] besides the file.
pub struct LoadOptions<'a> {
    /// `--config`, when given (then the file must exist).
    pub config: Option<&'a Path>,
    /// `--profile`.
    pub profile: Option<&'a str>,
    /// Command-line overrides: key, value, flag name.
    pub flags: Vec<(&'static str, Value, &'static str)>,
    /// Environment lookup (the process environment in production).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

type Layer = BTreeMap<String, (Value, Origin)>;

/// Builds the settings of one run.
pub fn load(opts: &LoadOptions<'_>) -> Result<Settings, ConfigError> {
    let env = |k: &str| (opts.env)(k).filter(|v| !v.is_empty());
    let (path, doc) = read_file(opts.config)?;

    let profile_choice = opts
        .profile
        .map(|p| (p.to_string(), "--profile".to_string()))
        .or_else(|| env("CASSACHANGE_PROFILE").map(|p| (p, "CASSACHANGE_PROFILE".to_string())));

    let mut layers: Vec<Layer> = Vec::new();
    let mut profile = None;
    if let Some(Value::Mapping(root)) = &doc {
        let mut problems = Vec::new();
        schema::check_config_map(
            "",
            doc.as_ref().unwrap_or(&Value::Null),
            false,
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(ConfigError::Invalid { path, problems });
        }
        let base = layer_from(root, &path, "");
        let default_profile = root
            .get("default_profile")
            .and_then(scalar_str)
            .map(|p| (p, "default_profile".to_string()));
        if let Some((name, from)) = profile_choice.or(default_profile) {
            let profiles = root.get("profiles").and_then(Value::as_mapping);
            let body = profiles.and_then(|m| m.get(name.as_str()));
            let Some(body) = body else {
                let defined = profiles
                    .map(|m| m.keys().filter_map(scalar_str).collect())
                    .unwrap_or_default();
                return Err(ConfigError::UnknownProfile {
                    name,
                    from,
                    path,
                    defined,
                });
            };
            let empty = Mapping::new();
            let body = body.as_mapping().unwrap_or(&empty);
            layers.push(base);
            layers.push(layer_from(body, &path, &format!("profiles.{name}")));
            profile = Some(name);
        } else {
            layers.push(base);
        }
    } else if let Some((name, from)) = profile_choice {
        return Err(ConfigError::ProfileWithoutFile {
            name,
            from,
            path: path.display().to_string(),
        });
    }

    // Set but empty: an unset CI secret, say. Every other variable reads as unset
    // then (the original's behaviour); the contact points must never fall back to
    // localhost that way.
    if (opts.env)("CASSANDRA_HOSTS").is_some_and(|v| v.trim().is_empty()) {
        return Err(ConfigError::BadValue {
            origin: Origin::Env("CASSANDRA_HOSTS"),
            message: "set but empty: give at least one host, or unset it to use the \
                      configured hosts (an empty value is not localhost)"
                .into(),
        });
    }
    let mut env_layer = Layer::new();
    for spec in KEYS {
        if let Some(var) = spec.env {
            if let Some(v) = env(var) {
                let origin = Origin::Env(var);
                let value = Value::String(v);
                let mut problems = Vec::new();
                schema::check(spec.name, spec.ty, &value, &mut problems);
                if let Some(p) = problems.pop() {
                    return Err(ConfigError::BadValue {
                        origin,
                        message: p.message,
                    });
                }
                env_layer.insert(spec.name.to_string(), (value, origin));
            }
        }
    }
    layers.push(env_layer);

    let mut flag_layer = Layer::new();
    for (key, value, flag) in &opts.flags {
        let origin = Origin::Flag(flag);
        if let Some(spec) = schema::spec(key) {
            let mut problems = Vec::new();
            schema::check(key, spec.ty, value, &mut problems);
            if let Some(p) = problems.pop() {
                return Err(ConfigError::BadValue {
                    origin,
                    message: p.message,
                });
            }
        }
        // A blank keyspace flag is a mistake (an unset shell variable), never "use the
        // file's value".
        if matches!(*key, "keyspace" | "keyspaces" | "history_keyspace")
            && schema::as_list(value).is_ok_and(|l| l.is_empty())
        {
            return Err(ConfigError::BadValue {
                origin,
                message: format!(
                    "no keyspace in {}: give a name (or leave the flag out)",
                    schema::show(value)
                ),
            });
        }
        flag_layer.insert((*key).to_string(), (value.clone(), origin));
    }
    layers.push(flag_layer);

    let config_file = doc.is_some().then(|| path.clone());
    Ok(Resolver { layers }.settings(config_file, profile))
}

/// The line of the second `key:` of a "duplicate entry with key" error, when the key
/// is a plain word that appears at the start of a line (after indentation) twice.
fn duplicate_key_line(text: &str, message: &str) -> Option<usize> {
    let key = message
        .strip_prefix("duplicate entry with key \"")?
        .strip_suffix('"')?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .nth(1)
        .map(|(i, _)| i + 1)
}

fn read_file(explicit: Option<&Path>) -> Result<(PathBuf, Option<Value>), ConfigError> {
    let path = explicit.map_or_else(|| PathBuf::from(DEFAULT_CONFIG), Path::to_path_buf);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if explicit.is_some() {
                Err(ConfigError::NotFound(path))
            } else {
                Ok((path, None))
            };
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let value: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        // The parser places a duplicate key at its mapping: point at the second one.
        let duplicate = duplicate_key_line(&text, &message);
        let location = match (duplicate, e.location()) {
            (Some(line), _) => format!(":{line}"),
            (None, Some(l)) => format!(":{}:{}", l.line(), l.column()),
            (None, None) => String::new(),
        };
        let message = huge_number(&message).unwrap_or(message);
        ConfigError::Syntax {
            path: path.clone(),
            location,
            message,
        }
    })?;
    match value {
        Value::Null => Ok((path, Some(Value::Mapping(Mapping::new())))),
        Value::Mapping(_) => Ok((path, Some(value))),
        other => Err(ConfigError::Invalid {
            path,
            problems: vec![Problem {
                key: "(top level)".into(),
                message: format!(
                    "expected a mapping of settings (key: value), found {}",
                    schema::show(&other)
                ),
            }],
        }),
    }
}

fn layer_from(map: &Mapping, path: &Path, prefix: &str) -> Layer {
    map.iter()
        .filter_map(|(k, v)| {
            let k = scalar_str(k)?;
            if schema::BASE_ONLY.contains(&k.as_str()) {
                return None;
            }
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            Some((
                k,
                (
                    v.clone(),
                    Origin::File {
                        path: path.to_path_buf(),
                        key,
                    },
                ),
            ))
        })
        .collect()
}

/// The parser's message for an integer beyond 64 bits (`timeout: invalid type:
/// integer `99999999999999999999` as u128, …`), in the words of the key's own bound.
fn huge_number(message: &str) -> Option<String> {
    let (key, rest) = message.split_once(": invalid type: integer `")?;
    let (number, _) = rest.split_once('`')?;
    let key = key.rsplit('.').next().unwrap_or(key);
    let bound = schema::spec(key).and_then(|s| match s.ty {
        schema::Ty::Seconds | schema::Ty::LockTtl | schema::Ty::Duration => Some(format!(
            "must be a number of seconds above 0 and at most {} (365 days)",
            schema::MAX_SECONDS
        )),
        schema::Ty::Port => Some("must be a port number from 1 to 65535".to_string()),
        _ => None,
    });
    Some(match bound {
        Some(b) => format!("{key}: {number} is out of range: {b}"),
        None => format!("{key}: {number} is too large a number"),
    })
}

struct Resolver {
    layers: Vec<Layer>,
}

impl Resolver {
    /// The winning value of a key: the last layer that has it; mappings deep-merge.
    fn get(&self, key: &str) -> Option<(Value, Origin)> {
        let mut found: Option<(Value, Origin)> = None;
        for layer in &self.layers {
            if let Some((v, o)) = layer.get(key) {
                found = Some(match (found, v) {
                    (Some((Value::Mapping(base), _)), Value::Mapping(over)) => {
                        (Value::Mapping(deep_merge(&base, over)), o.clone())
                    }
                    _ => (v.clone(), o.clone()),
                });
            }
        }
        found.filter(|(v, _)| !v.is_null())
    }

    fn settings(&self, config_file: Option<PathBuf>, profile: Option<String>) -> Settings {
        let mut origins = BTreeMap::new();
        let mut take = |key: &'static str| -> Option<Value> {
            self.get(key).map(|(v, o)| {
                origins.insert(key, o);
                v
            })
        };
        let string = |v: Option<Value>| v.as_ref().and_then(scalar_str).filter(|s| !s.is_empty());

        let hosts = take("hosts").map(|v| as_list(&v).unwrap_or_default());
        let port = take("port").map(|v| as_port(&v).unwrap_or(9042));
        let username = string(take("username"));
        let password = string(take("password")).map(Secret::new);
        let astra_token = string(take("astra_token")).map(Secret::new);
        let file = |v: Option<Value>| string(v).map(|p| Material::Path(PathBuf::from(p)));
        let secure_connect_bundle = file(take("secure_connect_bundle"));
        let tls = Tls {
            enabled: take("ssl").as_ref().and_then(as_bool).unwrap_or(false),
            ca_file: file(take("ssl_cafile")),
            cert_file: file(take("ssl_certfile")),
            key_file: file(take("ssl_keyfile")),
            verify_hostname: take("ssl_verify_hostname")
                .as_ref()
                .and_then(as_bool)
                .unwrap_or(true),
        };
        let history_keyspace = string(take("history_keyspace"));
        let history_table =
            string(take("history_table")).unwrap_or_else(|| "change_history".into());
        let root_folder = string(take("root_folder"))
            .map_or_else(|| PathBuf::from("./migrations"), PathBuf::from);
        let timeout = take("timeout")
            .and_then(|v| as_seconds(&v).ok().flatten())
            .map(Duration::from_secs_f64);
        let verbose = take("verbose").as_ref().and_then(as_bool).unwrap_or(false);
        let dry_run = take("dry_run").as_ref().and_then(as_bool).unwrap_or(false);
        let tag = string(take("tag"));
        let environment = string(take("environment"));
        let checksum_drift = match string(take("checksum_drift")).as_deref() {
            Some("error") => DriftPolicy::Error,
            _ => DriftPolicy::Warn,
        };
        let schema_drift = match string(take("schema_drift")).as_deref() {
            Some("error") => SchemaDriftPolicy::Error,
            Some("ignore") => SchemaDriftPolicy::Ignore,
            _ => SchemaDriftPolicy::Warn,
        };
        let target = string(take("target")).and_then(|s| cassachange_cql::Target::parse(&s));
        let history_consistency = match string(take("history_consistency"))
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            Some("each_quorum") => HistoryConsistency::EachQuorum,
            Some("local_quorum") => HistoryConsistency::LocalQuorum,
            _ => HistoryConsistency::Quorum,
        };
        let lock_ttl = take("lock_ttl")
            .and_then(|v| as_seconds(&v).ok().flatten())
            .map_or(Duration::from_secs(u64::from(DEFAULT_LOCK_TTL)), |s| {
                Duration::from_secs_f64(s.ceil())
            });
        let lock_wait = take("lock_wait")
            .and_then(|v| as_duration(&v).ok())
            .unwrap_or_default();
        let notifications = take("notifications").map(|v| notifications(&v));
        let secrets_provider = string(take("secrets_provider"));
        let secrets = take("secrets")
            .and_then(|v| v.as_mapping().cloned())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((scalar_str(k)?, scalar_str(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut warnings = Vec::new();
        let keyspaces = self.keyspaces(&mut origins, &mut warnings);

        Settings {
            config_file,
            profile,
            hosts: hosts
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| vec!["127.0.0.1".into()]),
            port: port.unwrap_or(9042),
            username,
            password,
            astra_token,
            secure_connect_bundle,
            tls,
            keyspaces,
            history_keyspace,
            history_table,
            root_folder,
            timeout,
            verbose,
            dry_run,
            tag,
            environment,
            checksum_drift,
            schema_drift,
            history_consistency,
            target,
            lock_ttl,
            lock_wait,
            notifications,
            secrets_provider,
            secrets,
            origins,
            warnings,
        }
    }

    /// `keyspace`/`keyspaces`: the most specific layer that sets either wins (so
    /// `--keyspace x` narrows a profile's `keyspaces` list); within one layer the
    /// list wins, as in the original. `CASSANDRA_KEYSPACE` is the original's
    /// `keyspace`: it never replaces a configured `keyspaces` list.
    ///
    /// A keyspace named twice (in any letter case: unquoted CQL names are
    /// case-insensitive) is kept once, with a warning: running every script twice
    /// would fail the second pass and leave the versions pending.
    fn keyspaces(
        &self,
        origins: &mut BTreeMap<&'static str, Origin>,
        warnings: &mut Vec<String>,
    ) -> Vec<String> {
        let file_has_list = self.layers.iter().any(|layer| {
            layer.get("keyspaces").is_some_and(|(v, o)| {
                matches!(o, Origin::File { .. }) && as_list(v).is_ok_and(|l| !l.is_empty())
            })
        });
        for layer in self.layers.iter().rev() {
            for key in ["keyspaces", "keyspace"] {
                let Some((v, o)) = layer.get(key).filter(|(v, _)| !v.is_null()) else {
                    continue;
                };
                if *o == Origin::Env("CASSANDRA_KEYSPACE") && file_has_list {
                    continue;
                }
                let list = as_list(v).unwrap_or_default();
                if !list.is_empty() {
                    origins.insert(key, o.clone());
                    return dedupe_keyspaces(list, o, warnings);
                }
            }
        }
        Vec::new()
    }
}

fn dedupe_keyspaces(list: Vec<String>, origin: &Origin, warnings: &mut Vec<String>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::with_capacity(list.len());
    for ks in list {
        match seen.iter().find(|k| k.eq_ignore_ascii_case(&ks)) {
            Some(first) => warnings.push(format!(
                "{origin}: keyspace '{ks}' is listed more than once (as '{first}'); it is deployed once"
            )),
            None => seen.push(ks),
        }
    }
    seen
}

fn deep_merge(base: &Mapping, over: &Mapping) -> Mapping {
    let mut out = base.clone();
    for (k, v) in over {
        let merged = match (out.get(k), v) {
            (Some(Value::Mapping(b)), Value::Mapping(o)) => Value::Mapping(deep_merge(b, o)),
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    out
}

fn notifications(v: &Value) -> Notifications {
    let on_events = v
        .get("on_events")
        .and_then(|e| as_list(e).ok())
        .unwrap_or_default();
    let channels = v
        .get("channels")
        .and_then(Value::as_sequence)
        .map(|list| {
            list.iter()
                .map(|c| {
                    let s = |k: &str| c.get(k).and_then(scalar_str).filter(|s| !s.is_empty());
                    Channel {
                        kind: s("type").unwrap_or_default().to_ascii_lowercase(),
                        url: s("webhook_url").or_else(|| s("url")).map(Secret::new),
                        url_env: s("webhook_url_env"),
                        method: s("method"),
                        timeout: c
                            .get("timeout")
                            .and_then(|t| as_seconds(t).ok().flatten())
                            .map(Duration::from_secs_f64),
                        headers: c
                            .get("headers")
                            .and_then(Value::as_mapping)
                            .map(|h| {
                                h.iter()
                                    .filter_map(|(k, v)| Some((scalar_str(k)?, scalar_str(v)?)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Notifications {
        on_events,
        channels,
    }
}

impl Settings {
    /// The history keyspace, or the original's error telling every way to set it.
    pub fn require_history_keyspace(&self) -> Result<&str, ConfigError> {
        self.history_keyspace
            .as_deref()
            .ok_or(ConfigError::Missing {
                what: "history_keyspace",
                how: "--history-keyspace, the CASSACHANGE_HISTORY_KEYSPACE environment variable, \
                  or history_keyspace in cassachange.yml",
            })
    }

    /// The target keyspaces, or the original's error telling every way to set them.
    pub fn require_keyspaces(&self) -> Result<&[String], ConfigError> {
        if self.keyspaces.is_empty() {
            Err(ConfigError::Missing {
                what: "keyspace / keyspaces",
                how: "--keyspace, --keyspaces, the CASSANDRA_KEYSPACE environment variable, \
                      or keyspace / keyspaces in cassachange.yml",
            })
        } else {
            Ok(&self.keyspaces)
        }
    }

    /// True when a `secrets` or `secrets_provider` block is present (after profile merge).
    pub fn has_secrets_block(&self) -> bool {
        !self.secrets.is_empty() || self.secrets_provider.is_some()
    }

    /// Registers the secret values of this configuration (password, Astra token)
    /// with the redactor.
    pub fn register_secrets(&self) {
        for s in [&self.password, &self.astra_token].into_iter().flatten() {
            crate::redact::register(s.expose());
        }
    }

    /// Puts a resolved string secret into the setting it names: a secret wins over
    /// every other source (as in the original); a flag or environment variable that
    /// set the same key is reported. The value is registered with the redactor.
    pub fn apply_secret(&mut self, key: &str, uri: &str, value: String) {
        crate::redact::register(&value);
        if let Some(i) = channel_secret_index(key) {
            match self
                .notifications
                .as_mut()
                .and_then(|n| n.channels.get_mut(i))
            {
                Some(ch) => {
                    if ch.url.is_some() || ch.url_env.is_some() {
                        self.warnings.push(format!(
                            "secrets.{key} ({uri}) replaces the channel's own URL setting"
                        ));
                    }
                    ch.url = Some(Secret::new(value));
                    ch.url_env = None;
                }
                None => self.warnings.push(format!(
                    "secrets.{key}: there is no notifications.channels[{i}]; the secret is unused"
                )),
            }
            return;
        }
        let Some(spec) = schema::spec(key) else {
            return;
        };
        match key {
            "username" => self.username = Some(value),
            "password" => self.password = Some(Secret::new(value)),
            "astra_token" => self.astra_token = Some(Secret::new(value)),
            "hosts" => self.hosts = value.split(',').map(|h| h.trim().to_string()).collect(),
            "keyspace" => self.keyspaces = vec![value],
            "history_keyspace" => self.history_keyspace = Some(value),
            _ => return,
        }
        self.set_origin(spec.name, uri);
    }

    /// Puts a resolved file secret (decoded content) into the file setting it names;
    /// the content stays in memory.
    pub fn apply_file_secret(&mut self, key: &str, uri: &str, bytes: Vec<u8>) {
        let Some(spec) = schema::spec(key) else {
            return;
        };
        let material = Some(Material::Memory {
            key: spec.name,
            bytes: bytes.into(),
        });
        match key {
            "secure_connect_bundle" => self.secure_connect_bundle = material,
            "ssl_cafile" => self.tls.ca_file = material,
            "ssl_certfile" => self.tls.cert_file = material,
            "ssl_keyfile" => self.tls.key_file = material,
            _ => return,
        }
        self.set_origin(spec.name, uri);
    }

    fn set_origin(&mut self, key: &'static str, uri: &str) {
        let before = self.origin(key);
        if matches!(before, Origin::Flag(_) | Origin::Env(_)) {
            self.warnings.push(format!(
                "{key} is set by {before} and by secrets.{key}; the secret is used"
            ));
        }
        self.origins.insert(key, Origin::Secret(uri.to_string()));
    }

    /// Where scripts will run: the `target` setting, else AstraDB when a secure
    /// connect bundle is configured, else Apache Cassandra.
    pub fn target(&self) -> cassachange_cql::Target {
        self.target
            .unwrap_or(if self.secure_connect_bundle.is_some() {
                cassachange_cql::Target::Astra
            } else {
                cassachange_cql::Target::Cassandra
            })
    }

    /// True when `key` was filled from a secret manager.
    pub fn from_secret(&self, key: &str) -> bool {
        matches!(self.origins.get(key), Some(Origin::Secret(_)))
    }

    /// Where `key` came from, for messages.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }
}

#[cfg(test)]
mod tests;
