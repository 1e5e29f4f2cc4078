//! TLS as operators make it, against the secure node (mutual TLS required): client
//! certificates in every usual recipe, ours beside the Python `cassachange` 1.0.0 (its
//! TLS is OpenSSL's) — ours connects exactly where it does, and every refusal is one
//! line that names the file and what was found.

use cassachange_tests::certs::client_recipes;
use cassachange_tests::db::secure;
use cassachange_tests::Project;

#[test]
fn client_certificates_connect_exactly_where_the_python_tool_connects() {
    let s = secure();
    let ca = s.ca.clone().expect("the secure node's CA");
    let ca_dir = ca.parent().expect("certs dir").to_path_buf();
    let made = tempfile::tempdir().expect("tmp");
    let recipes = client_recipes(&ca_dir, made.path());
    let ks = s.keyspace("tlsm");
    let hist = s.keyspace("tlsmh");
    let mut table = Vec::new();
    for r in &recipes {
        let p = Project::new();
        p.write(
            "cassachange.yml",
            format!(
                "{}keyspace: {}\nhistory_keyspace: {}\nssl: true\nssl_cafile: {}\n\
                 ssl_certfile: {}\nssl_keyfile: {}\n",
                s.yaml(),
                ks.name,
                hist.name,
                ca.display(),
                r.cert.display(),
                r.key.display()
            ),
        );
        p.write(
            "migrations/V1__t.cql",
            "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
        );
        let ours = p.run(&["status"]);
        let py = p.run_python(&["status"]);
        let (o, y) = (ours.code == 0, py.code == 0);
        table.push(format!(
            "{:<45} ours {:<9} python {:<9} {}",
            r.name,
            if o { "connects" } else { "refuses" },
            if y { "connects" } else { "refuses" },
            if o {
                ""
            } else {
                ours.stderr.lines().next().unwrap_or_default()
            }
        ));
        assert_eq!(
            o,
            y,
            "{}: ours {} / Python {}:\n{}\n--- python ---\n{}",
            r.name,
            ours.code,
            py.code,
            ours.all(),
            py.all()
        );
        if !o {
            // One line that says what is wrong; never the driver's "builder error".
            let first = ours.stderr.lines().next().unwrap_or_default();
            assert!(first.starts_with("error: "), "{}: {}", r.name, ours.stderr);
            assert!(!ours.stderr.contains("builder error"), "{}", ours.stderr);
        }
    }
    eprintln!("client certificate matrix:\n{}", table.join("\n"));
    let connects: Vec<bool> = table.iter().map(|l| l.contains("ours connects")).collect();
    assert_eq!(
        connects,
        [true, true, true, true, true, true, false, false, false],
        "{table:#?}"
    );
    // A CA file with several CAs (another one first): the node's is among them.
    let several = made.path().join("several-cas.pem");
    std::fs::write(
        &several,
        std::fs::read_to_string(made.path().join("other-ca.pem")).expect("other CA")
            + &std::fs::read_to_string(&ca).expect("CA"),
    )
    .expect("write");
    let p = Project::new();
    p.write(
        "cassachange.yml",
        format!(
            "{}keyspace: {}\nhistory_keyspace: {}\nssl: true\nssl_cafile: {}\n\
             ssl_certfile: {}\nssl_keyfile: {}\n",
            s.yaml(),
            ks.name,
            hist.name,
            several.display(),
            recipes[0].cert.display(),
            recipes[0].key.display()
        ),
    );
    p.write(
        "migrations/V1__t.cql",
        "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
    );
    let out = p.run(&["status"]);
    assert_eq!(out.code, 0, "a CA file with several CAs: {}", out.all());
    // Each refusal says what was found, naming the file.
    assert!(
        table[6].contains("expired.pem': the certificate expired on"),
        "{}",
        table[6]
    );
    assert!(
        table[7].contains("refused the client certificate in ssl_certfile")
            && table[7].contains("foreign.pem"),
        "{}",
        table[7]
    );
    assert!(
        table[8].contains("v1.key' does not belong to the certificate in ssl_certfile"),
        "{}",
        table[8]
    );
}

