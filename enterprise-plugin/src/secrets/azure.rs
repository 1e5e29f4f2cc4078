//! Defines the Azure Key Vault backend, on Microsoft's maintained crates
//! (`azure_security_keyvault_secrets`, `azure_identity`): `akv://<vault>/<secret>[/<version>]`.
//!
//! Rust's `azure_identity` has no `DefaultAzureCredential`, so the chain the original
//! gets from it is built here, tried in this order: a client secret from
//! `AZURE_TENANT_ID` / `AZURE_CLIENT_ID` / `AZURE_CLIENT_SECRET`; workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE`); managed identity; the Azure CLI. The first that
//! gives a token is used for the whole run; when none does, the error lists what was
//! tried and why each failed.
//!
//! For sovereign clouds, private endpoints and tests: `CASSACHANGE_AZURE_KEYVAULT_URL`
//! replaces `https://{vault}.vault.azure.net` (`{vault}` is the URI's vault name),
//! `AZURE_AUTHORITY_HOST` the Entra ID authority, and `CASSACHANGE_AZURE_CACERT` adds a
//! CA certificate (PEM) that the Key Vault and token endpoints may be signed by.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, RetryOptions, StatusCode, Transport,
};
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_secrets::models::SecretClientGetSecretOptions;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures_util::future::join_all;

use super::{Item, Target};

/// Replaces `https://{vault}.vault.azure.net`.
const URL_ENV: &str = "CASSACHANGE_AZURE_KEYVAULT_URL";
/// An extra CA certificate (PEM file) for Key Vault and token endpoints.
const CA_ENV: &str = "CASSACHANGE_AZURE_CACERT";
/// How long one credential of the chain may take (managed identity on a machine that
/// is not in Azure would otherwise wait for a connection that never comes).
const CREDENTIAL_TIMEOUT: Duration = Duration::from_secs(8);

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Resolves `items` (Key Vault URIs), one result per item, in order.
pub(crate) async fn resolve(items: &[Item], _file_keys: &[&str]) -> Vec<Result<String, String>> {
    if items.is_empty() {
        return Vec::new();
    }
    let options = match client_options() {
        Ok(o) => o,
        Err(e) => return items.iter().map(|_| Err(e.clone())).collect(),
    };
    let credential = Arc::new(Chain::new(&options));
    let mut clients: HashMap<String, Result<(SecretClient, String), String>> = HashMap::new();
    for item in items {
        if let Target::AzureKeyVault { vault, .. } = &item.target {
            clients
                .entry(vault.clone())
                .or_insert_with(|| client(vault, credential.clone(), &options));
        }
    }
    join_all(items.iter().map(|item| read(&clients, item))).await
}

/// HTTP options shared by Key Vault and the credentials: a transport that trusts the
/// extra CA when one is given, and a short retry policy (a wrong URL must not take
/// minutes to say so).
fn client_options() -> Result<ClientOptions, String> {
    let mut http = reqwest::Client::builder();
    if let Some(path) = env(CA_ENV) {
        let pem = std::fs::read(&path).map_err(|e| {
            format!("Azure Key Vault: cannot read the CA file '{path}' ({e}); check {CA_ENV}")
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
            format!("Azure Key Vault: '{path}' holds no PEM certificate; check {CA_ENV}")
        })?;
        for c in certs {
            http = http.add_root_certificate(c);
        }
    }
    let http = http
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| format!("Azure Key Vault: cannot set up HTTPS ({e})"))?;
    let options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http))),
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            max_retries: 2,
            max_total_elapsed: azure_core::time::Duration::seconds(15),
            ..ExponentialRetryOptions::default()
        }),
        ..ClientOptions::default()
    };
    Ok(options)
}

/// The vault's URL: `https://<vault>.vault.azure.net`, or the override.
fn vault_url(vault: &str) -> String {
    match env(URL_ENV) {
        Some(u) => u.replace("{vault}", vault),
        None => format!("https://{vault}.vault.azure.net"),
    }
}

fn client(
    vault: &str,
    credential: Arc<Chain>,
    options: &ClientOptions,
) -> Result<(SecretClient, String), String> {
    let url = vault_url(vault);
    // Key Vault's challenge names the resource its tokens are for; the client checks it
    // against the vault's domain, which an address like https://127.0.0.1:8443 (a
    // private endpoint or a test stand-in) cannot match.
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split(['/', ':']).next())
        .unwrap_or("");
    let literal = host.parse::<std::net::IpAddr>().is_ok() || host == "localhost";
    let secret_options = SecretClientOptions {
        client_options: options.clone(),
        verify_challenge_resource: Some(!literal),
        ..SecretClientOptions::default()
    };
    SecretClient::new(&url, credential, Some(secret_options))
        .map(|c| (c, url.clone()))
        .map_err(|e| {
            format!("Azure Key Vault: '{url}' is not a usable vault URL ({e}); check {URL_ENV}")
        })
}

