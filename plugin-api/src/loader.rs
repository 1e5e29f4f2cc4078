//! Defines the loader: open the plugin file, enforce the version-skew policy, check the
//! layout in the direction that matters, and wrap the root module in safe calls. Every
//! failure is one line ([`LoadError`]); abi_stable's full report is kept for `--verbose`.

use std::fmt;
use std::path::{Path, PathBuf};

use abi_stable::abi_stability::check_layout_compatibility;
use abi_stable::library::{lib_header_from_path, LibHeader, LibraryError, RootModule};
use abi_stable::sabi_types::VersionNumber;
use abi_stable::std_types::{RStr, RString, RVec};
use abi_stable::StableAbi;

use crate::host::{with_host, Host};
use crate::module::EnterpriseModRef;
use crate::types::{AuditRecord, CommandInfo, CommandOutput, PluginInfo, SecretRef};

/// Why a plugin file was not loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file is not a cassachange plugin (no root module, not a shared library).
    NotAPlugin {
        /// The file.
        path: PathBuf,
        /// The loader's reason.
        reason: String,
    },
    /// Built for another interface major.
    Incompatible {
        /// The file.
        path: PathBuf,
        /// The plugin's interface version.
        plugin: String,
        /// This host's interface version.
        host: String,
    },
    /// The layouts of the interface types differ.
    Layout {
        /// The file.
        path: PathBuf,
        /// A one-line summary.
        summary: String,
        /// abi_stable's full report.
        detail: String,
    },
    /// The plugin's constructor or `describe` failed (or panicked).
    Failed {
        /// The file.
        path: PathBuf,
        /// Its reason.
        reason: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotAPlugin { path, reason } => {
                write!(f, "{} is not a cassachange plugin: {reason}", path.display())
            }
            LoadError::Incompatible { path, plugin, host } => write!(
                f,
                "{} was built for plugin interface {plugin}, but this cassachange provides interface {host}",
                path.display()
            ),
            LoadError::Layout { path, summary, .. } => {
                write!(f, "{} does not match this cassachange's plugin interface: {summary}", path.display())
            }
            LoadError::Failed { path, reason } => write!(f, "{} failed to start: {reason}", path.display()),
        }
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    /// abi_stable's full report, for `--verbose`.
    pub fn detail(&self) -> Option<&str> {
        match self {
            LoadError::Layout { detail, .. } => Some(detail),
            _ => None,
        }
    }
}

/// A loaded plugin.
pub struct Plugin {
    module: EnterpriseModRef,
    info: PluginInfo,
}

/// Cargo-style compatibility: `x.y.z` with `x >= 1` is compatible within `x`.
fn major(v: VersionNumber) -> (u32, u32) {
    if v.major == 0 {
        (0, v.minor)
    } else {
        (v.major, 0)
    }
}

fn one_line(e: &LibraryError) -> String {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    match e {
        LibraryError::OpenError { err, .. } => err.to_string(),
        LibraryError::GetSymbolError { .. } => "it exports no cassachange root module".into(),
        LibraryError::RootModule { err, .. } => squash(&err.to_string()),
        LibraryError::InvalidAbiHeader(h) => format!(
            "built with an incompatible abi_stable (abi {}.{})",
            h.abi_major, h.abi_minor
        ),
        LibraryError::Many(v) => v.iter().map(one_line).collect::<Vec<_>>().join("; "),
        other => squash(&other.to_string()).chars().take(300).collect(),
    }
}

/// The `Error:` lines of an abi_stable layout report, deduplicated.
fn layout_summary(report: &str) -> String {
    let lines: Vec<&str> = report.lines().map(str::trim).collect();
    let mut out: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(rest) = l.strip_prefix("Error:") {
            let item = format!(
                "{rest} (expected {}, found {})",
                lines.get(i + 2).unwrap_or(&"?"),
                lines.get(i + 4).unwrap_or(&"?")
            );
            if !out.contains(&item) {
                out.push(item);
            }
        }
    }
    if out.is_empty() {
        "incompatible type layouts".into()
    } else {
        out.join("; ")
    }
}

