//! Defines the root module the plugin exports (`libcassachange_enterprise.so`).
//!
//! It is a prefix type: the fields up to `last_prefix_field` exist in every 1.x plugin;
//! fields after it were appended in later minors and are read as `Option`s, `None` when
//! the plugin is older than the host.

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RResult, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, StableAbi};

use crate::host::HostRef;
use crate::types::{AuditRecord, CommandInfo, CommandOutput, PluginInfo, SecretRef, SecretValue};

#[cfg(feature = "sim-major2")]
pub(crate) const VERSION: &str = "2.0.0";
#[cfg(all(feature = "sim-older", not(feature = "sim-major2")))]
pub(crate) const VERSION: &str = "1.0.0";
#[cfg(all(
    feature = "sim-newer",
    not(feature = "sim-major2"),
    not(feature = "sim-older")
))]
pub(crate) const VERSION: &str = "1.3.0";
#[cfg(not(any(feature = "sim-major2", feature = "sim-older", feature = "sim-newer")))]
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

pub use self::root::{EnterpriseMod, EnterpriseModRef};

/// The derive emits unsafe accessors for the fields after `last_prefix_field` (and code
/// clippy would word differently): confined to this module.
#[allow(
    unsafe_code,
    clippy::cast_ptr_alignment,
    clippy::expl_impl_clone_on_copy
)]
mod root {
    #[cfg_attr(feature = "sim-older", allow(unused_imports))]
    use super::{
        declare_root_module_statics, AuditRecord, CommandInfo, CommandOutput, HostRef, PluginInfo,
        RResult, RStr, RString, RVec, RootModule, SecretRef, SecretValue, StableAbi,
        VersionStrings, VERSION,
    };

    /// The functions a plugin exports. Every one catches its own panics (see `guard`).
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = EnterpriseModRef)))]
    #[sabi(missing_field(option))]
    pub struct EnterpriseMod {
        /// Version, interface version, providers. (1.0)
        pub describe: extern "C" fn() -> RResult<PluginInfo, RString>,
        /// Resolves secret URIs with `provider`. (1.0)
        pub resolve_secrets: extern "C" fn(
            host: HostRef<'_>,
            provider: RStr<'_>,
            secrets: RVec<SecretRef>,
        ) -> RResult<RVec<SecretValue>, RString>,
        /// Writes a base64 file secret to a private temporary file; returns its path. (1.0)
        pub materialise_file_secret:
            extern "C" fn(key: RStr<'_>, content_base64: RStr<'_>) -> RResult<RString, RString>,
        /// Appends one event to the audit log through the host. (1.0)
        #[sabi(last_prefix_field)]
        pub record_audit:
            extern "C" fn(host: HostRef<'_>, record: AuditRecord) -> RResult<(), RString>,

        /// Extra subcommands (`audit`). (1.1)
        #[cfg(not(feature = "sim-older"))]
        pub commands: extern "C" fn() -> RVec<CommandInfo>,
        /// Runs an extra subcommand with its arguments. (1.1)
        #[cfg(not(feature = "sim-older"))]
        pub run_command: extern "C" fn(
            host: HostRef<'_>,
            name: RStr<'_>,
            args: RVec<RString>,
        ) -> RResult<CommandOutput, RString>,

        /// Appends several events of one run to the audit log through the host, in one
        /// go (the host groups and overlaps the writes). An older plugin lacks it: the
        /// host then calls `record_audit` once per event. (1.2)
        #[cfg(not(feature = "sim-older"))]
        pub record_audit_batch:
            extern "C" fn(host: HostRef<'_>, records: RVec<AuditRecord>) -> RResult<(), RString>,

        /// A test-only capability of a simulated newer interface. (1.3)
        #[cfg(feature = "sim-newer")]
        pub self_check: extern "C" fn() -> RString,
    }

    impl RootModule for EnterpriseModRef {
        declare_root_module_statics! {EnterpriseModRef}
        const BASE_NAME: &'static str = "cassachange_enterprise";
        const NAME: &'static str = "cassachange enterprise plugin";
        const VERSION_STRINGS: VersionStrings = VersionStrings::new(VERSION);
    }
}
