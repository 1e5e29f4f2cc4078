//! The command line and configuration through the real binary: version, help, exit
//! codes, one-line config errors, the community secrets stub, and inputs that must
//! never make it panic.

use cassachange_tests::Project;

#[test]
fn version_says_community_without_a_plugin() {
    let out = Project::new().run(&["--version"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        format!("cassachange {} (community)\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_and_usage_errors() {
    let p = Project::new();
    let out = p.run(&["--help"]);
    assert_eq!(out.code, 0);
    for cmd in [
        "deploy", "rollback", "validate", "status", "repair", "baseline", "audit",
    ] {
        assert!(out.stdout.contains(cmd), "{cmd} missing from help");
    }
    assert!(out.stdout.contains("Exit codes: 0 success"));
    assert_eq!(p.run(&[]).code, 2, "no command");
    let out = p.run(&["deploy", "--no-such-flag"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--no-such-flag"));
    let out = p.run(&["delpoy"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("deploy"),
        "clap suggests the command: {}",
        out.stderr
    );
}

#[test]
fn config_typos_are_one_line_errors_naming_file_and_key() {
    let p = Project::new();
    p.write(
        "cassachange.yml",
        "histroy_keyspace: h\nprofiles:\n  dev:\n    prot: 9042\n",
    );
    let out = p.run(&["status"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "error: cassachange.yml: histroy_keyspace: unknown key (did you mean 'history_keyspace'?)\n\
         \x20      cassachange.yml: profiles.dev.prot: unknown key (did you mean 'port'?)\n\
         hint: fix the file, then run the command again\n"
    );
}

#[test]
fn yaml_syntax_errors_have_line_and_column() {
    let p = Project::new();
    p.write("c.yml", "keyspace: a\nhosts: [x, y\nport: 1\n");
    let out = p.run(&["-c", "c.yml", "deploy"]);
    assert_eq!(out.code, 2);
    let first = out.stderr.lines().next().unwrap();
    assert!(first.starts_with("error: c.yml:"), "{first}");
    assert!(first.contains("invalid YAML"), "{first}");
}

#[test]
fn unknown_profile_and_missing_files() {
    let p = Project::new();
    p.write("cassachange.yml", "profiles:\n  dev: {}\n  prod: {}\n");
    let out = p.run(&["status", "--profile", "stage"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "error: profile 'stage' (from --profile) is not defined in cassachange.yml; defined profiles: dev, prod\n"
    );
    let out = p.run_with(&["status"], &[("CASSACHANGE_PROFILE", "qa")]);
    assert!(
        out.stderr
            .contains("profile 'qa' (from CASSACHANGE_PROFILE)"),
        "{}",
        out.stderr
    );

    let out = p.run(&["-c", "missing.yml", "status"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("error: config file 'missing.yml' does not exist\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_env_values_name_the_variable() {
    let p = Project::new();
    let out = p.run_with(&["status"], &[("CASSANDRA_PORT", "90x42")]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "error: environment variable CASSANDRA_PORT: expected a port number between 1 and 65535, found '90x42'\n"
    );
}

#[test]
fn secrets_block_without_plugin_stops_before_connecting() {
    let p = Project::new();
    // No Cassandra listens on port 1: reaching the network would be a different error.
    p.write(
        "cassachange.yml",
        "hosts: [127.0.0.1]\nport: 1\nkeyspace: k\nhistory_keyspace: h\nprofiles:\n  prod:\n    \
         secrets_provider: vault\n    secrets:\n      password: vault://secret/data/db#password\n",
    );
    let out = p.run(&["deploy", "--profile", "prod"]);
    assert_eq!(out.code, 2, "{}", out.all());
    insta::assert_snapshot!(out.stderr, @r"
    error: Secret manager integration requires cassachange-enterprise.
           
           Community edition:  this cassachange binary, as it is
           Enterprise edition: put libcassachange_enterprise.so beside the cassachange binary
                               (or set CASSACHANGE_PLUGIN to its path)
           
           Contact: enterprise@cassachange.io
    hint: cassachange.yml (profile 'prod') has a secrets / secrets_provider block; remove it, use a profile without one, or install the enterprise plugin
    ");
}

#[test]
fn hostile_inputs_never_panic() {
    let cases: &[&[u8]] = &[
        b"\xff\xfe\x00garbage",
        b"a: &a [*a, *a]\n",
        b"a: &a [x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n",
        b"port: 99999999999999999999999999\n",
        b"timeout: 1e400\n",
        b"hosts: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
        b"? [a, b]\n: c\n",
        b"!!binary aGVsbG8=\n",
        b"profiles: [a, b]\n",
        b"profiles:\n  dev: 3\n",
        b"notifications: {channels: {a: b}}\n",
        b"---\na: 1\n---\nb: 2\n",
        b"\t- tab\n",
        b"keyspace: !custom x\n",
        b"",
    ];
    for (i, body) in cases.iter().enumerate() {
        let p = Project::new();
        p.write("cassachange.yml", body);
        for args in [
            &["status"][..],
            &["validate"],
            &["deploy", "--profile", "dev"],
        ] {
            let out = p.run(args);
            assert!(
                [0, 1, 2].contains(&out.code) && !out.stderr.contains("internal error"),
                "case {i} {args:?}: code {} {}",
                out.code,
                out.all()
            );
        }
    }
}

#[test]
fn required_settings_are_named_with_every_way_to_set_them() {
    let p = Project::new();
    p.write("cassachange.yml", "keyspace: app\n");
    let out = p.run(&["status"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("history_keyspace not supplied: use --history-keyspace, the CASSACHANGE_HISTORY_KEYSPACE"), "{}", out.stderr);
}

#[test]
fn audit_without_the_plugin_says_how_to_get_it() {
    let p = Project::new();
    p.write("cassachange.yml", "keyspace: k\nhistory_keyspace: h\n");
    let out = p.run(&["audit"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .starts_with("error: cassachange audit requires cassachange-enterprise."),
        "{}",
        out.stderr
    );
    assert!(out
        .stderr
        .contains("put libcassachange_enterprise.so beside the cassachange binary"));
}
