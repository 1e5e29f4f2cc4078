//! Defines the stable interface between the `cassachange` binary and its enterprise
//! plugin: the data that crosses the boundary, the root module the plugin exports, the
//! `HostServices` object the host passes in, and the loader that enforces the
//! version-skew policy. Everything `abi_stable` is in this crate.
//!
//! Version policy: the interface version is this package's version. A host and a plugin
//! of the same major work together in both directions; capabilities appended in a later
//! minor are simply absent (`None`) when the other side is older. A different major is
//! refused with one line naming both versions.
#![deny(missing_docs)]
// abi_stable 0.11's derives expand to items rustc 1.8x flags as non-local definitions.
#![allow(non_local_definitions)]

mod host;
mod loader;
mod module;
mod types;

pub use host::{Host, HostRef, HostServices, HostServices_TO};
pub use loader::{load, load_as, LoadError, Plugin};
pub use module::{EnterpriseMod, EnterpriseModRef};
pub use types::{
    AuditRecord, CommandInfo, CommandOutput, PluginInfo, Rows, SecretRef, SecretValue, Value,
};

pub use abi_stable::export_root_module;
pub use abi_stable::prefix_type::PrefixTypeTrait;
pub use abi_stable::std_types::RBoxError;
pub use abi_stable::std_types::{RResult, RStr, RString, RVec};

/// The interface version this side was built against.
pub fn interface_version() -> &'static str {
    module::VERSION
}

/// Runs `f`, turning an error and a panic into `RErr`: every exported plugin function
/// and every host callback wraps its body in this, since a panic must never unwind
/// across the boundary (it would abort the process).
pub fn guard<T, F>(what: &str, f: F) -> RResult<T, RString>
where
    F: FnOnce() -> Result<T, String>,
{
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            RResult::RErr(format!("panic in {what}: {msg}").into())
        }
    }
}
