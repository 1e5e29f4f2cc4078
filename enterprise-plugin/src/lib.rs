//! The cassachange enterprise plugin (secret managers, file secrets, audit log).
//! The exported root module lands with the plugin issue.

/// The interface major version this plugin was built against.
pub const BUILT_FOR_INTERFACE: u32 = cassachange_plugin_api::INTERFACE_MAJOR;
