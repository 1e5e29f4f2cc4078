//! Defines the AWS backends: SSM Parameter Store (`ssm:///<name>`: String, StringList,
//! SecureString decrypted) and Secrets Manager (`asm://<id>[#<field>]`: the whole
//! string, one field of its JSON, or a binary secret for a file secret), with the
//! standard credential chain and region resolution of the AWS SDK — environment,
//! shared config and credentials files and profiles, web identity (CI OIDC),
//! credential_process, SSO, container and instance metadata — and `AWS_ENDPOINT_URL`.
//! One configuration is loaded per run; every secret is read concurrently.

use aws_config::BehaviorVersion;
use aws_credential_types::provider::{error::CredentialsError, ProvideCredentials};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use base64::Engine as _;
use futures_util::future::join_all;

use super::{Item, Target};

/// Resolves `items` (SSM and Secrets Manager URIs), one result per item, in order.
/// `file_keys` are the config keys whose value is a file's content in base64.
pub(crate) async fn resolve(items: &[Item], file_keys: &[&str]) -> Vec<Result<String, String>> {
    if items.is_empty() {
        return Vec::new();
    }
    let config = match load().await {
        Ok(c) => c,
        Err(e) => return items.iter().map(|_| Err(e.clone())).collect(),
    };
    let ssm = aws_sdk_ssm::Client::new(&config);
    let asm = aws_sdk_secretsmanager::Client::new(&config);
    join_all(items.iter().map(|item| async {
        match &item.target {
            Target::Ssm { name } => parameter(&ssm, name).await,
            Target::Asm { id, field } => {
                secret(
                    &asm,
                    id,
                    field.as_deref(),
                    file_keys.contains(&item.key.as_str()),
                )
                .await
            }
            _ => Err("not an AWS URI".to_string()),
        }
    }))
    .await
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The SDK configuration: region and credentials, checked before any request so a
/// missing one is said plainly.
async fn load() -> Result<aws_config::SdkConfig, String> {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    if config.region().is_none() {
        return Err(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or region in the profile of \
             ~/.aws/config"
                .into(),
        );
    }
    let Some(provider) = config.credentials_provider() else {
        return Err(no_credentials(""));
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(config),
        Err(CredentialsError::CredentialsNotLoaded(_)) => Err(no_credentials("")),
        Err(e) => Err(no_credentials(&format!(" ({})", cause(&e)))),
    }
}

fn no_credentials(detail: &str) -> String {
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    format!(
        "no usable AWS credentials{detail}: tried the environment (AWS_ACCESS_KEY_ID, \
         AWS_SECRET_ACCESS_KEY), the shared config and credentials files (profile '{profile}'), \
         web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN), container and instance \
         metadata; set one of them"
    )
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

/// Where requests go, for messages.
fn endpoint(service_var: &str) -> String {
    env(service_var)
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| "the AWS endpoint of the region".into())
}

/// Turns an SDK error into one line: what failed, where, what to check.
fn describe<E, R>(e: &SdkError<E, R>, service: &str, service_var: &str, what: &str) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => format!(
            "cannot reach {service} at {}: {}; check AWS_ENDPOINT_URL, the region and the network",
            endpoint(service_var),
            cause(e)
        ),
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            let code = err.code().unwrap_or("error");
            let hint = match code {
                "ParameterNotFound" | "ResourceNotFoundException" => {
                    format!("not found: {what} does not exist; check the name and the region")
                }
                "AccessDeniedException" | "AccessDenied" => format!(
                    "permission denied reading {what}; check the IAM policy of the credentials \
                     (and the KMS key policy for encrypted values)"
                ),
                "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "ExpiredTokenException" => format!(
                    "the AWS credentials were refused ({code}); check AWS_ACCESS_KEY_ID, \
                     AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or the profile"
                ),
                _ => format!(
                    "{service} answered {code}: {}",
                    err.message().unwrap_or("no message")
                ),
            };
            format!("{service}: {hint}")
        }
        other => format!("{service}: {}", cause(other)),
    }
}

async fn parameter(client: &aws_sdk_ssm::Client, name: &str) -> Result<String, String> {
    let out = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            describe(
                &e,
                "AWS SSM Parameter Store",
                "AWS_ENDPOINT_URL_SSM",
                &format!("parameter {name}"),
            )
        })?;
    let p = out
        .parameter()
        .ok_or_else(|| format!("AWS SSM Parameter Store: parameter {name} came back empty"))?;
    // String and SecureString (decrypted) as they are; a StringList is its
    // comma-separated text, which is what `hosts` takes.
    p.value()
        .map(str::to_string)
        .ok_or_else(|| format!("AWS SSM Parameter Store: parameter {name} has no value"))
}

async fn secret(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    field: Option<&str>,
    file_secret: bool,
) -> Result<String, String> {
    const ASM: &str = "AWS Secrets Manager";
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            describe(
                &e,
                ASM,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                &format!("secret {id}"),
            )
        })?;
    if let Some(text) = out.secret_string() {
        let Some(field) = field else {
            return Ok(text.to_string());
        };
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|_| {
            format!(
                "{ASM}: secret {id} is not a JSON object, so it has no field '{field}'; drop \
                 '#{field}' to use the whole secret"
            )
        })?;
        return match doc.get(field) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Null) | None => {
                let mut keys: Vec<String> = doc
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
                keys.sort();
                Err(format!(
                    "{ASM}: secret {id} has no field '{field}' (its fields: {})",
                    if keys.is_empty() {
                        "none".to_string()
                    } else {
                        keys.join(", ")
                    }
                ))
            }
            Some(other) => Ok(other.to_string()),
        };
    }
    if let Some(blob) = out.secret_binary() {
        if !file_secret {
            return Err(format!(
                "{ASM}: secret {id} is binary; a binary secret can only fill a file secret \
                 (ssl_cafile, ssl_certfile, ssl_keyfile, secure_connect_bundle)"
            ));
        }
        if field.is_some() {
            return Err(format!(
                "{ASM}: secret {id} is binary: it has no fields; drop the '#'"
            ));
        }
        // The host decodes file secrets from base64.
        return Ok(base64::engine::general_purpose::STANDARD.encode(blob.as_ref()));
    }
    Err(format!("{ASM}: secret {id} has no value"))
}
