//! Secrets from AWS SSM Parameter Store and Secrets Manager (the real AWS SDK against
//! moto) through the real plugin: every kind of value, each credential source that
//! can be exercised locally (environment keys, profile files, web identity through
//! STS, container and instance metadata stand-ins), every error as one line before
//! any connection, and a mutual-TLS deploy whose password and TLS material come from
//! AWS with nothing written to disk and no value in any output.

use cassachange_tests::aws::moto;
use cassachange_tests::db::secure;
use cassachange_tests::leaks::{deploy_leaks_nothing, TlsMaterial};
use cassachange_tests::stub::{Route, Stub};
use cassachange_tests::vault::unique;
use cassachange_tests::{enterprise_bin, Output, Project, SecretsProject};

fn status_ok(out: &Output, what: &str) {
    assert_eq!(out.code, 0, "{what}: {}", out.all());
    assert!(
        out.stdout.contains("No migrations found."),
        "{what}: {}",
        out.stdout
    );
}

#[test]
fn parameters_and_secrets_of_every_kind() {
    let m = moto();
    let s = secure();
    let role = s.role("aws");
    let u = unique("kinds");
    m.put_parameter(&format!("/it/{u}/password"), &role.password, "SecureString");
    m.put_parameter(&format!("/it/{u}/user"), &role.name, "String");
    m.put_parameter(&format!("/it/{u}/hosts"), &s.hosts.join(","), "StringList");
    m.put_secret_string(
        &format!("{u}-json"),
        &format!("{{\"password\": \"{}\", \"other\": \"x\"}}", role.password),
    );
    m.put_secret_string(&format!("{u}-plain"), &role.password);
    let cases = [
        (
            "ssm",
            format!(
                "  password: ssm:///it/{u}/password\n  username: ssm:///it/{u}/user\n  hosts: ssm:///it/{u}/hosts\n"
            ),
        ),
        ("asm", format!("  password: asm://{u}-json#password\n")),
        ("asm", format!("  password: asm://{u}-plain\n")),
    ];
    for (provider, secrets) in &cases {
        let p = SecretsProject::new(provider, "aws", &role, secrets, "");
        let out = p.run(&["status"], &m.env(p.project.path()));
        status_ok(&out, secrets);
    }
}

#[test]
fn every_credential_source_that_can_run_here() {
    let m = moto();
    let role = secure().role("awscred");
    let u = unique("cred");
    m.put_parameter(&format!("/it/{u}/password"), &role.password, "SecureString");
    let p = SecretsProject::new(
        "ssm",
        "awscred",
        &role,
        &format!("  password: ssm:///it/{u}/password\n"),
        "",
    );
    let home = p.project.path().to_path_buf();
    let base = m.env_without_credentials(&home);
    let with = |extra: &[(&str, String)]| {
        let mut e = base.clone();
        e.extend(extra.iter().map(|(k, v)| ((*k).to_string(), v.clone())));
        e
    };

    // Environment keys.
    status_ok(&p.run(&["status"], &m.env(&home)), "environment keys");

    // A profile in the shared files, as the AWS CLI writes them.
    p.project.write(
        "aws/credentials",
        "[ci]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret-key\n",
    );
    p.project
        .write("aws/config", "[profile ci]\nregion = eu-west-1\n");
    let profile = with(&[
        ("AWS_PROFILE", "ci".into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("aws/credentials").display().to_string(),
        ),
        (
            "AWS_CONFIG_FILE",
            home.join("aws/config").display().to_string(),
        ),
    ]);
    status_ok(&p.run(&["status"], &profile), "profile ci");

    // Web identity (CI OIDC): a token file and a role, exchanged with STS.
    p.project
        .write("oidc-token", "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl");
    let web = with(&[
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            home.join("oidc-token").display().to_string(),
        ),
        (
            "AWS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/cassachange-ci".into(),
        ),
        ("AWS_ROLE_SESSION_NAME", "it".into()),
    ]);
    status_ok(&p.run(&["status"], &web), "web identity");

    // Container credentials (ECS, CodeBuild): a local stand-in of the endpoint.
    let creds = "{\"AccessKeyId\": \"AKIACONTAINER\", \"SecretAccessKey\": \"container-secret\", \
                 \"Token\": \"container-token\", \"Expiration\": \"2099-01-01T00:00:00Z\"}";
    let container = Stub::start(vec![Route::ok("GET", "/creds", creds)]);
    let env = with(&[(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("{}/creds", container.url),
    )]);
    status_ok(&p.run(&["status"], &env), "container credentials");
    assert!(!container.received().is_empty(), "the endpoint was asked");

    // Instance metadata (EC2): IMDSv2 token, role name, credentials.
    let imds_creds = "{\"Code\": \"Success\", \"Type\": \"AWS-HMAC\", \"AccessKeyId\": \"AKIAIMDS\", \
                      \"SecretAccessKey\": \"imds-secret\", \"Token\": \"imds-token\", \
                      \"Expiration\": \"2099-01-01T00:00:00Z\", \"LastUpdated\": \"2026-01-01T00:00:00Z\"}";
    let imds = Stub::start(vec![
        Route::ok("PUT", "/latest/api/token", "imds-session-token")
            .header("x-aws-ec2-metadata-token-ttl-seconds", "21600"),
        Route::ok(
            "GET",
            "/latest/meta-data/iam/security-credentials/cassachange-role",
            imds_creds,
        ),
        Route::ok(
            "GET",
            "/latest/meta-data/iam/security-credentials",
            "cassachange-role",
        ),
    ]);
    let mut env: Vec<(String, String)> = base
        .iter()
        .filter(|(k, _)| k != "AWS_EC2_METADATA_DISABLED")
        .cloned()
        .collect();
    env.push(("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), imds.url.clone()));
    status_ok(&p.run(&["status"], &env), "instance metadata");
    assert!(
        imds.received().iter().any(|r| r.method == "PUT"),
        "IMDSv2 was used"
    );

    // None at all: one line that lists what was tried.
    let out = p.run(&["status"], &base);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.lines().next().unwrap_or("").contains(
            "no usable AWS credentials: tried the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), \
             the shared config and credentials files (profile 'default'), web identity"
        ),
        "{}",
        out.stderr
    );
}

