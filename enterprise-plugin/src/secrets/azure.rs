//! Defines the Azure Key Vault backend (being built: until it lands, `akv://` URIs are
//! refused as not built in, whatever the features).

use super::Item;

/// Resolves `items` (Key Vault URIs), one result per item, in order.
#[allow(clippy::unused_async)]
pub(crate) async fn resolve(items: &[Item], _file_keys: &[&str]) -> Vec<Result<String, String>> {
    items
        .iter()
        .map(|_| Err("Azure Key Vault is not built into this plugin yet".to_string()))
        .collect()
}
