//! Secrets from HashiCorp Vault (the real OpenBao server) through the real plugin:
//! KV v1 and v2 with both spellings, token and AppRole logins, a namespace, TLS with
//! `VAULT_CACERT`, every error as one line before any connection, a deploy whose
//! password comes from Vault, and one whose CA, client certificate and key come from
//! Vault as file secrets on the mutual-TLS node — with no file written for them, and
//! no secret value in anything the runs print or write.

use cassachange_tests::db::secure;
use cassachange_tests::leaks::{deploy_leaks_nothing, TlsMaterial};
use cassachange_tests::vault::{openbao, unique};
use cassachange_tests::{enterprise_bin, plugin_variant, Output, Project, SecretsProject};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

pub(crate) fn status_ok(out: &Output, what: &str) {
    assert_eq!(out.code, 0, "{what}: {}", out.all());
    assert!(
        out.stdout.contains("No migrations found."),
        "{what}: {}",
        out.stdout
    );
}

#[test]
fn kv2_and_kv1_in_both_spellings_with_a_token() {
    let bao = openbao();
    let role = secure().role("vkv");
    let path = unique("kv");
    bao.put_kv2(
        &format!("{path}/db"),
        &[("password", &role.password), ("user", "x")],
    );
    bao.put_kv1(&format!("{path}/db"), &[("password", &role.password)]);
    let token = bao.env_token(&bao.root_token);
    for uri in [
        format!("vault://secret/data/{path}/db#password"),
        format!("vault://secret/{path}/db#password"),
        format!("vault://kv1/{path}/db#password"),
    ] {
        let p = SecretsProject::new("vault", "vkv", &role, &format!("  password: {uri}\n"), "");
        status_ok(&p.run(&["status"], &token), &uri);
    }
    // The secret wins over the environment, and says so.
    let uri = format!("vault://secret/data/{path}/db#password");
    let p = SecretsProject::new("vault", "vkv", &role, &format!("  password: {uri}\n"), "");
    let mut with_env = token.clone();
    with_env.push(("CASSANDRA_PASSWORD".into(), "not-the-password".into()));
    let out = p.run(&["status"], &with_env);
    status_ok(&out, "secret and CASSANDRA_PASSWORD");
    assert!(
        out.stderr.contains(
            "warning: password is set by environment variable CASSANDRA_PASSWORD and by \
             secrets.password; the secret is used"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn approle_namespace_and_tls_with_a_ca_file() {
    let bao = openbao();
    let role = secure().role("vauth");
    let path = unique("auth");
    bao.put_kv2(&format!("{path}/db"), &[("password", &role.password)]);
    bao.put_in_namespace(
        "team-a",
        &format!("{path}/db"),
        &[("password", &role.password)],
    );
    bao.put_tls(&format!("{path}/db"), &[("password", &role.password)]);
    let secrets = format!("  password: vault://secret/data/{path}/db#password\n");
    let p = SecretsProject::new("vault", "vauth", &role, &secrets, "");
    let approle = env(&[
        ("VAULT_ADDR", &bao.addr),
        ("VAULT_ROLE_ID", &bao.role_id),
        ("VAULT_SECRET_ID", &bao.secret_id),
    ]);
    status_ok(&p.run(&["status"], &approle), "AppRole");
    let mut ns = bao.env_token(&bao.root_token);
    ns.push(("VAULT_NAMESPACE".into(), "team-a".into()));
    status_ok(&p.run(&["status"], &ns), "namespace team-a");
    let tls = env(&[
        ("VAULT_ADDR", &bao.tls_addr),
        ("VAULT_TOKEN", &bao.root_token),
        ("VAULT_CACERT", &bao.tls_ca.display().to_string()),
    ]);
    status_ok(&p.run(&["status"], &tls), "TLS with VAULT_CACERT");
}

fn token<'a>(addr: &'a str, t: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("VAULT_ADDR", addr), ("VAULT_TOKEN", t)]
}

/// One error case: the `secrets` lines, the environment, `secrets_provider`, and what
/// the first line of stderr must say.
type ErrorCase<'a> = (String, Vec<(&'a str, &'a str)>, &'a str, &'a str);

/// Every way resolving can go wrong: exit 2 before any connection (the hosts are
/// unreachable on purpose), one line naming the key, the URI and what to check.
#[test]
fn every_vault_error_is_one_line_naming_the_uri() {
    let bao = openbao();
    let path = unique("err");
    bao.put_kv2(&format!("{path}/db"), &[("password", "not-used-here")]);
    bao.put_kv2(
        &format!("{path}/file"),
        &[("ca", "this is not base64 at all!")],
    );
    let ok_uri = format!("vault://secret/data/{path}/db#password");
    let root = |()| token(&bao.addr, &bao.root_token);
    let p = Project::new().with_bin(enterprise_bin());
    let case = |secrets: &str, env: &[(&str, &str)], provider: &str| {
        p.write(
            "cassachange.yml",
            format!(
                "hosts: [127.0.0.1]\nport: 1\nkeyspace: k\nhistory_keyspace: h\n\
                 secrets_provider: {provider}\nsecrets:\n{secrets}"
            ),
        );
        let out = p.run_with(&["status"], env);
        assert_eq!(out.code, 2, "{secrets}: {}", out.all());
        assert!(
            !out.all().contains("cannot connect to Cassandra"),
            "stopped before connecting: {}",
            out.all()
        );
        out.stderr.lines().next().unwrap_or("").to_string()
    };
    let pw = |uri: &str| format!("  password: {uri}\n");
    let cases: Vec<ErrorCase<'_>> = vec![
        (
            pw(&ok_uri),
            vec![
                ("VAULT_ADDR", "http://127.0.0.1:1"),
                ("VAULT_TOKEN", "s.unreachable"),
            ],
            "vault",
            "cannot reach HashiCorp Vault at http://127.0.0.1:1",
        ),
        (
            pw(&ok_uri),
            vec![("VAULT_ADDR", bao.addr.as_str())],
            "vault",
            "no credentials: set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID",
        ),
        (
            pw(&ok_uri),
            token(&bao.addr, "s.not-a-real-token"),
            "vault",
            "permission denied",
        ),
        (
            pw(&ok_uri),
            vec![
                ("VAULT_ADDR", bao.addr.as_str()),
                ("VAULT_ROLE_ID", bao.role_id.as_str()),
                ("VAULT_SECRET_ID", "wrong"),
            ],
            "vault",
            "the AppRole login at auth/approle was refused",
        ),
        (
            pw(&ok_uri),
            token(&bao.addr, &bao.limited_token),
            "vault",
            "permission denied",
        ),
        (
            pw(&format!("vault://secret/data/{path}/nothing-here#password")),
            root(()),
            "vault",
            "not found: no secret at",
        ),
        (
            pw(&format!("vault://nomount/{path}#password")),
            root(()),
            "vault",
            "no secrets engine is mounted at",
        ),
        (
            pw(&format!("vault://secret/data/{path}/db#passwd")),
            root(()),
            "vault",
            "has no field 'passwd' (its fields: password)",
        ),
        (
            pw(&format!("vault://secret/data/{path}/db")),
            root(()),
            "vault",
            "a Vault URI names the field after '#'",
        ),
        (
            pw("ssm:///app/db/password"),
            root(()),
            "vault",
            "the scheme ssm:// names AWS SSM Parameter Store, but secrets_provider is 'vault'",
        ),
        (
            pw(&ok_uri),
            root(()),
            "hashicorp",
            "secrets_provider: expected vault, ssm, asm or azure-keyvault, found 'hashicorp'",
        ),
        (
            format!("  ssl_cafile: vault://secret/data/{path}/file#ca\n"),
            root(()),
            "vault",
            "the value is not base64",
        ),
        (
            pw(&ok_uri),
            vec![
                ("VAULT_ADDR", bao.tls_addr.as_str()),
                ("VAULT_TOKEN", bao.root_token.as_str()),
            ],
            "vault",
            "check VAULT_CACERT",
        ),
        (
            pw(&ok_uri),
            vec![
                ("VAULT_ADDR", bao.tls_addr.as_str()),
                ("VAULT_TOKEN", bao.root_token.as_str()),
                ("VAULT_CACERT", "/nonexistent/ca.pem"),
            ],
            "vault",
            "cannot read the CA file '/nonexistent/ca.pem'; check VAULT_CACERT",
        ),
    ];
    for (secrets, env, provider, says) in &cases {
        let line = case(secrets, env, provider);
        assert!(
            line.starts_with("error: resolving secrets failed: secrets.")
                || line.starts_with("error: secrets.")
                || line.starts_with("error: cassachange.yml: secrets_provider: "),
            "names the key: {line}"
        );
        assert!(line.contains(says), "expected '{says}' in: {line}");
        assert!(!line.contains("not-used-here"), "no value: {line}");
    }

    // A plugin built without the vault feature says which feature it lacks.
    let lean = cassachange_tests::install("novault", Some(&plugin_variant("")));
    let p = Project::new().with_bin(lean);
    p.write(
        "cassachange.yml",
        format!(
            "port: 1\nkeyspace: k\nhistory_keyspace: h\nsecrets_provider: vault\nsecrets:\n{}",
            pw(&ok_uri)
        ),
    );
    let out = p.run(&["status"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("this plugin was built without the 'vault' feature that HashiCorp Vault needs (built with: none); install a plugin built with --features vault (or all)"),
        "{}",
        out.stderr
    );
}

/// The end-to-end case: the password from Vault, and the CA, client certificate and
/// key as file secrets for mutual TLS — held in memory, never in a file, and no secret
/// value in anything printed or written, with `--verbose` and on failures too (the
/// shared probe of `leaks::deploy_leaks_nothing`).
#[test]
fn a_deploy_over_mutual_tls_with_every_secret_from_vault_leaks_nothing() {
    let bao = openbao();
    let role = secure().role("vfile");
    let tls = TlsMaterial::of_secure();
    let path = unique("files");
    bao.put_kv2(
        &format!("{path}/tls"),
        &[
            ("ca", &tls.ca64),
            ("cert", &tls.cert64),
            ("key", &tls.key64),
        ],
    );
    bao.put_kv2(&format!("{path}/db"), &[("password", &role.password)]);
    let secrets = format!(
        "  password: vault://secret/data/{path}/db#password\n\
         \x20 ssl_cafile: vault://secret/data/{path}/tls#ca\n\
         \x20 ssl_certfile: vault://secret/{path}/tls#cert\n\
         \x20 ssl_keyfile: vault://secret/{path}/tls#key\n"
    );
    let p = SecretsProject::new("vault", "vfile", &role, &secrets, "ssl: true\n");
    let token = bao.env_token(&bao.root_token);
    deploy_leaks_nothing(&p, &token, &tls, &role.password, &[]);
}
