//! The Azure side of the fixture: the Key Vault stand-in `tests/services/akv.sh` runs
//! (started on first use when not running), a helper that stores secrets in it, and
//! the environment of a run that reaches it with one credential or another.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::tests_dir;

/// The stand-in and the identities it accepts.
#[derive(Debug)]
pub struct KeyVault {
    /// `https://127.0.0.1:<port>`: Key Vault and the token endpoints.
    pub url: String,
    /// Its CA (PEM).
    pub ca: PathBuf,
    /// Entra ID tenant.
    pub tenant: String,
    /// A client id that may read secrets.
    pub client_id: String,
    /// A client id whose tokens are refused (403).
    pub no_access_client_id: String,
    /// The client secret both clients share.
    pub client_secret: String,
    /// The federated token workload identity presents.
    pub federated_token: String,
    /// The managed identity header.
    pub identity_header: String,
    /// The token that may write secrets.
    pub admin_token: String,
}

fn script() -> PathBuf {
    tests_dir().join("services/akv.sh")
}

/// The stand-in, started if needed.
pub fn key_vault() -> &'static KeyVault {
    static I: OnceLock<KeyVault> = OnceLock::new();
    I.get_or_init(|| {
        let up = Command::new(script())
            .arg("status")
            .status()
            .expect("akv.sh status")
            .success();
        if !up {
            let out = Command::new(script())
                .arg("start")
                .output()
                .expect("akv.sh");
            assert!(
                out.status.success(),
                "could not start the Key Vault stand-in:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let env = Command::new(script())
            .arg("env")
            .output()
            .expect("akv.sh env");
        let text = String::from_utf8_lossy(&env.stdout).into_owned();
        let var = |k: &str| {
            let v = text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {k}=")))
                .unwrap_or_else(|| panic!("{k} missing from akv.sh env:\n{text}"));
            v.trim_matches('\'').trim_matches('"').to_string()
        };
        KeyVault {
            url: var("AKV_URL"),
            ca: PathBuf::from(var("AKV_CACERT")),
            tenant: var("AKV_TENANT"),
            client_id: var("AKV_CLIENT_ID"),
            no_access_client_id: var("AKV_NO_ACCESS_CLIENT_ID"),
            client_secret: var("AKV_CLIENT_SECRET"),
            federated_token: var("AKV_FEDERATED_TOKEN"),
            identity_header: var("AKV_IDENTITY_HEADER"),
            admin_token: var("AKV_ADMIN_TOKEN"),
        }
    })
}

impl KeyVault {
    /// Stores a new version of secret `name`; returns the version.
    pub fn put(&self, name: &str, value: &str) -> String {
        let body = serde_json::json!({ "value": value }).to_string();
        let mut child = Command::new("curl")
            .args(["-s", "-f", "-X", "PUT", "--cacert"])
            .arg(&self.ca)
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", self.admin_token))
            .args(["--data-binary", "@-"])
            .arg(format!("{}/secrets/{name}", self.url))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(body.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("curl");
        assert!(out.status.success(), "storing {name} failed");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split("/secrets/")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|r| r.split('/').nth(1))
            .expect("a version in the answer")
            .to_string()
    }

    /// The environment every run needs: the vault URL override and the CA, and no
    /// credential yet.
    pub fn base_env(&self) -> Vec<(String, String)> {
        vec![
            ("CASSACHANGE_AZURE_KEYVAULT_URL".into(), self.url.clone()),
            (
                "CASSACHANGE_AZURE_CACERT".into(),
                self.ca.display().to_string(),
            ),
            ("AZURE_AUTHORITY_HOST".into(), self.url.clone()),
        ]
    }

    /// With the client-secret credential of `client_id`.
    pub fn env_client_secret(&self, client_id: &str) -> Vec<(String, String)> {
        let mut e = self.base_env();
        e.push(("AZURE_TENANT_ID".into(), self.tenant.clone()));
        e.push(("AZURE_CLIENT_ID".into(), client_id.into()));
        e.push(("AZURE_CLIENT_SECRET".into(), self.client_secret.clone()));
        e
    }

    /// A fake `az` in `dir` that gets its token from the stand-in as the Azure CLI
    /// would from Entra ID; returns a PATH with `dir` first.
    pub fn fake_az(&self, dir: &Path) -> String {
        let script = format!(
            "#!/bin/sh\n# a stand-in of `az account get-access-token -o json --scope S`\n\
             tok=$(curl -s --cacert '{ca}' -d 'grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=x' \
             '{url}/{tenant}/oauth2/v2.0/token' | sed 's/.*\"access_token\": *\"\\([^\"]*\\)\".*/\\1/')\n\
             [ -n \"$tok\" ] || exit 1\n\
             printf '{{\"accessToken\": \"%s\", \"expires_on\": %s, \"tokenType\": \"Bearer\"}}\\n' \"$tok\" $(( $(date +%s) + 3600 ))\n",
            ca = self.ca.display(),
            id = self.client_id,
            secret = self.client_secret,
            url = self.url,
            tenant = self.tenant,
        );
        let az = dir.join("az");
        std::fs::write(&az, script).expect("write az");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}