/// The same recipes in AstraDB secure connect bundles (the stand-in's metadata service
/// and SNI proxy require the bundle's client certificate), ours beside the Python tool:
/// the metadata request, the proxy's TLS and the login take what OpenSSL takes, and a
/// bundle whose certificate is expired, foreign or not its key's is refused by both —
/// by ours in one line that says so.
#[test]
fn astra_bundles_made_with_each_client_certificate() {
    let a = cassachange_tests::astra::astra();
    let s = secure();
    let ca_dir =
        s.ca.as_ref()
            .and_then(|c| c.parent())
            .expect("certs dir")
            .to_path_buf();
    let made = tempfile::tempdir().expect("tmp");
    let recipes = client_recipes(&ca_dir, made.path());
    let mut table = Vec::new();
    for (i, r) in recipes.iter().enumerate() {
        let p = cassachange_tests::astra::AstraProject::new(a, &format!("tlsa{i}"), "ok", "");
        p.script(
            "V1__t.cql",
            "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
        );
        // The stand-in's good bundle with this recipe's certificate and key inside.
        let zip = made.path().join(format!("bundle-{i}.zip"));
        let out = p.project.python(
            "import sys, zipfile\n\
             src, dst, cert, key = sys.argv[1:5]\n\
             with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, 'w') as o:\n\
             \x20   for n in z.namelist():\n\
             \x20       if n not in ('cert', 'key'):\n\
             \x20           o.writestr(n, z.read(n))\n\
             \x20   o.write(cert, 'cert')\n\
             \x20   o.write(key, 'key')\n",
            &[
                &a.bundle("ok").display().to_string(),
                &zip.display().to_string(),
                &r.cert.display().to_string(),
                &r.key.display().to_string(),
            ],
        );
        assert_eq!(out.code, 0, "{}", out.all());
        let bundle = [("ASTRA_SECURE_CONNECT_BUNDLE", zip.display().to_string())];
        let env: Vec<(&str, &str)> = bundle.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = p.project.run_with(&["status"], &env);
        // The Python tool with the same bundle (its TLS is OpenSSL's).
        let mut py = std::process::Command::new(cassachange_tests::python());
        py.arg("-c")
            .arg("import sys; from cassachange.main import main; sys.argv[0] = 'cassachange'; main()")
            .arg("status")
            .current_dir(p.project.path())
            .env("ASTRA_SECURE_CONNECT_BUNDLE", &bundle[0].1)
            .env("ASTRA_TOKEN", &a.token);
        let py = cassachange_tests::Output::of(&mut py);
        assert_eq!(
            out.code == 0,
            py.code == 0,
            "{}: ours {} / Python {}:\n{}\n--- python ---\n{}",
            r.name,
            out.code,
            py.code,
            out.all(),
            py.all()
        );
        let first = out.stderr.lines().next().unwrap_or_default().to_string();
        table.push(format!(
            "{:<45} {}",
            r.name,
            if out.code == 0 { "connects" } else { &first }
        ));
        if out.code != 0 {
            assert!(first.starts_with("error: "), "{}: {}", r.name, out.stderr);
            assert!(!out.stderr.contains("builder error"), "{}", out.stderr);
        }
    }
    eprintln!("AstraDB bundle matrix:\n{}", table.join("\n"));
    let connects: Vec<bool> = table.iter().map(|l| l.ends_with("connects")).collect();
    assert_eq!(
        connects,
        [true, true, true, true, true, true, false, false, false],
        "{table:#?}"
    );
    assert!(table[6].contains("expired"), "{}", table[6]);
    assert!(
        table[8].contains("does not belong to the certificate"),
        "{}",
        table[8]
    );
}