async fn read(
    clients: &HashMap<String, Result<(SecretClient, String), String>>,
    item: &Item,
) -> Result<String, String> {
    let Target::AzureKeyVault {
        vault,
        name,
        version,
    } = &item.target
    else {
        return Err("not a Key Vault URI".into());
    };
    let (client, url) = clients
        .get(vault)
        .ok_or("no client for the vault")?
        .as_ref()
        .map_err(Clone::clone)?;
    let options = SecretClientGetSecretOptions {
        secret_version: version.clone(),
        ..SecretClientGetSecretOptions::default()
    };
    let what = match version {
        Some(v) => format!("secret {name} (version {v})"),
        None => format!("secret {name}"),
    };
    let response = client
        .get_secret(name, Some(options))
        .await
        .map_err(|e| describe(&e, url, &what))?;
    let secret = response.into_model().map_err(|e| {
        format!("Azure Key Vault at {url}: the answer for {what} is not Key Vault's JSON ({e})")
    })?;
    secret
        .value
        .ok_or_else(|| format!("Azure Key Vault at {url}: {what} has no value"))
}

fn describe(e: &azure_core::Error, url: &str, what: &str) -> String {
    match (e.kind(), e.http_status()) {
        (_, Some(StatusCode::NotFound)) => format!(
            "Azure Key Vault at {url}: not found: {what} does not exist; check the name (and the \
             version)"
        ),
        (_, Some(StatusCode::Forbidden | StatusCode::Unauthorized)) => format!(
            "Azure Key Vault at {url}: permission denied for {what}; give the identity the 'Key \
             Vault Secrets User' role or a get permission in the vault's access policy"
        ),
        (ErrorKind::Credential, _) => format!("Azure Key Vault at {url}: {}", cause(e)),
        (ErrorKind::Connection | ErrorKind::Io, _) => format!(
            "cannot reach Azure Key Vault at {url}: {}; check the vault name, {URL_ENV} and the \
             network (and {CA_ENV} for a private CA)",
            cause(e)
        ),
        _ => format!("Azure Key Vault at {url}: {what}: {}", cause(e)),
    }
}

/// The innermost cause of an error.
fn cause(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        last = c.to_string();
        cur = c.source();
    }
    last
}

/// A credential of the chain, or why it is left out.
type Member = Result<Arc<dyn TokenCredential>, String>;

/// The credential chain of the original's `DefaultAzureCredential`.
struct Chain {
    /// In order: each credential by name, or why it is left out.
    members: Vec<(&'static str, Member)>,
    /// The member that gave a token.
    chosen: Mutex<Option<usize>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.members.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Chain")
            .field("members", &names)
            .finish_non_exhaustive()
    }
}

impl Chain {
    fn new(options: &ClientOptions) -> Self {
        let client_secret = match (
            env("AZURE_TENANT_ID"),
            env("AZURE_CLIENT_ID"),
            env("AZURE_CLIENT_SECRET"),
        ) {
            (Some(tenant), Some(client), Some(secret)) => {
                let o = ClientSecretCredentialOptions {
                    client_options: options.clone(),
                };
                ClientSecretCredential::new(&tenant, client, Secret::new(secret), Some(o))
                    .map(|c| c as Arc<dyn TokenCredential>)
                    .map_err(|e| cause(&e))
            }
            _ => Err(
                "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not all set".into(),
            ),
        };
        let workload = if env("AZURE_FEDERATED_TOKEN_FILE").is_some() {
            let mut o = WorkloadIdentityCredentialOptions::default();
            o.credential_options.client_options = options.clone();
            WorkloadIdentityCredential::new(Some(o))
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(|e| cause(&e))
        } else {
            Err("AZURE_FEDERATED_TOKEN_FILE is not set".into())
        };
        let managed = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
            client_options: options.clone(),
            ..ManagedIdentityCredentialOptions::default()
        }))
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| cause(&e));
        let cli = AzureCliCredential::new(None)
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| cause(&e));
        Chain {
            members: vec![
                ("client secret", client_secret),
                ("workload identity", workload),
                ("managed identity", managed),
                ("Azure CLI", cli),
            ],
            chosen: Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for Chain {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let chosen = *self
            .chosen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, Ok(credential))) = chosen.and_then(|i| self.members.get(i)) {
            return credential.get_token(scopes, options).await;
        }
        let mut tried = Vec::new();
        for (i, (name, member)) in self.members.iter().enumerate() {
            let credential = match member {
                Ok(c) => c,
                Err(why) => {
                    tried.push(format!("{name} ({why})"));
                    continue;
                }
            };
            let attempt = tokio::time::timeout(
                CREDENTIAL_TIMEOUT,
                credential.get_token(scopes, options.clone()),
            )
            .await;
            match attempt {
                Ok(Ok(token)) => {
                    *self
                        .chosen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(i);
                    return Ok(token);
                }
                Ok(Err(e)) => tried.push(format!("{name} ({})", first_line(&cause(&e)))),
                Err(_) => tried.push(format!(
                    "{name} (no answer within {}s)",
                    CREDENTIAL_TIMEOUT.as_secs()
                )),
            }
        }
        Err(azure_core::Error::with_message(
            ErrorKind::Credential,
            format!(
                "no Azure credential worked; tried, in order: {}",
                tried.join("; ")
            ),
        ))
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s);
    if line.chars().count() > 200 {
        format!("{}…", line.chars().take(200).collect::<String>())
    } else {
        line.to_string()
    }
}
