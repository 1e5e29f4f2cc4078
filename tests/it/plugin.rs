//! The enterprise plugin through the real binary and the real cdylib: `--version`, the
//! audit log of a real deploy and the `audit` command, refusals of unsafe or foreign
//! files, a panicking plugin, and version skew both ways with separately built variants.

use std::path::{Path, PathBuf};

use cassachange_tests::db::plain;
use cassachange_tests::{
    built_plugin, enterprise_bin, host_variant, install, install_host, plugin_variant, DbProject,
    Project,
};

/// The event types of the latest run in `history_ks.audit_log`, in order.
fn audit_events(history_ks: &str) -> Vec<String> {
    let text = |v: &Option<scylla::value::CqlValue>| cassachange_tests::db::text(v);
    let mut rows: Vec<(String, String, String)> = plain()
        .rows(&format!(
            "SELECT run_id, event_time, event_type FROM {history_ks}.audit_log"
        ))
        .iter()
        .map(|r| (text(&r[1]), text(&r[0]), text(&r[2])))
        .collect();
    rows.sort();
    let Some(last) = rows.last().map(|r| r.1.clone()) else {
        return Vec::new();
    };
    rows.into_iter()
        .filter(|r| r.1 == last)
        .map(|r| r.2)
        .collect()
}

fn version_line(bin: PathBuf) -> (i32, String, String) {
    let out = Project::new().with_bin(bin).run(&["--version"]);
    (out.code, out.stdout, out.stderr)
}

#[test]
fn version_names_the_edition() {
    let (code, stdout, _) = version_line(enterprise_bin());
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!(
            "cassachange {v} (enterprise {v}; plugin interface 1.2.0; providers: vault, aws, azure)\n",
            v = env!("CARGO_PKG_VERSION")
        )
    );
    let (code, stdout, _) = version_line(cassachange_tests::bin());
    assert_eq!(
        (code, stdout.as_str()),
        (
            0,
            format!("cassachange {} (community)\n", env!("CARGO_PKG_VERSION")).as_str()
        )
    );
}

/// The plugin is loaded from a private memfd copy: it must load where the kernel seals
/// new memfds against execution (`vm.memfd_noexec` 1 and 2, per pid namespace since
/// Linux 6.3; 2 cannot be lowered again, hence a namespace of the test's own).
#[test]
fn the_plugin_loads_under_memfd_noexec_1_and_2() {
    assert!(
        Path::new("/proc/sys/vm/memfd_noexec").exists(),
        "this kernel has no vm.memfd_noexec (Linux 6.3+): the check cannot run here"
    );
    for mode in ["1", "2"] {
        let out = cassachange_tests::Output::of(
            std::process::Command::new("unshare")
                .args(["--pid", "--fork", "--mount-proc", "sh", "-c"])
                .arg(
                    "echo \"$1\" > /proc/sys/vm/memfd_noexec && \
                     test \"$(cat /proc/sys/vm/memfd_noexec)\" = \"$1\" && exec \"$0\" --version",
                )
                .arg(enterprise_bin())
                .arg(mode),
        );
        assert_eq!(out.code, 0, "memfd_noexec={mode}: {}", out.all());
        assert!(
            out.stdout.contains("(enterprise "),
            "memfd_noexec={mode}: {}",
            out.all()
        );
    }
}

