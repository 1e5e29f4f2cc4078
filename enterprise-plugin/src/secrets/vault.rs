//! Defines the HashiCorp Vault backend (also OpenBao), on `vaultrs`: one login per run
//! (`VAULT_TOKEN`, or AppRole with `VAULT_ROLE_ID` + `VAULT_SECRET_ID`), then every
//! secret read concurrently. `VAULT_ADDR`, `VAULT_NAMESPACE` and `VAULT_CACERT` are
//! honoured. Each path's mount and KV version are asked of Vault
//! (`sys/internal/ui/mounts/<path>`, which a least-privilege token may read), so KV v1
//! and v2 both work, and `secret/data/x` and `secret/x` name the same v2 secret.
//!
//! Nothing here prints a value or the token: the client settings' `Debug` output holds
//! the token, so they are never formatted.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;
use vaultrs::client::{Client, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use super::{Item, Target};

/// How long one request to Vault may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Resolves `items` (Vault URIs), one result per item, in order.
pub(crate) async fn resolve(items: &[Item]) -> Vec<Result<String, String>> {
    if items.is_empty() {
        return Vec::new();
    }
    match login().await {
        Ok(v) => join_all(items.iter().map(|i| read(&v, i))).await,
        Err(e) => items.iter().map(|_| Err(e.clone())).collect(),
    }
}

/// A logged-in client and what messages need to say about it.
struct Vault {
    client: VaultClient,
    /// `VAULT_ADDR` (or the default), for messages.
    addr: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

async fn login() -> Result<Vault, String> {
    let addr_note = || match env("VAULT_ADDR") {
        Some(a) => a,
        None => "http://127.0.0.1:8200 (VAULT_ADDR is not set)".into(),
    };
    let mut builder = VaultClientSettingsBuilder::default();
    builder.timeout(Some(TIMEOUT));
    if let Some(ns) = env("VAULT_NAMESPACE") {
        builder.set_namespace(ns);
    }
    let settings = builder.build().map_err(|e| {
        format!(
            "HashiCorp Vault: the client settings are not usable ({e}); check VAULT_ADDR (an \
             http:// or https:// URL)"
        )
    })?;
    let addr = addr_note();
    let mut client = VaultClient::new(settings).map_err(|e| match e {
        ClientError::FileReadError { path, .. } | ClientError::FileNotFoundError { path } => {
            format!(
                "HashiCorp Vault at {addr}: cannot read the CA file '{path}'; check VAULT_CACERT"
            )
        }
        ClientError::ParseCertificateError { path, .. } => format!(
            "HashiCorp Vault at {addr}: '{path}' holds no PEM certificate; check VAULT_CACERT"
        ),
        other => format!(
            "HashiCorp Vault at {addr}: cannot set up the client: {}",
            cause(&other)
        ),
    })?;
    if client.settings().token.trim().is_empty() {
        let (Some(role), Some(secret)) = (env("VAULT_ROLE_ID"), env("VAULT_SECRET_ID")) else {
            return Err(format!(
                "HashiCorp Vault at {addr}: no credentials: set VAULT_TOKEN, or VAULT_ROLE_ID \
                 and VAULT_SECRET_ID for AppRole"
            ));
        };
        let mount = env("VAULT_APPROLE_MOUNT").unwrap_or_else(|| "approle".into());
        let auth = vaultrs::auth::approle::login(&client, &mount, &role, &secret)
            .await
            .map_err(|e| match &e {
                ClientError::APIError { code, .. } if (400..500).contains(code) => format!(
                    "HashiCorp Vault at {addr}: the AppRole login at auth/{mount} was refused \
                     ({code}); check VAULT_ROLE_ID and VAULT_SECRET_ID"
                ),
                other => unreachable_or(other, &addr),
            })?;
        client.set_token(&auth.client_token);
    }
    Ok(Vault { client, addr })
}

/// A request that did not get an answer: Vault unreachable or TLS refused.
fn unreachable_or(e: &ClientError, addr: &str) -> String {
    match e {
        ClientError::APIError { code, errors } => format!(
            "HashiCorp Vault at {addr} answered {code}: {}",
            errors.join("; ")
        ),
        other => reach_error(addr, &cause(other)),
    }
}

fn reach_error(addr: &str, cause: &str) -> String {
    let hint = if cause.to_ascii_lowercase().contains("certificate") {
        "check VAULT_CACERT (the CA that signed Vault's certificate)"
    } else {
        "check VAULT_ADDR and that Vault is up"
    };
    format!("cannot reach HashiCorp Vault at {addr}: {cause}; {hint}")
}

/// The innermost cause of an error, which says what actually went wrong.
fn cause(e: &dyn StdError) -> String {
    let mut last = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        last = c.to_string();
        cur = c.source();
    }
    last
}

/// A mount, as Vault describes the mount holding a path.
struct Mount {
    /// `secret/`.
    path: String,
    /// KV version: 1 or 2.
    version: u8,
}

async fn mount_of(v: &Vault, path: &str) -> Result<Mount, String> {
    let settings = v.client.settings();
    let url = format!(
        "{}/v1/sys/internal/ui/mounts/{path}",
        settings.address.as_str().trim_end_matches('/')
    );
    let mut req = v
        .client
        .http
        .http
        .get(url)
        .header("X-Vault-Token", settings.token.as_str());
    if let Some(ns) = &settings.namespace {
        req = req.header("X-Vault-Namespace", ns.as_str());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| reach_error(&v.addr, &cause(&e)))?;
    let code = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .map_err(|e| reach_error(&v.addr, &cause(&e)))?;
    match code {
        200 => {}
        // Vault answers 403 for a path under no mount too, saying the "preflight
        // capability check" failed; a plain "permission denied" is the token's policy.
        403 if !body.contains("preflight capability check") => {
            return Err(format!(
                "HashiCorp Vault at {}: permission denied for {path}; check the token's policies \
                 (and VAULT_NAMESPACE)",
                v.addr
            ))
        }
        400 | 403 | 404 => {
            return Err(format!(
                "HashiCorp Vault at {}: no secrets engine is mounted at {path} (or the token may \
                 not see it); check the mount (the first part of the path), the token's policies \
                 and VAULT_NAMESPACE",
                v.addr
            ))
        }
        other => {
            return Err(format!(
                "HashiCorp Vault at {} answered {other} for the mount of {path}",
                v.addr
            ))
        }
    }
    let doc: Value = serde_json::from_str(&body).map_err(|_| {
        format!(
            "HashiCorp Vault at {} answered something that is not Vault's JSON; check VAULT_ADDR",
            v.addr
        )
    })?;
    let data = &doc["data"];
    let kind = data["type"].as_str().unwrap_or("");
    if kind != "kv" && kind != "generic" {
        return Err(format!(
            "HashiCorp Vault at {}: {path} is in a '{kind}' secrets engine, not a KV one",
            v.addr
        ));
    }
    let version = match data["options"]["version"].as_str() {
        Some("2") => 2,
        _ => 1,
    };
    Ok(Mount {
        path: data["path"].as_str().unwrap_or("").to_string(),
        version,
    })
}

async fn read(v: &Vault, item: &Item) -> Result<String, String> {
    let Target::Vault { path, field } = &item.target else {
        return Err("not a Vault URI".into());
    };
    let mount = mount_of(v, path).await?;
    let mount_name = mount.path.trim_end_matches('/');
    let rest = path
        .strip_prefix(mount.path.as_str())
        .or_else(|| path.strip_prefix(mount_name))
        .unwrap_or(path)
        .trim_start_matches('/');
    let result = if mount.version == 2 {
        // `secret/data/x` and `secret/x` name the same KV v2 secret.
        let rel = rest.strip_prefix("data/").unwrap_or(rest);
        vaultrs::kv2::read::<HashMap<String, Value>>(&v.client, mount_name, rel).await
    } else {
        vaultrs::kv1::get::<HashMap<String, Value>>(&v.client, mount_name, rest).await
    };
    let data = result.map_err(|e| match e {
        ClientError::APIError { code: 404, .. } => format!(
            "HashiCorp Vault at {}: not found: no secret at {path} (KV v{} mount {mount_name}/); \
             check the path",
            v.addr, mount.version
        ),
        ClientError::APIError { code: 403, .. } => format!(
            "HashiCorp Vault at {}: permission denied reading {path}; check the token's policies",
            v.addr
        ),
        other => unreachable_or(&other, &v.addr),
    })?;
    match data.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => {
            let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
            keys.sort_unstable();
            Err(format!(
                "HashiCorp Vault at {}: the secret at {path} has no field '{field}' (its fields: {})",
                v.addr,
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                }
            ))
        }
        Some(other) => Ok(other.to_string()),
    }
}
