//! Defines the stable interface between the `cassachange` binary and its enterprise
//! plugin. (The abi_stable root module lands with the plugin issue.)
#![deny(missing_docs)]

/// Major version of the plugin interface; host and plugin must agree on it.
pub const INTERFACE_MAJOR: u32 = 1;