#[test]
fn a_deploy_writes_the_audit_log_and_audit_reads_it_back() {
    let mut p = DbProject::new(plain(), "aud", 2, "");
    p.project.use_bin(enterprise_bin());
    p.script(
        "V1__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY);\n",
    )
    .script("V2__bad.cql", cassachange_tests::RUNTIME_FAILURE)
    .script("A__a.cql", "SELECT * FROM system.local;\n");
    let (k0, k1) = (p.keyspaces[0].name.clone(), p.keyspaces[1].name.clone());
    let out = p.run(&["deploy", "--tag", "r7"]);
    assert_eq!(out.code, 1, "{}", out.all());

    let rows = plain().rows(&format!(
        "SELECT run_id, event_time, event_type, keyspace_name, script, status, operator, hostname, detail FROM {}.audit_log",
        p.history.name
    ));
    let text = |v: &Option<scylla::value::CqlValue>| cassachange_tests::db::text(v);
    let run_ids: std::collections::BTreeSet<String> = rows.iter().map(|r| text(&r[0])).collect();
    assert_eq!(run_ids.len(), 1, "one run id for the whole deploy");
    let history_run = p.history()[0].run_id.clone();
    assert_eq!(
        run_ids.first().unwrap(),
        &history_run,
        "the audit run id is the history run id"
    );
    let events: Vec<String> = rows
        .iter()
        .map(|r| {
            let ks = text(&r[3]);
            let ks = if ks == k0 {
                "k0"
            } else if ks == k1 {
                "k1"
            } else {
                ""
            };
            format!("{} {ks} {} {}", text(&r[2]), text(&r[4]), text(&r[5]))
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(
        events,
        [
            "LOCK_ACQUIRE",
            "DEPLOY_START",
            "SCRIPT_RUN k0 V1__users.cql SUCCESS",
            "SCRIPT_FAILED k0 V2__bad.cql FAILED",
            "SCRIPT_RUN k1 V1__users.cql SUCCESS",
            "SCRIPT_FAILED k1 V2__bad.cql FAILED",
            "DEPLOY_FAILED",
            "LOCK_RELEASE",
        ],
        "in order (clustering by event_time)"
    );
    assert!(
        rows.iter()
            .all(|r| !text(&r[6]).is_empty() && !text(&r[7]).is_empty()),
        "operator and hostname"
    );

    // A second, clean run: skip events too.
    p.script(
        "V2__bad.cql",
        "CREATE TABLE IF NOT EXISTS t2 (id int PRIMARY KEY);\n",
    );
    assert_eq!(p.run(&["deploy"]).code, 0);

    let out = p.run(&["audit"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "EVENT_TIME",
            "RUN_ID",
            "EVENT_TYPE",
            "OPERATOR",
            "KEYSPACE",
            "DETAIL"
        ]
    );
    assert!(
        lines[1].contains("LOCK_RELEASE"),
        "newest first: {}",
        out.stdout
    );
    assert!(out.stdout.contains("SCRIPT_SKIP") && out.stdout.contains("already applied"));
    let out = p.run(&["audit", "--limit", "3"]);
    assert_eq!(out.stdout.lines().count(), 4, "header + 3: {}", out.stdout);
    let out = p.run(&["audit", "--run-id", &history_run]);
    assert!(
        out.stdout.contains(&history_run[..8]) && !out.stdout.contains("SCRIPT_SKIP"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.lines().count(),
        9,
        "header + the first run's 8 events: {}",
        out.stdout
    );
    let out = p.run(&["audit", "--keyspace", &k1, "--run-id", &history_run]);
    assert_eq!(
        out.stdout.lines().count(),
        3,
        "header + k1's two script events: {}",
        out.stdout
    );
}

#[test]
fn a_failed_audit_write_stops_the_run_loudly() {
    let mut p = DbProject::new(plain(), "audfail", 1, "");
    p.project.use_bin(enterprise_bin());
    // An audit_log whose event_time is text: every insert is rejected.
    plain().exec(&format!(
        "CREATE TABLE {}.audit_log (run_id text, event_time text, event_type text, operator text, hostname text, \
         keyspace_name text, script text, status text, detail text, PRIMARY KEY (run_id, event_time))",
        p.history.name
    ));
    p.script(
        "V1__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains("error: the audit log write failed (LOCK_ACQUIRE"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("the run stopped here, before its next step"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("[lock]    released"),
        "the lock is released: {}",
        out.stdout
    );
    assert!(p.history().is_empty(), "no script ran");
}

#[test]
fn community_binary_keeps_the_original_stubs() {
    let p = Project::new();
    p.write("cassachange.yml", "keyspace: k\nhistory_keyspace: h\n");
    let out = p.run(&["audit"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cassachange audit requires cassachange-enterprise."),
        "{}",
        out.stderr
    );
}

fn refused(plugin: &Path, name: &str) -> (i32, String) {
    let out = Project::new()
        .with_bin(install(name, Some(plugin)))
        .run(&["--version"]);
    assert!(
        !out.stderr.contains("internal error") && !out.stderr.contains("panicked"),
        "{}",
        out.stderr
    );
    (out.code, out.stderr)
}

#[test]
fn unsafe_files_are_refused_with_a_reason() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let writable = dir.path().join("libcassachange_enterprise.so");
    std::fs::copy(built_plugin(), &writable).unwrap();
    std::fs::set_permissions(&writable, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Project::new().with_bin(cassachange_tests::bin()).run_with(
        &["--version"],
        &[("CASSACHANGE_PLUGIN", writable.to_str().unwrap())],
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("refusing to load the enterprise plugin")
            && out
                .stderr
                .contains("writable by group or others (mode 777); run: chmod go-w"),
        "{}",
        out.stderr
    );

    let link = dir.path().join("link.so");
    std::os::unix::fs::symlink(built_plugin(), &link).unwrap();
    let out = Project::new().run_with(
        &["--version"],
        &[("CASSACHANGE_PLUGIN", link.to_str().unwrap())],
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("it is a symbolic link; put the plugin file itself there"),
        "{}",
        out.stderr
    );

    // A file owned by someone else than root or the binary's owner (needs root to make).
    let foreign = dir.path().join("foreign.so");
    std::fs::copy(built_plugin(), &foreign).unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o755)).unwrap();
    let chown = std::process::Command::new("chown")
        .args(["65534", foreign.to_str().unwrap()])
        .status()
        .unwrap();
    if chown.success() {
        let out = Project::new().run_with(
            &["--version"],
            &[("CASSACHANGE_PLUGIN", foreign.to_str().unwrap())],
        );
        assert_eq!(out.code, 2, "{}", out.all());
        assert!(
            out.stderr.contains(
                "it is owned by uid 65534, not by root or by the owner of the cassachange binary"
            ),
            "{}",
            out.stderr
        );
    } else {
        eprintln!("NOTE: not root: the foreign-owner refusal was not exercised (chown needs root)");
    }

    let missing = dir.path().join("nope.so");
    let out = Project::new().run_with(
        &["--version"],
        &[("CASSACHANGE_PLUGIN", missing.to_str().unwrap())],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cannot read it: No such file or directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn foreign_and_corrupt_files_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.so");
    std::fs::write(&corrupt, b"\x7fELF this is not really a shared library").unwrap();
    let (code, err) = refused(&corrupt, "corrupt");
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: cannot use the enterprise plugin: ")
            && err.contains("is not a cassachange plugin"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "one line and a hint: {err}");

    let libz = [
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/libz.so.1",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("a system libz to stand for a foreign shared library");
    let foreign = dir.path().join("libz.so");
    std::fs::copy(libz, &foreign).unwrap();
    let (code, err) = refused(&foreign, "foreign");
    assert_eq!(code, 2);
    assert!(
        err.contains("is not a cassachange plugin: it exports no cassachange root module"),
        "{err}"
    );
}

#[test]
fn a_plugin_of_another_interface_major_is_refused_naming_both_versions() {
    let (code, err) = refused(&plugin_variant("sim-major2"), "major2");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "was built for plugin interface 2.0.0, but this cassachange provides interface 1.2.0"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
}

#[test]
fn a_panicking_or_failing_plugin_is_an_error_not_a_crash() {
    let (code, err) = refused(&plugin_variant("sim-panic"), "panic");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("failed to start: panic in describe: simulated bug in describe"),
        "{err}"
    );
    let (code, err) = refused(&plugin_variant("sim-ctor-fail"), "ctorfail");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("failed to start") && err.contains("simulated constructor failure"),
        "{err}"
    );
}

#[test]
fn version_skew_works_both_ways_within_a_major() {
    // Newer host (interface 1.1) + older plugin (1.0, no commands): loads; audit is
    // simply unavailable; deploys still write the audit log.
    let older = install("older", Some(&plugin_variant("sim-older")));
    let (code, stdout, stderr) = version_line(older.clone());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("plugin interface 1.0.0"), "{stdout}");
    let mut p = DbProject::new(plain(), "skew", 1, "");
    p.project.use_bin(older);
    p.script(
        "V1__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!plain()
        .rows(&format!(
            "SELECT event_type FROM {}.audit_log",
            p.history.name
        ))
        .is_empty());
    let out = p.run(&["audit"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("does not provide the audit command")
            && out.stderr.contains("interface 1.1 or newer"),
        "{}",
        out.stderr
    );

    // An interface 1.0 host + this plugin (1.2, with audit batches): loads; the host
    // writes one event per call; every event is there.
    let old_host = install_host(
        "old-host",
        &host_variant("sim-older-host"),
        Some(&built_plugin()),
    );
    let (code, stdout, stderr) = version_line(old_host.clone());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("plugin interface 1.2.0"), "{stdout}");
    p.project.use_bin(old_host);
    p.script(
        "V2__more.cql",
        "CREATE TABLE IF NOT EXISTS more (id int PRIMARY KEY);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let events = audit_events(&p.history.name);
    for e in [
        "LOCK_ACQUIRE",
        "DEPLOY_START",
        "SCRIPT_SKIP",
        "SCRIPT_RUN",
        "DEPLOY_END",
        "LOCK_RELEASE",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} missing: {events:?}");
    }

    // Older host (1.2) + newer plugin (1.3, one capability more): loads and works.
    let newer = install("newer", Some(&plugin_variant("sim-newer")));
    let (code, stdout, stderr) = version_line(newer.clone());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("plugin interface 1.3.0"), "{stdout}");
    p.project.use_bin(newer);
    let out = p.run(&["audit", "--limit", "1"]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn a_layout_mismatch_is_one_line_and_the_report_only_under_verbose() {
    let bin = install("badlayout", Some(&plugin_variant("sim-bad-layout")));
    let out = Project::new().with_bin(bin.clone()).run(&["--version"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("does not match this cassachange's plugin interface: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("too many variants"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);
    let verbose = Project::new()
        .with_bin(bin)
        .run(&["--verbose", "--version"]);
    assert_eq!(verbose.code, 2);
    assert!(
        verbose.stderr.lines().count() > 20,
        "the full report under --verbose"
    );
}

#[test]
fn the_enterprise_edition_takes_over_the_secrets_block() {
    let p = Project::new().with_bin(enterprise_bin());
    p.write(
        "cassachange.yml",
        "port: 1\nkeyspace: k\nhistory_keyspace: h\nsecrets_provider: vault\nsecrets:\n  password: vault://secret/data/db#password\n",
    );
    let out = p.run(&["status"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.starts_with(
            "error: resolving secrets failed: secrets.password (vault://secret/data/db#password): \
             HashiCorp Vault at http://127.0.0.1:8200 (VAULT_ADDR is not set): no credentials"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("requires cassachange-enterprise"));
}

#[test]
fn rollback_repair_and_forced_release_are_audited_too() {
    let mut p = DbProject::new(plain(), "audrr", 1, "");
    p.project.use_bin(enterprise_bin());
    p.script(
        "V1__a.cql",
        "CREATE TABLE IF NOT EXISTS a (k int PRIMARY KEY);\n",
    )
    .script("U1__a.cql", "DROP TABLE IF EXISTS a;\n")
    .script("V2__bad.cql", cassachange_tests::RUNTIME_FAILURE);
    assert_eq!(p.run(&["deploy"]).code, 1);
    assert_eq!(p.run(&["repair"]).code, 0);
    p.script(
        "V2__bad.cql",
        "CREATE TABLE IF NOT EXISTS b (k int PRIMARY KEY);\n",
    )
    .script("U2__bad.cql", "DROP TABLE IF EXISTS b;\n");
    assert_eq!(p.run(&["deploy"]).code, 0);
    let out = p.run(&["rollback", "--target-version", "0"]);
    assert_eq!(out.code, 0, "{}", out.all());
    plain().exec(&format!(
        "INSERT INTO {}.deploy_lock (lock_key, locked_by, locked_at, run_id) VALUES ('global', 'x:1', toTimestamp(now()), 'r') USING TTL 60",
        p.history.name
    ));
    assert_eq!(p.run(&["repair", "--release-lock"]).code, 0);
    let types: Vec<String> = plain()
        .rows(&format!(
            "SELECT event_type, status, script FROM {}.audit_log",
            p.history.name
        ))
        .iter()
        .map(|r| cassachange_tests::db::text(&r[0]))
        .collect();
    for t in [
        "DEPLOY_FAILED",
        "REPAIR",
        "DEPLOY_END",
        "ROLLBACK_START",
        "ROLLBACK_END",
        "LOCK_FORCE_RELEASE",
        "SCRIPT_RUN",
        "SCRIPT_FAILED",
        "SCRIPT_SKIP",
        "LOCK_ACQUIRE",
        "LOCK_RELEASE",
        "DEPLOY_START",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} missing from {types:?}");
    }
}

/// Deploy and rollback share one run driver: a failed rollback closes with
/// ROLLBACK_FAILED and still releases (and audits the release of) its lock.
#[test]
fn a_failed_rollback_closes_like_a_failed_deploy() {
    let mut p = DbProject::new(plain(), "audrf", 1, "");
    p.project.use_bin(enterprise_bin());
    p.script(
        "V1__a.cql",
        "CREATE TABLE IF NOT EXISTS a (k int PRIMARY KEY);\n",
    )
    .script("U1__a.cql", "DROP TABLE nope_not_there;\n");
    assert_eq!(p.run(&["deploy"]).code, 0);
    let out = p.run(&["rollback"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let rows = plain().rows(&format!(
        "SELECT run_id, event_type FROM {}.audit_log",
        p.history.name
    ));
    let text = cassachange_tests::db::text;
    let rollback_run = rows
        .iter()
        .find(|r| text(&r[1]) == "ROLLBACK_START")
        .map(|r| text(&r[0]))
        .expect("ROLLBACK_START");
    let events: Vec<String> = rows
        .iter()
        .filter(|r| text(&r[0]) == rollback_run)
        .map(|r| text(&r[1]))
        .collect();
    assert_eq!(
        events,
        [
            "LOCK_ACQUIRE",
            "ROLLBACK_START",
            "SCRIPT_FAILED",
            "ROLLBACK_FAILED",
            "LOCK_RELEASE"
        ]
    );
}

/// The plugin's folder is checked like the file, and what is loaded is a private copy of
/// the bytes that were checked: rewriting the file while a run goes on changes nothing
/// for that run.
#[test]
fn the_plugin_folder_is_checked_and_the_loaded_copy_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    let version_with = |plugin: &Path| {
        Project::new().with_bin(cassachange_tests::bin()).run_with(
            &["--version"],
            &[("CASSACHANGE_PLUGIN", plugin.to_str().unwrap())],
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("libcassachange_enterprise.so");
    std::fs::copy(built_plugin(), &plugin).unwrap();
    mode(&plugin, 0o755);

    // A group-writable folder: anyone in the group could swap the file.
    mode(dir.path(), 0o775);
    let out = version_with(&plugin);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "its folder {} is writable by group or others (mode 775)",
            dir.path().display()
        )),
        "{}",
        out.stderr
    );
    // Sticky and root-owned (like /tmp): only the file's owner can replace it.
    mode(dir.path(), 0o1777);
    let out = version_with(&plugin);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("enterprise"), "{}", out.stdout);
    mode(dir.path(), 0o755);

    // Rewritten in place while a run waits for the lock: the run goes on unharmed.
    let mut p = DbProject::new(plain(), "pluginswap", 1, "");
    p.project
        .env("CASSACHANGE_PLUGIN", plugin.to_str().unwrap());
    p.project.use_bin(cassachange_tests::bin());
    p.script(
        "V1__a.cql",
        "CREATE TABLE IF NOT EXISTS a (id int PRIMARY KEY);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    p.script(
        "V2__b.cql",
        "CREATE TABLE IF NOT EXISTS b (id int PRIMARY KEY);\n",
    );
    plain().exec(&format!(
        "INSERT INTO {}.deploy_lock (lock_key, locked_by, locked_at, run_id) \
         VALUES ('global', 'elsewhere:1', toTimestamp(now()), 'other-run') USING TTL 4",
        p.history.name
    ));
    let child = cassachange_tests::spawn_in(&p.project, &["deploy", "--lock-wait", "60s"], &[]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::fs::write(&plugin, vec![0u8; 4096]).unwrap();
    let (code, text) = cassachange_tests::finish(child);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        p.history_summary(),
        ["V1__a.cql SUCCESS", "V2__b.cql SUCCESS"],
        "{text}"
    );
    let events = audit_events(&p.history.name);
    assert!(
        events.iter().any(|e| e == "SCRIPT_RUN"),
        "the plugin still audited the run: {events:?}"
    );
    // The next run reads the rewritten file and refuses it.
    let out = p.run(&["--version"]);
    assert_eq!(out.code, 2, "{}", out.all());
}

/// A deploy refused before its lock is audited as DEPLOY_FAILED with the reason: the
/// validate gate (which connects only for this), the pre-flight; and `audit` reads a
/// history keyspace given in mixed case (CQL reads the unquoted name in lower case).
#[test]
fn a_refused_deploy_is_audited_and_audit_reads_a_mixed_case_keyspace() {
    let mut p = DbProject::new(plain(), "audref", 1, "");
    p.project.use_bin(enterprise_bin());
    p.script(
        "V1__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY);\n",
    );
    assert_eq!(p.run(&["deploy"]).code, 0);
    let failed = || -> Vec<String> {
        plain()
            .rows(&format!(
                "SELECT event_type, detail FROM {}.audit_log",
                p.history.name
            ))
            .iter()
            .filter(|r| cassachange_tests::db::text(&r[0]) == "DEPLOY_FAILED")
            .map(|r| cassachange_tests::db::text(&r[1]))
            .collect()
    };
    p.script("V2__gate.cql", "CREAT TABLE nope (k int PRIMARY KEY);\n");
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let details = failed();
    assert_eq!(details.len(), 1, "{details:?}");
    assert!(
        details[0].starts_with("stopped: 1 script error(s)"),
        "{details:?}"
    );
    p.script("V2__gate.cql", "CREATE TABLE users (id int PRIMARY KEY);\n");
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let details = failed();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(
        details.iter().any(|d| d.starts_with("stopped: pre-flight")),
        "{details:?}"
    );

    let upper = p.history.name.to_ascii_uppercase();
    let out = p.run(&["audit", "--history-keyspace", &upper]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("DEPLOY_FAILED"), "{}", out.stdout);
}