/// Loads the plugin at `path` (a regular file; the caller checks ownership and mode).
pub fn load(path: &Path) -> Result<Plugin, LoadError> {
    // dlopen searches the library path for names without '/': always pass a full path.
    let abs = path.canonicalize().map_err(|e| LoadError::NotAPlugin {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    load_as(&abs, path)
}

/// Loads the library at `open` (an absolute path, e.g. `/proc/self/fd/N` of a checked
/// private copy), naming it `path` in every message.
pub fn load_as(open: &Path, path: &Path) -> Result<Plugin, LoadError> {
    let not_a_plugin = |reason: String| LoadError::NotAPlugin {
        path: path.to_path_buf(),
        reason: reason.replace(&*open.to_string_lossy(), &path.to_string_lossy()),
    };
    let header = lib_header_from_path(open).map_err(|e| not_a_plugin(one_line(&e)))?;

    let host_v = EnterpriseModRef::VERSION_STRINGS
        .parsed()
        .map_err(|e| not_a_plugin(format!("host interface version: {e}")))?;
    let plugin_v = header
        .version_strings()
        .parsed()
        .map_err(|e| not_a_plugin(format!("unreadable interface version: {e}")))?;
    if major(host_v) != major(plugin_v) {
        return Err(LoadError::Incompatible {
            path: path.to_path_buf(),
            plugin: plugin_v.to_string(),
            host: host_v.to_string(),
        });
    }
    let module = init(header, host_v, plugin_v, path)?;
    // abi_stable keeps one root module per process: register this one.
    let module =
        EnterpriseModRef::load_module_with(|| Ok::<_, LibraryError>(module)).map_err(|e| {
            LoadError::Failed {
                path: path.to_path_buf(),
                reason: one_line(&e),
            }
        })?;
    let info = (module.describe())()
        .into_result()
        .map_err(|e| LoadError::Failed {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok(Plugin { module, info })
}

/// abi_stable's own check accepts a plugin with at least the host's fields (upstream
/// issue #118 refuses an older plugin with fewer, even after `last_prefix_field`). For a
/// plugin of an older minor the same checker runs with the roles swapped: every field
/// the plugin has must match the host's declaration; the fields it lacks read as `None`.
#[allow(unsafe_code)]
fn init(
    header: &'static LibHeader,
    host_v: VersionNumber,
    plugin_v: VersionNumber,
    path: &Path,
) -> Result<EnterpriseModRef, LoadError> {
    let layout_error = |report: String| LoadError::Layout {
        path: path.to_path_buf(),
        summary: layout_summary(&report),
        detail: report,
    };
    let failed = |e: &LibraryError| match e {
        LibraryError::AbiInstability(_) => layout_error(e.to_string()),
        _ => LoadError::Failed {
            path: path.to_path_buf(),
            reason: one_line(e),
        },
    };
    if (plugin_v.minor, plugin_v.patch) >= (host_v.minor, host_v.patch) {
        return header
            .init_root_module::<EnterpriseModRef>()
            .map_err(|e| failed(&e));
    }
    let plugin_layout = header.layout().ok_or_else(|| {
        layout_error("the plugin exported its root module without a layout".into())
    })?;
    check_layout_compatibility(plugin_layout, <EnterpriseModRef as StableAbi>::LAYOUT)
        .into_result()
        .map_err(|e| layout_error(e.to_string()))?;
    // SAFETY: the layout of every field the older plugin has was checked just above
    // against the host's declaration; fields it lacks are reached only through the
    // accessors that return `None` for them.
    unsafe { header.init_root_module_with_unchecked_layout::<EnterpriseModRef>() }
        .map_err(|e| failed(&e))
}

impl Plugin {
    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Resolves `(key, uri)` pairs with `provider`; returns `(key, value)` pairs.
    pub fn resolve_secrets(
        &self,
        host: &dyn Host,
        provider: &str,
        secrets: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, String> {
        let refs: RVec<SecretRef> = secrets
            .into_iter()
            .map(|(key, uri)| SecretRef {
                key: key.into(),
                uri: uri.into(),
            })
            .collect();
        let out = with_host(host, |h| {
            (self.module.resolve_secrets())(h, RStr::from_str(provider), refs)
        });
        out.into_result()
            .map(|v| {
                v.into_iter()
                    .map(|s| (s.key.into_string(), s.value.into_string()))
                    .collect()
            })
            .map_err(RString::into_string)
    }

    /// Decodes a base64 file secret into a private temporary file; returns its path.
    pub fn materialise_file_secret(
        &self,
        key: &str,
        content_base64: &str,
    ) -> Result<PathBuf, String> {
        (self.module.materialise_file_secret())(RStr::from_str(key), RStr::from_str(content_base64))
            .into_result()
            .map(|p| PathBuf::from(p.into_string()))
            .map_err(RString::into_string)
    }

    /// Appends one audit event.
    pub fn record_audit(&self, host: &dyn Host, record: AuditRecord) -> Result<(), String> {
        with_host(host, |h| (self.module.record_audit())(h, record))
            .into_result()
            .map_err(RString::into_string)
    }

    /// Appends several events of one run: in one call when the plugin has
    /// `record_audit_batch` (interface 1.2), else one `record_audit` per event.
    pub fn record_audit_batch(
        &self,
        host: &dyn Host,
        records: Vec<AuditRecord>,
    ) -> Result<(), String> {
        #[cfg(not(feature = "sim-older"))]
        if let Some(f) = self.module.record_audit_batch() {
            let records: RVec<AuditRecord> = records.into_iter().collect();
            return with_host(host, |h| f(h, records))
                .into_result()
                .map_err(RString::into_string);
        }
        for record in records {
            self.record_audit(host, record)?;
        }
        Ok(())
    }

    /// Whether the plugin writes a batch of audit events in one call (interface 1.2).
    pub fn batches_audit(&self) -> bool {
        #[cfg(not(feature = "sim-older"))]
        {
            self.module.record_audit_batch().is_some()
        }
        #[cfg(feature = "sim-older")]
        {
            false
        }
    }

    /// The extra subcommands, or `None` when the plugin predates them (interface 1.0).
    pub fn commands(&self) -> Option<Vec<CommandInfo>> {
        #[cfg(not(feature = "sim-older"))]
        {
            self.module.commands().map(|f| f().into_vec())
        }
        #[cfg(feature = "sim-older")]
        {
            None
        }
    }

    /// Runs an extra subcommand, or `None` when the plugin predates subcommands.
    pub fn run_command(
        &self,
        host: &dyn Host,
        name: &str,
        args: Vec<String>,
    ) -> Option<Result<CommandOutput, String>> {
        #[cfg(not(feature = "sim-older"))]
        {
            let f = self.module.run_command()?;
            let args: RVec<RString> = args.into_iter().map(RString::from).collect();
            Some(
                with_host(host, |h| f(h, RStr::from_str(name), args))
                    .into_result()
                    .map_err(RString::into_string),
            )
        }
        #[cfg(feature = "sim-older")]
        {
            let _ = (host, name, args);
            None
        }
    }
}
