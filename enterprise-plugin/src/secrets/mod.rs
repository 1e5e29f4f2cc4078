//! Defines secret resolution: every URI of the `secrets` block is parsed and checked
//! against `secrets_provider`, then each backend resolves its secrets concurrently on
//! the plugin's own runtime (no tokio type crosses the boundary).
//!
//! Errors name the config key, the URI and the backend and say what to check; they
//! never hold a value. All problems are reported together, one line each.

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "azure")]
mod azure;
mod uri;
#[cfg(feature = "vault")]
mod vault;

use cassachange_plugin_api::{HostRef, RVec, SecretRef, SecretValue};

pub(crate) use uri::{Backend, Target};

/// One secret to resolve.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// The config key it fills (`password`).
    pub(crate) key: String,
    /// The URI as written.
    pub(crate) uri: String,
    /// Where it lives.
    pub(crate) target: Target,
}

impl Item {
    /// `secrets.password (vault://…)`, for messages.
    pub(crate) fn label(&self) -> String {
        format!("secrets.{} ({})", self.key, self.uri)
    }
}

/// Resolves every secret; `provider` is `secrets_provider` (empty when not set: each
/// URI's scheme then picks its backend).
pub(crate) fn resolve(
    _host: &HostRef<'_>,
    provider: &str,
    secrets: &RVec<SecretRef>,
) -> Result<RVec<SecretValue>, String> {
    let items = parse_all(provider, secrets)?;
    let results = run(items.clone())?;
    let mut errors = Vec::new();
    let mut values = RVec::new();
    for (item, result) in items.iter().zip(results) {
        match result {
            Ok(value) => values.push(SecretValue {
                key: item.key.as_str().into(),
                value: value.into(),
            }),
            Err(e) => errors.push(format!("{}: {e}", item.label())),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors.join("\n"))
    }
}

/// Parses the URIs, checks them against `secrets_provider` and against the backends
/// this build has.
fn parse_all(provider: &str, secrets: &RVec<SecretRef>) -> Result<Vec<Item>, String> {
    let wanted = if provider.trim().is_empty() {
        None
    } else {
        Some(Backend::from_provider(provider).ok_or_else(|| {
            format!(
                "secrets_provider '{}' is not a provider: use vault, ssm, asm or azure-keyvault",
                provider.escape_debug()
            )
        })?)
    };
    let mut errors = Vec::new();
    let mut items = Vec::new();
    for s in secrets {
        let (key, uri) = (s.key.as_str(), s.uri.as_str());
        // Escaped: a URI or key with a line break or a control character (YAML allows
        // them in quoted strings) must not break or forge lines of the error.
        let label = format!("secrets.{} ({})", key.escape_debug(), uri.escape_debug());
        match uri::parse(uri) {
            Err(e) => errors.push(format!("{label}: {e}")),
            Ok(target) => {
                let backend = target.backend();
                if let Some(w) = wanted.filter(|w| *w != backend) {
                    errors.push(format!(
                        "{label}: the scheme {}:// names {backend}, but secrets_provider is '{}' \
                         ({w}); use one provider's URIs, or change secrets_provider",
                        backend.scheme(),
                        w.provider()
                    ));
                } else if !built_in(backend) {
                    errors.push(format!(
                        "{label}: this plugin was built without the '{}' feature that {backend} \
                         needs (built with: {}); install a plugin built with --features {} (or all)",
                        backend.feature(),
                        crate::built_features(),
                        backend.feature()
                    ));
                } else {
                    items.push(Item {
                        key: key.to_string(),
                        uri: uri.to_string(),
                        target,
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(errors.join("\n"))
    }
}

/// True when `backend` is compiled into this plugin.
fn built_in(backend: Backend) -> bool {
    match backend {
        Backend::Vault => cfg!(feature = "vault"),
        Backend::Ssm | Backend::Asm => cfg!(feature = "aws"),
        Backend::AzureKeyVault => cfg!(feature = "azure"),
    }
}

/// Resolves `items` (all of backends built in), one result per item, in order: each
/// backend's secrets together, the backends at the same time.
#[cfg(any(feature = "vault", feature = "aws", feature = "azure"))]
fn run(items: Vec<Item>) -> Result<Vec<Result<String, String>>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the plugin's runtime: {e}"))?;
    let family = |b: Backend| match b {
        Backend::Vault => 0,
        Backend::Ssm | Backend::Asm => 1,
        Backend::AzureKeyVault => 2,
    };
    let mut groups: [Vec<Item>; 3] = Default::default();
    let mut slots = Vec::with_capacity(items.len());
    for item in items {
        let f = family(item.target.backend());
        slots.push((f, groups[f].len()));
        groups[f].push(item);
    }
    let [vault_items, aws_items, azure_items] = &groups;
    let (vault, aws, azure) = rt.block_on(async {
        tokio::join!(
            resolve_vault(vault_items),
            resolve_aws(aws_items),
            resolve_azure(azure_items)
        )
    });
    let results = [vault, aws, azure];
    Ok(slots
        .into_iter()
        .map(|(f, i)| results[f][i].clone())
        .collect())
}

#[cfg(feature = "vault")]
async fn resolve_vault(items: &[Item]) -> Vec<Result<String, String>> {
    vault::resolve(items).await
}

#[cfg(feature = "aws")]
async fn resolve_aws(items: &[Item]) -> Vec<Result<String, String>> {
    aws::resolve(items, FILE_KEYS).await
}

#[cfg(feature = "azure")]
async fn resolve_azure(items: &[Item]) -> Vec<Result<String, String>> {
    azure::resolve(items, FILE_KEYS).await
}

/// A backend not built in never gets items (`parse_all` refuses them).
#[cfg(any(not(feature = "vault"), not(feature = "aws"), not(feature = "azure")))]
#[allow(clippy::unused_async, dead_code)]
async fn not_built(items: &[Item]) -> Vec<Result<String, String>> {
    items
        .iter()
        .map(|i| {
            Err(format!(
                "{} is not built into this plugin",
                i.target.backend()
            ))
        })
        .collect()
}

#[cfg(all(not(feature = "vault"), any(feature = "aws", feature = "azure")))]
use not_built as resolve_vault;
#[cfg(all(not(feature = "aws"), any(feature = "vault", feature = "azure")))]
use not_built as resolve_aws;
#[cfg(all(not(feature = "azure"), any(feature = "vault", feature = "aws")))]
use not_built as resolve_azure;

/// Without any backend built in, nothing reaches here: `parse_all` refuses every URI.
#[cfg(not(any(feature = "vault", feature = "aws", feature = "azure")))]
#[allow(clippy::unnecessary_wraps)]
fn run(items: Vec<Item>) -> Result<Vec<Result<String, String>>, String> {
    Ok(items
        .into_iter()
        .map(|i| {
            Err(format!(
                "{} is not built into this plugin",
                i.target.backend()
            ))
        })
        .collect())
}

/// The config keys whose secret is a file's content in base64.
#[allow(dead_code)]
const FILE_KEYS: &[&str] = &[
    "secure_connect_bundle",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
];

/// Answers the 1.0 interface's file-secret call: file secrets are decoded by the host
/// and kept in memory (its TLS configuration and bundle reader take bytes), so no
/// file is ever written.
pub(crate) fn materialise(key: &str, _content_base64: &str) -> Result<String, String> {
    Err(format!(
        "file secret '{key}': this plugin never writes file secrets to disk; the host keeps \
         them in memory"
    ))
}
