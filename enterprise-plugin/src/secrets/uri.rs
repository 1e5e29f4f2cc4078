//! Defines the secret URIs of the `secrets` block and the backend each names:
//! `vault://<path>#<field>`, `ssm:///<parameter>`, `asm://<secret>[#<field>]`,
//! `akv://<vault>/<secret>[/<version>]`. Parsing never needs a backend's SDK, so a
//! malformed URI is reported the same way in every build.

use std::fmt;

/// A secret manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Backend {
    /// HashiCorp Vault (or OpenBao).
    Vault,
    /// AWS SSM Parameter Store.
    Ssm,
    /// AWS Secrets Manager.
    Asm,
    /// Azure Key Vault.
    AzureKeyVault,
}

impl Backend {
    /// The `secrets_provider` value that names it.
    pub(crate) fn provider(self) -> &'static str {
        match self {
            Backend::Vault => "vault",
            Backend::Ssm => "ssm",
            Backend::Asm => "asm",
            Backend::AzureKeyVault => "azure-keyvault",
        }
    }

    /// The URI scheme.
    pub(crate) fn scheme(self) -> &'static str {
        match self {
            Backend::Vault => "vault",
            Backend::Ssm => "ssm",
            Backend::Asm => "asm",
            Backend::AzureKeyVault => "akv",
        }
    }

    /// The cargo feature of the plugin that builds it in.
    pub(crate) fn feature(self) -> &'static str {
        match self {
            Backend::Vault => "vault",
            Backend::Ssm | Backend::Asm => "aws",
            Backend::AzureKeyVault => "azure",
        }
    }

    /// From a `secrets_provider` value.
    pub(crate) fn from_provider(name: &str) -> Option<Backend> {
        ALL.into_iter()
            .find(|b| b.provider() == name.trim().to_ascii_lowercase())
    }

    fn from_scheme(scheme: &str) -> Option<Backend> {
        ALL.into_iter()
            .find(|b| b.scheme() == scheme.to_ascii_lowercase())
    }
}

/// Every backend.
pub(crate) const ALL: [Backend; 4] = [
    Backend::Vault,
    Backend::Ssm,
    Backend::Asm,
    Backend::AzureKeyVault,
];

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Vault => "HashiCorp Vault",
            Backend::Ssm => "AWS SSM Parameter Store",
            Backend::Asm => "AWS Secrets Manager",
            Backend::AzureKeyVault => "Azure Key Vault",
        })
    }
}

/// Where a secret lives in its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A field of a Vault KV secret at `path` (mount included, `data/` optional for
    /// KV v2).
    Vault {
        /// `secret/data/app/db` or `secret/app/db`.
        path: String,
        /// The field after `#`.
        field: String,
    },
    /// An SSM parameter.
    Ssm {
        /// `/app/db/password`.
        name: String,
    },
    /// A Secrets Manager secret, whole or one field of its JSON.
    Asm {
        /// Name or ARN.
        id: String,
        /// The JSON field after `#`.
        field: Option<String>,
    },
    /// A Key Vault secret.
    AzureKeyVault {
        /// The vault's name (`https://<vault>.vault.azure.net`).
        vault: String,
        /// The secret's name.
        name: String,
        /// A version, or the latest.
        version: Option<String>,
    },
}

impl Target {
    /// Its backend.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Target::Vault { .. } => Backend::Vault,
            Target::Ssm { .. } => Backend::Ssm,
            Target::Asm { .. } => Backend::Asm,
            Target::AzureKeyVault { .. } => Backend::AzureKeyVault,
        }
    }
}

