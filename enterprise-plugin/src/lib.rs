//! The cassachange enterprise plugin: `libcassachange_enterprise.so`, dropped beside the
//! `cassachange` binary. It adds secret managers (behind the cargo features `vault`,
//! `aws`, `azure`, like the original's pip extras), the immutable audit log and the
//! `audit` command.
//!
//! Every export catches its own panics (`guard`) and reaches the database only through
//! the host's `HostServices`: the plugin opens no connection.

mod audit;
mod secrets;

// The 1.0 simulation (`sim-older`) has no commands, so their types go unused there.
#[cfg_attr(feature = "sim-older", allow(unused_imports))]
use cassachange_plugin_api::{
    export_root_module, guard, AuditRecord, CommandInfo, CommandOutput, EnterpriseMod,
    EnterpriseModRef, HostRef, PluginInfo, PrefixTypeTrait, RBoxError, RResult, RStr, RString,
    RVec, SecretRef, SecretValue,
};

/// The plugin's version.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The provider features this plugin was built with, for messages.
pub(crate) fn built_features() -> String {
    let list = providers();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Secret providers compiled in.
fn providers() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(feature = "vault") {
        v.push("vault");
    }
    if cfg!(feature = "aws") {
        v.push("aws");
    }
    if cfg!(feature = "azure") {
        v.push("azure");
    }
    v
}

/// The root module.
#[export_root_module]
pub fn get_library() -> Result<EnterpriseModRef, RBoxError> {
    // The host reports our errors and panics (caught by `guard`); the default hook would
    // print a second, raw message from this library's own copy of std.
    std::panic::set_hook(Box::new(|_| {}));
    if cfg!(feature = "sim-ctor-fail") {
        return Err(RBoxError::from_fmt(
            &"simulated constructor failure (licence file missing)",
        ));
    }
    Ok(EnterpriseMod {
        describe,
        resolve_secrets,
        materialise_file_secret,
        record_audit,
        #[cfg(not(feature = "sim-older"))]
        commands,
        #[cfg(not(feature = "sim-older"))]
        run_command,
        #[cfg(not(feature = "sim-older"))]
        record_audit_batch,
        #[cfg(feature = "sim-newer")]
        self_check,
    }
    .leak_into_prefix())
}

extern "C" fn describe() -> RResult<PluginInfo, RString> {
    guard("describe", || {
        #[cfg(feature = "sim-panic")]
        panic!("simulated bug in describe");
        Ok(PluginInfo {
            plugin_version: VERSION.into(),
            interface_version: cassachange_plugin_api::interface_version().into(),
            providers: providers().into_iter().map(RString::from).collect(),
        })
    })
}

extern "C" fn resolve_secrets(
    host: HostRef<'_>,
    provider: RStr<'_>,
    secrets: RVec<SecretRef>,
) -> RResult<RVec<SecretValue>, RString> {
    guard("resolve_secrets", || {
        secrets::resolve(&host, provider.as_str(), &secrets)
    })
}

extern "C" fn materialise_file_secret(
    key: RStr<'_>,
    content_base64: RStr<'_>,
) -> RResult<RString, RString> {
    guard("materialise_file_secret", || {
        secrets::materialise(key.as_str(), content_base64.as_str()).map(RString::from)
    })
}

extern "C" fn record_audit(host: HostRef<'_>, record: AuditRecord) -> RResult<(), RString> {
    guard("record_audit", || audit::record(&host, &record))
}

#[cfg(not(feature = "sim-older"))]
extern "C" fn record_audit_batch(
    host: HostRef<'_>,
    records: RVec<AuditRecord>,
) -> RResult<(), RString> {
    guard("record_audit_batch", || {
        audit::record_batch(&host, &records)
    })
}

#[cfg(not(feature = "sim-older"))]
extern "C" fn commands() -> RVec<CommandInfo> {
    let list = guard("commands", || {
        Ok(vec![CommandInfo {
            name: "audit".into(),
            about: "Show the immutable audit log".into(),
        }])
    });
    list.into_result().map(RVec::from).unwrap_or_default()
}

#[cfg(not(feature = "sim-older"))]
extern "C" fn run_command(
    host: HostRef<'_>,
    name: RStr<'_>,
    args: RVec<RString>,
) -> RResult<CommandOutput, RString> {
    guard("run_command", || match name.as_str() {
        "audit" => {
            let args: Vec<String> = args.into_iter().map(RString::into_string).collect();
            audit::command(&host, &args)
        }
        other => Err(format!("unknown command '{other}'")),
    })
}

#[cfg(feature = "sim-newer")]
extern "C" fn self_check() -> RString {
    "ok".into()
}