/// `secrets_provider`, the `secrets` lines, the environment, and what the first line
/// of stderr must say.
type ErrorCase<'a> = (&'a str, String, &'a Vec<(String, String)>, &'a str);

#[test]
fn every_aws_error_is_one_line_naming_the_uri() {
    let m = moto();
    let u = unique("awserr");
    m.put_secret_string(&format!("{u}-json"), "{\"password\": \"not-used-here\"}");
    m.put_secret_string(&format!("{u}-text"), "not-used-here-either");
    m.put_secret_binary(&format!("{u}-bin"), b"\x00\x01\x02binary");
    let p = Project::new().with_bin(enterprise_bin());
    let home = p.path().to_path_buf();
    let env = m.env(&home);
    let unreachable: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| {
            if k == "AWS_ENDPOINT_URL" {
                (k.clone(), "http://127.0.0.1:1".to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let no_region: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k != "AWS_REGION")
        .cloned()
        .collect();
    let cases: Vec<ErrorCase<'_>> = vec![
        (
            "ssm",
            format!("  password: ssm:///it/{u}/missing\n"),
            &env,
            "AWS SSM Parameter Store: not found: parameter /it/",
        ),
        (
            "asm",
            format!("  password: asm://{u}-missing\n"),
            &env,
            "AWS Secrets Manager: not found: secret ",
        ),
        (
            "asm",
            format!("  password: asm://{u}-json#passwd\n"),
            &env,
            "has no field 'passwd' (its fields: password)",
        ),
        (
            "asm",
            format!("  password: asm://{u}-text#password\n"),
            &env,
            "is not a JSON object, so it has no field 'password'",
        ),
        (
            "asm",
            format!("  password: asm://{u}-bin\n"),
            &env,
            "is binary; a binary secret can only fill a file secret",
        ),
        (
            "ssm",
            format!("  password: ssm:///it/{u}/x\n"),
            &unreachable,
            "cannot reach AWS SSM Parameter Store at http://127.0.0.1:1",
        ),
        (
            "ssm",
            format!("  password: ssm:///it/{u}/x\n"),
            &no_region,
            "no AWS region: set AWS_REGION",
        ),
        (
            "ssm",
            format!("  password: asm://{u}-text\n"),
            &env,
            "the scheme asm:// names AWS Secrets Manager, but secrets_provider is 'ssm'",
        ),
        (
            "ssm",
            "  password: ssm:///a#b\n".to_string(),
            &env,
            "an SSM URI names one parameter, without '#'",
        ),
    ];
    for (provider, secrets, env, says) in cases {
        p.write(
            "cassachange.yml",
            format!(
                "hosts: [127.0.0.1]\nport: 1\nkeyspace: k\nhistory_keyspace: h\n\
                 secrets_provider: {provider}\nsecrets:\n{secrets}"
            ),
        );
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = p.run_with(&["status"], &env);
        assert_eq!(out.code, 2, "{secrets}: {}", out.all());
        let line = out.stderr.lines().next().unwrap_or("");
        assert!(
            line.starts_with("error: resolving secrets failed: secrets.password ("),
            "names the key and URI: {line}"
        );
        assert!(line.contains(says), "expected '{says}' in: {line}");
        assert!(
            !out.all().contains("not-used-here"),
            "no value: {}",
            out.all()
        );
        assert!(!out.all().contains("cannot connect to Cassandra"));
    }
}

/// Password from SSM, CA as a binary Secrets Manager secret, certificate as a base64
/// string secret, key as a base64 SecureString: a mutual-TLS deploy, nothing on disk,
/// no value in any output (the shared probe of `leaks::deploy_leaks_nothing`).
#[test]
fn a_deploy_over_mutual_tls_with_every_secret_from_aws_leaks_nothing() {
    let m = moto();
    let role = secure().role("awsfile");
    let tls = TlsMaterial::of_secure();
    let u = unique("awsfile");
    m.put_parameter(&format!("/it/{u}/password"), &role.password, "SecureString");
    m.put_parameter(&format!("/it/{u}/key"), &tls.key64, "SecureString");
    m.put_secret_binary(&format!("{u}-ca"), &tls.ca);
    m.put_secret_string(
        &format!("{u}-tls"),
        &format!("{{\"cert\": \"{}\"}}", tls.cert64),
    );
    // No secrets_provider: each URI's scheme picks its backend.
    let secrets = format!(
        "  password: ssm:///it/{u}/password\n  ssl_keyfile: ssm:///it/{u}/key\n\
         \x20 ssl_cafile: asm://{u}-ca\n  ssl_certfile: asm://{u}-tls#cert\n"
    );
    let p = SecretsProject::new("", "awsfile", &role, &secrets, "ssl: true\n");
    let env = m.env(p.project.path());
    deploy_leaks_nothing(
        &p,
        &env,
        &tls,
        &role.password,
        &[("AWS secret key", "moto-test-secret-key")],
    );
}
