//! Secrets from Azure Key Vault (Microsoft's Rust SDK against our HTTPS stand-in of
//! Key Vault and Entra ID) through the real plugin: each credential of the chain —
//! client secret, workload identity, managed identity, Azure CLI — a pinned version,
//! every error as one line before any connection, and a mutual-TLS deploy whose
//! password and TLS material come from Key Vault with nothing on disk and no value in
//! any output.

use cassachange_tests::azure::key_vault;
use cassachange_tests::db::secure;
use cassachange_tests::leaks::{deploy_leaks_nothing, TlsMaterial};
use cassachange_tests::vault::unique;
use cassachange_tests::{enterprise_bin, Output, Project, SecretsProject};

/// Environment variables of one run.
type Env = Vec<(String, String)>;

fn status_ok(out: &Output, what: &str) {
    assert_eq!(out.code, 0, "{what}: {}", out.all());
    assert!(
        out.stdout.contains("No migrations found."),
        "{what}: {}",
        out.stdout
    );
}

#[test]
fn every_credential_of_the_chain_and_a_pinned_version() {
    let kv = key_vault();
    let role = secure().role("akv");
    let name = unique("pw");
    let old = kv.put(&name, "an-older-password-value");
    kv.put(&name, &role.password);
    let p = SecretsProject::new(
        "azure-keyvault",
        "akv",
        &role,
        &format!("  password: akv://it-vault/{name}\n"),
        "",
    );
    status_ok(
        &p.run(&["status"], &kv.env_client_secret(&kv.client_id)),
        "client secret",
    );

    p.project.write("federated-token", &kv.federated_token);
    let mut env = kv.base_env();
    env.extend([
        ("AZURE_TENANT_ID".to_string(), kv.tenant.clone()),
        ("AZURE_CLIENT_ID".to_string(), kv.client_id.clone()),
        (
            "AZURE_FEDERATED_TOKEN_FILE".to_string(),
            p.project
                .path()
                .join("federated-token")
                .display()
                .to_string(),
        ),
    ]);
    status_ok(&p.run(&["status"], &env), "workload identity");

    let mut env = kv.base_env();
    env.extend([
        (
            "IDENTITY_ENDPOINT".to_string(),
            format!("{}/msi/token", kv.url),
        ),
        ("IDENTITY_HEADER".to_string(), kv.identity_header.clone()),
    ]);
    status_ok(&p.run(&["status"], &env), "managed identity");

    let mut env = kv.base_env();
    env.push(("PATH".into(), kv.fake_az(p.project.path())));
    status_ok(&p.run(&["status"], &env), "Azure CLI");

    // A pinned version reads that version.
    let pinned = SecretsProject::new(
        "azure-keyvault",
        "akv",
        &role,
        &format!("  password: akv://it-vault/{name}/{old}\n"),
        "",
    );
    let out = pinned.run(&["status"], &kv.env_client_secret(&kv.client_id));
    assert_eq!(
        out.code,
        2,
        "the old version is the wrong password: {}",
        out.all()
    );
    assert!(
        out.stderr.contains("cannot connect to Cassandra"),
        "{}",
        out.stderr
    );
}

