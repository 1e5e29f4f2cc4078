//! Defines `HostServices`, what the host offers the plugin: running CQL with bound values
//! on the host's session, and logging through the host. The plugin opens no connection
//! of its own.

use abi_stable::sabi_trait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::sabi_types::RRef;
use abi_stable::std_types::{RResult, RStr, RString, RVec};

use crate::types::{Rows, Value};

pub use self::services::{HostServices, HostServices_TO};

/// `#[sabi_trait]` expands to unsafe impls; they are confined to this module.
#[allow(
    unsafe_code,
    missing_docs,
    clippy::used_underscore_binding,
    clippy::cast_ptr_alignment
)]
mod services {
    use super::{sabi_trait, RResult, RStr, RString, RVec, Rows, Value};

    /// Services the host provides to the plugin. `Send + Sync`: the plugin may call
    /// them from any thread.
    #[sabi_trait]
    pub trait HostServices: Send + Sync {
        /// Runs one CQL statement with bound values and returns its rows.
        fn execute(&self, cql: RStr<'_>, values: RVec<Value>) -> RResult<Rows, RString>;

        /// Logs through the host's logger (0 error, 1 warn, 2 info, 3 debug, 4 trace).
        #[sabi(last_prefix_field)]
        fn log(&self, level: u8, message: RStr<'_>);

        /// Runs one CQL write once per row of bound values; `Ok` when every row was
        /// applied. The host may group rows into unlogged batches and overlap them. (1.2;
        /// with a 1.0/1.1 host this default runs the rows one by one through `execute`.)
        fn execute_many(&self, cql: RStr<'_>, rows: RVec<RVec<Value>>) -> RResult<(), RString> {
            for values in rows {
                if let RResult::RErr(e) = self.execute(cql, values) {
                    return RResult::RErr(e);
                }
            }
            RResult::ROk(())
        }
    }
}

/// What plugin functions receive: a borrowed, type-erased host.
pub type HostRef<'a> = HostServices_TO<'a, RRef<'a, ()>>;

/// The host side in plain Rust: implement this; the loader adapts it to the ABI and
/// catches any panic in it.
pub trait Host: Send + Sync {
    /// Runs one CQL statement with bound values.
    fn execute(&self, cql: &str, values: Vec<Value>) -> Result<Rows, String>;
    /// Logs a message.
    fn log(&self, level: u8, message: &str);
    /// Runs one CQL write once per row of bound values (the default: one by one).
    fn execute_many(&self, cql: &str, rows: Vec<Vec<Value>>) -> Result<(), String> {
        for values in rows {
            self.execute(cql, values)?;
        }
        Ok(())
    }
}

struct Adapter<'h>(&'h dyn Host);

impl HostServices for Adapter<'_> {
    fn execute(&self, cql: RStr<'_>, values: RVec<Value>) -> RResult<Rows, RString> {
        crate::guard("host callback execute", || {
            self.0.execute(cql.as_str(), values.into_vec())
        })
    }

    fn log(&self, level: u8, message: RStr<'_>) {
        let _ = crate::guard("host callback log", || {
            self.0.log(level, message.as_str());
            Ok(())
        });
    }

    fn execute_many(&self, cql: RStr<'_>, rows: RVec<RVec<Value>>) -> RResult<(), RString> {
        crate::guard("host callback execute_many", || {
            self.0
                .execute_many(cql.as_str(), rows.into_iter().map(RVec::into_vec).collect())
        })
    }
}

/// Calls `f` with the ABI view of `host`.
pub(crate) fn with_host<R>(host: &dyn Host, f: impl FnOnce(HostRef<'_>) -> R) -> R {
    let adapter = Adapter(host);
    f(HostServices_TO::from_ptr(&adapter, TD_Opaque))
}
