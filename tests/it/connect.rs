//! Connection failures: one clear line each, the right exit code, in bounded time, and
//! never a password in the output.

use std::time::{Duration, Instant};

use cassachange_tests::db::secure;
use cassachange_tests::{DbProject, Project};

#[test]
fn unreachable_port_is_one_line_and_quick() {
    let p = Project::new();
    p.write(
        "cassachange.yml",
        "hosts: [127.0.0.1]\nport: 1\nkeyspace: k\nhistory_keyspace: h\n",
    );
    p.write("migrations/V1__a.cql", "SELECT * FROM system.local;\n");
    let start = Instant::now();
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(start.elapsed() < Duration::from_secs(30));
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(
        lines[0].starts_with("error: cannot connect to Cassandra at 127.0.0.1:1:"),
        "{}",
        out.stderr
    );
    assert!(
        lines[1].starts_with("hint: nothing accepts connections there"),
        "{}",
        out.stderr
    );
    assert!(lines[1]
        .contains("hosts (from cassachange.yml: hosts) and port (from cassachange.yml: port)"));
}

#[test]
fn wrong_password_names_the_login_and_hides_the_password() {
    let p = DbProject::new(secure(), "badpw", 1, "");
    p.script("V1__a.cql", "SELECT * FROM system.local;\n");
    let out = p
        .project
        .run_with(&["status", "--password", "Wr0ngS3cretValue"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .starts_with("error: cannot connect to Cassandra at 127.0.0.5:9142:"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "check username (from cassachange.yml: username) and password (from flag --password)"
        ),
        "{}",
        out.stderr
    );
    assert!(
        !out.all().contains("Wr0ngS3cretValue"),
        "password leaked: {}",
        out.all()
    );
}

#[test]
fn tls_with_the_right_ca_and_with_mutual_tls() {
    let s = secure();
    let ca = s.ca.as_ref().unwrap().display().to_string();
    let (cert, key) = s
        .client
        .as_ref()
        .map(|(c, k)| (c.display().to_string(), k.display().to_string()))
        .unwrap();
    // The secure node requires client certificates on TLS connections.
    let p = DbProject::new(s, "tlsnocert", 1, &format!("ssl: true\nssl_cafile: {ca}\n"));
    p.script("V1__a.cql", "SELECT * FROM system.local;\n");
    let out = p.run(&["status"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("error: cannot connect to Cassandra at 127.0.0.5:9142"),
        "{}",
        out.stderr
    );
    let extra = format!("ssl: true\nssl_cafile: {ca}\nssl_certfile: {cert}\nssl_keyfile: {key}\n");
    let p = DbProject::new(s, "tls", 1, &extra);
    p.script(
        "V1__a.cql",
        "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{extra}: {}", out.all());
    assert!(p.table_exists(p.ks(), "t"));
}

#[test]
fn tls_with_an_unknown_ca_is_refused_clearly() {
    let s = secure();
    let p = DbProject::new(s, "tlsbad", 1, "");
    // A CA that did not sign the server certificate: the client certificate's own file
    // is a valid PEM certificate, just not a CA of the server.
    let (cert, _) = s.client.as_ref().unwrap();
    let yaml = std::fs::read_to_string(p.project.path().join("cassachange.yml")).unwrap();
    p.project.write(
        "cassachange.yml",
        format!("{yaml}ssl: true\nssl_cafile: {}\n", cert.display()),
    );
    p.script("V1__a.cql", "SELECT * FROM system.local;\n");
    let out = p.run(&["status"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("error: cannot connect to Cassandra at 127.0.0.5:9142"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: check ssl_cafile"),
        "{}",
        out.stderr
    );

    let p2 = Project::new();
    p2.write(
        "cassachange.yml",
        "ssl: true\nssl_cafile: /nonexistent/ca.pem\nkeyspace: k\nhistory_keyspace: h\n",
    );
    let out = p2.run(&["status"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("error: ssl_cafile '/nonexistent/ca.pem': cannot read PEM certificates"),
        "{}",
        out.stderr
    );
}