/// Parses a secret URI; the error says what the URI should look like.
pub(crate) fn parse(uri: &str) -> Result<Target, String> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(
            "not a secret URI: expected <scheme>://…, with scheme vault, ssm, asm or akv".into(),
        );
    };
    let backend = Backend::from_scheme(scheme).ok_or_else(|| {
        format!(
            "unknown scheme '{}': expected vault://, ssm://, asm:// or akv://",
            scheme.escape_debug()
        )
    })?;
    let (body, fragment) = match rest.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (rest, None),
    };
    let fragment = fragment.map(str::trim).filter(|f| !f.is_empty());
    match backend {
        Backend::Vault => {
            let path = body.trim_matches('/');
            let field = fragment.ok_or(
                "a Vault URI names the field after '#', like vault://secret/data/app/db#password",
            )?;
            if path.is_empty() || path.split('/').any(str::is_empty) {
                return Err(
                    "a Vault URI needs a mount and a path, like vault://secret/data/app/db#password"
                        .into(),
                );
            }
            Ok(Target::Vault {
                path: path.to_string(),
                field: field.to_string(),
            })
        }
        Backend::Ssm => {
            if fragment.is_some() || rest.contains('#') {
                return Err(
                    "an SSM URI names one parameter, without '#', like ssm:///app/prod/db/password"
                        .into(),
                );
            }
            if body.trim_matches('/').is_empty() {
                return Err(
                    "an SSM URI needs a parameter name, like ssm:///app/prod/db/password".into(),
                );
            }
            Ok(Target::Ssm {
                name: body.to_string(),
            })
        }
        Backend::Asm => {
            if body.is_empty() {
                return Err(
                    "a Secrets Manager URI needs a secret name, like asm://app-prod-db#password"
                        .into(),
                );
            }
            Ok(Target::Asm {
                id: body.to_string(),
                field: fragment.map(str::to_string),
            })
        }
        Backend::AzureKeyVault => {
            if fragment.is_some() {
                return Err(
                    "a Key Vault URI has no '#': akv://<vault>/<secret>[/<version>]".into(),
                );
            }
            let parts: Vec<&str> = body.split('/').collect();
            let valid_vault = |v: &str| {
                (3..=24).contains(&v.len())
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            };
            match parts.as_slice() {
                [vault, name] | [vault, name, _] if valid_vault(vault) && !name.is_empty() => {
                    Ok(Target::AzureKeyVault {
                        vault: (*vault).to_string(),
                        name: (*name).to_string(),
                        version: parts
                            .get(2)
                            .filter(|v| !v.is_empty())
                            .map(|v| (*v).to_string()),
                    })
                }
                _ => Err(
                    "a Key Vault URI is akv://<vault-name>/<secret-name>[/<version>] (vault names \
                     are 3-24 letters, digits and '-')"
                        .into(),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_character_in_the_scheme_stays_on_one_line() {
        // Found by the secret_uri fuzz target.
        let err = parse("vau\nlt\u{1b}[2J://x").unwrap_err();
        assert!(!err.contains('\n') && !err.contains('\u{1b}'), "{err}");
        assert!(
            err.starts_with("unknown scheme 'vau\\nlt\\u{1b}[2J'"),
            "{err}"
        );
    }

    #[test]
    fn every_scheme_of_the_spec() {
        assert_eq!(
            parse("vault://secret/data/cassandra/prod#password"),
            Ok(Target::Vault {
                path: "secret/data/cassandra/prod".into(),
                field: "password".into()
            })
        );
        assert_eq!(
            parse("ssm:///myapp/prod/cassandra/password"),
            Ok(Target::Ssm {
                name: "/myapp/prod/cassandra/password".into()
            })
        );
        assert_eq!(
            parse("asm://myapp-prod-cassandra#password"),
            Ok(Target::Asm {
                id: "myapp-prod-cassandra".into(),
                field: Some("password".into())
            })
        );
        assert_eq!(
            parse("asm://myapp-prod-cassandra"),
            Ok(Target::Asm {
                id: "myapp-prod-cassandra".into(),
                field: None
            })
        );
        assert_eq!(
            parse("akv://my-vault/cassandra-password"),
            Ok(Target::AzureKeyVault {
                vault: "my-vault".into(),
                name: "cassandra-password".into(),
                version: None
            })
        );
        assert_eq!(
            parse("akv://my-vault/pw/0123abcd").map(|t| t.backend()),
            Ok(Backend::AzureKeyVault)
        );
    }

    #[test]
    fn malformed_uris_say_what_is_expected() {
        for (uri, says) in [
            ("secret/db#password", "expected <scheme>://"),
            ("vaults://secret/db#pw", "unknown scheme 'vaults'"),
            ("vault://secret/db", "names the field after '#'"),
            ("vault://#pw", "needs a mount and a path"),
            ("vault://secret//db#pw", "needs a mount and a path"),
            ("ssm:///a/b#c", "without '#'"),
            ("ssm:///", "needs a parameter name"),
            ("asm://#pw", "needs a secret name"),
            ("akv://v/name", "akv://<vault-name>/<secret-name>"),
            ("akv://my-vault", "akv://<vault-name>/<secret-name>"),
        ] {
            let err = parse(uri).expect_err(uri);
            assert!(err.contains(says), "{uri}: {err}");
        }
    }

    #[test]
    fn providers_and_schemes() {
        assert_eq!(
            Backend::from_provider("azure-keyvault"),
            Some(Backend::AzureKeyVault)
        );
        assert_eq!(Backend::from_provider(" Vault "), Some(Backend::Vault));
        assert_eq!(Backend::from_provider("gcp"), None);
        assert_eq!(Backend::Asm.feature(), "aws");
    }
}