#[test]
fn every_key_vault_error_is_one_line_naming_the_uri() {
    let kv = key_vault();
    let name = unique("err");
    kv.put(&name, "not-used-here");
    kv.put(&format!("{name}-file"), "this is not base64!");
    let p = Project::new().with_bin(enterprise_bin());
    let good = kv.env_client_secret(&kv.client_id);
    let mut wrong_secret = good.clone();
    for (k, v) in &mut wrong_secret {
        if k == "AZURE_CLIENT_SECRET" {
            *v = "a-wrong-client-secret".into();
        }
    }
    let no_access = kv.env_client_secret(&kv.no_access_client_id);
    let unreachable: Vec<(String, String)> = good
        .iter()
        .map(|(k, v)| {
            if k == "CASSACHANGE_AZURE_KEYVAULT_URL" {
                (k.clone(), "https://127.0.0.1:1".to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let no_ca: Vec<(String, String)> = good
        .iter()
        .filter(|(k, _)| k != "CASSACHANGE_AZURE_CACERT")
        .cloned()
        .collect();
    let nothing = kv.base_env();
    let pw = |uri: String| format!("  password: {uri}\n");
    let cases: Vec<(String, &Env, &str)> = vec![
        (pw(format!("akv://it-vault/{name}-missing")), &good,
         "not found: secret "),
        (pw(format!("akv://it-vault/{name}")), &no_access,
         "permission denied for secret "),
        (pw(format!("akv://it-vault/{name}")), &wrong_secret,
         "no Azure credential worked; tried, in order: client secret ("),
        (pw(format!("akv://it-vault/{name}")), &nothing,
         "tried, in order: client secret (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not all set); workload identity (AZURE_FEDERATED_TOKEN_FILE is not set); managed identity ("),
        (pw(format!("akv://it-vault/{name}")), &unreachable,
         "cannot reach Azure Key Vault at https://127.0.0.1:1"),
        (pw(format!("akv://it-vault/{name}")), &no_ca,
         "CASSACHANGE_AZURE_CACERT"),
        (pw("akv://x/pw".to_string()), &good,
         "a Key Vault URI is akv://<vault-name>/<secret-name>[/<version>]"),
        (format!("  ssl_cafile: akv://it-vault/{name}-file\n"), &good,
         "the value is not base64"),
    ];
    for (secrets, env, says) in cases {
        p.write(
            "cassachange.yml",
            format!(
                "hosts: [127.0.0.1]\nport: 1\nkeyspace: k\nhistory_keyspace: h\n\
                 secrets_provider: azure-keyvault\nsecrets:\n{secrets}"
            ),
        );
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = p.run_with(&["status"], &env);
        assert_eq!(out.code, 2, "{secrets}: {}", out.all());
        let line = out.stderr.lines().next().unwrap_or("");
        assert!(
            line.starts_with("error: resolving secrets failed: secrets.")
                || line.starts_with("error: secrets."),
            "names the key: {line}"
        );
        assert!(line.contains(says), "expected '{says}' in: {line}");
        for secret in [
            "not-used-here",
            "a-wrong-client-secret",
            kv.client_secret.as_str(),
        ] {
            assert!(!out.all().contains(secret), "a value leaked: {}", out.all());
        }
        assert!(!out.all().contains("cannot connect to Cassandra"));
    }
}

/// Password and TLS material from Key Vault: a mutual-TLS deploy, nothing on disk, no
/// value in any output (the shared probe of `leaks::deploy_leaks_nothing`).
#[test]
fn a_deploy_over_mutual_tls_with_every_secret_from_key_vault_leaks_nothing() {
    let kv = key_vault();
    let role = secure().role("akvfile");
    let tls = TlsMaterial::of_secure();
    let u = unique("akvfile");
    kv.put(&format!("{u}-pw"), &role.password);
    kv.put(&format!("{u}-ca"), &tls.ca64);
    kv.put(&format!("{u}-cert"), &tls.cert64);
    kv.put(&format!("{u}-key"), &tls.key64);
    let secrets = format!(
        "  password: akv://it-vault/{u}-pw\n  ssl_cafile: akv://it-vault/{u}-ca\n\
         \x20 ssl_certfile: akv://it-vault/{u}-cert\n  ssl_keyfile: akv://it-vault/{u}-key\n"
    );
    let p = SecretsProject::new("azure-keyvault", "akvfile", &role, &secrets, "ssl: true\n");
    let env = kv.env_client_secret(&kv.client_id);
    deploy_leaks_nothing(
        &p,
        &env,
        &tls,
        &role.password,
        &[("client secret", kv.client_secret.as_str())],
    );
}