/// A node whose own certificate is X.509 v1 (`openssl x509 -req` without `-extfile`: no
/// subjectAltName). The original checks the node's address against the certificate and
/// refuses it ("IP address mismatch"); so does cassachange by default, saying why.
/// `ssl_verify_hostname: false` (ours only) checks the chain alone: signed by the CA in
/// `ssl_cafile`, within its dates — and connects, where webpki refused to read it.
#[test]
fn a_node_whose_certificate_is_x509_v1() {
    let n = cassachange_tests::db::tls_v1();
    let ca = n.ca.clone().expect("the tlsv1 node's CA");
    let ks = n.keyspace("tlsv1");
    let hist = n.keyspace("tlsv1h");
    let p = Project::new();
    let yaml = |ca: &std::path::Path, extra: &str| {
        format!(
            "{}keyspace: {}\nhistory_keyspace: {}\nssl: true\nssl_cafile: {}\n{extra}",
            n.yaml(),
            ks.name,
            hist.name,
            ca.display()
        )
    };
    p.write(
        "migrations/V1__t.cql",
        "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
    );
    p.write("cassachange.yml", yaml(&ca, ""));
    let ours = p.run(&["status"]);
    let py = p.run_python(&["status"]);
    assert_eq!(ours.code, 2, "{}", ours.all());
    assert_ne!(py.code, 0, "the original refuses it too: {}", py.all());
    assert!(
        py.all().contains("IP address mismatch"),
        "the original's reason: {}",
        py.all()
    );
    assert!(
        ours.stderr.starts_with(&format!(
            "error: cannot connect to Cassandra at {}:{}: the node's certificate names no \
             address (an X.509 v1 certificate has no subjectAltName)",
            n.hosts[0], n.port
        )),
        "{}",
        ours.stderr
    );
    assert!(
        ours.stderr.contains("hint: set ssl_verify_hostname: false"),
        "{}",
        ours.stderr
    );

    p.write("cassachange.yml", yaml(&ca, "ssl_verify_hostname: false\n"));
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "the chain alone is checked: {}", out.all());
    let out = p.run(&["status"]);
    assert!(out.stdout.contains("up to date"), "{}", out.all());

    // The chain is really checked: another CA's file refuses it.
    let other = cassachange_tests::db::secure()
        .ca
        .clone()
        .expect("the secure node's CA");
    p.write(
        "cassachange.yml",
        yaml(&other, "ssl_verify_hostname: false\n"),
    );
    let out = p.run(&["status"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("the node's certificate is not signed by the CA in ssl_cafile"),
        "{}",
        out.stderr
    );
}

/// File secrets take the same path: a v1 client certificate and its PKCS#1 key, from
/// Vault in base64, held in memory, connect to the mutual-TLS node.
#[test]
fn a_v1_client_certificate_from_vault_connects() {
    let bao = cassachange_tests::vault::openbao();
    let s = secure();
    let ca = s.ca.clone().expect("CA");
    let made = tempfile::tempdir().expect("tmp");
    let recipes = client_recipes(ca.parent().expect("certs dir"), made.path());
    let v1 = &recipes[1];
    assert_eq!(v1.name, "v1 certificate, PKCS#1 key");
    let role = s.role("tlsvault");
    let path = cassachange_tests::vault::unique("tlsvault");
    let b64 = |p: &std::path::Path| cassachange_tests::base64(&std::fs::read(p).expect("read"));
    bao.put_kv2(
        &format!("{path}/tls"),
        &[
            ("password", &role.password),
            ("ca", &b64(&ca)),
            ("cert", &b64(&v1.cert)),
            ("key", &b64(&v1.key)),
        ],
    );
    let secrets = format!(
        "  password: vault://secret/data/{path}/tls#password\n\
         \x20 ssl_cafile: vault://secret/data/{path}/tls#ca\n\
         \x20 ssl_certfile: vault://secret/data/{path}/tls#cert\n\
         \x20 ssl_keyfile: vault://secret/data/{path}/tls#key\n"
    );
    let p =
        cassachange_tests::SecretsProject::new("vault", "tlsvault", &role, &secrets, "ssl: true\n");
    let out = p.run(&["deploy"], &bao.env_token(&bao.root_token));
    assert_eq!(out.code, 0, "{}", out.all());
}
