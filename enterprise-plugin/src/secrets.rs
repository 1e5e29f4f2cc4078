//! Defines secret resolution. The providers (Vault, AWS SSM, AWS Secrets Manager, Azure
//! Key Vault) and file secrets land with the secrets issue; until then a `secrets` block
//! gets an error naming the provider and what this build has.

use cassachange_plugin_api::{HostRef, RVec, SecretRef, SecretValue};

/// Resolves every secret with `provider`.
pub(crate) fn resolve(
    _host: &HostRef<'_>,
    provider: &str,
    secrets: &RVec<SecretRef>,
) -> Result<RVec<SecretValue>, String> {
    let keys: Vec<&str> = secrets.iter().map(|s| s.key.as_str()).collect();
    let built = crate::providers();
    Err(format!(
        "secrets_provider '{provider}' (for {}) is not available in this plugin build (providers: {}); \
         secret managers are not implemented yet",
        keys.join(", "),
        if built.is_empty() { "none".to_string() } else { built.join(", ") }
    ))
}

/// Writes a base64 file secret to a private temporary file.
pub(crate) fn materialise(key: &str, _content_base64: &str) -> Result<String, String> {
    Err(format!(
        "file secret '{key}': file secrets are not implemented yet"
    ))
}
