//! Defines the leak probes: the files a process holds open, every file that came to
//! contain a secret, base64 as users make file secrets, and the one end-to-end check
//! that every secret backend runs — a deploy whose password and TLS material come from
//! the backend leaves no material on disk and no value in any output, row or file.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{db, enterprise_bin, finish, wait_for, Output, Project};

/// A project on the secure node, run with the enterprise plugin, that logs in as a
/// test role whose credentials (and TLS material) come from a secret manager.
pub struct SecretsProject {
    /// The project.
    pub project: Project,
    _keyspaces: (db::Keyspace, db::Keyspace),
    /// The history keyspace.
    pub history: String,
    /// The target keyspace.
    pub ks: String,
}

impl SecretsProject {
    /// `provider` is `secrets_provider` (empty: not set); `secrets` the YAML lines
    /// under `secrets:`; `extra` more top-level YAML. One migration (`V1__t.cql`) is
    /// written.
    pub fn new(provider: &str, label: &str, role: &db::Role, secrets: &str, extra: &str) -> Self {
        let s = db::secure();
        let ks = s.keyspace(&format!("{label}k"));
        let history = s.keyspace(&format!("{label}h"));
        let project = Project::new().with_bin(enterprise_bin());
        let provider = if provider.is_empty() {
            String::new()
        } else {
            format!("secrets_provider: {provider}\n")
        };
        project.write(
            "cassachange.yml",
            format!(
                "hosts: [{}]\nport: {}\nusername: {}\nkeyspace: {}\nhistory_keyspace: {}\n\
                 {provider}secrets:\n{secrets}{extra}",
                s.hosts.join(", "),
                s.port,
                role.name,
                ks.name,
                history.name
            ),
        );
        project.write(
            "migrations/V1__t.cql",
            "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
        );
        SecretsProject {
            project,
            ks: ks.name.clone(),
            history: history.name.clone(),
            _keyspaces: (ks, history),
        }
    }

    /// Runs the binary with `env` added.
    pub fn run(&self, args: &[&str], env: &[(String, String)]) -> Output {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.project.run_with(args, &env)
    }
}

/// Every file under `dir` changed since `since` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8], since: std::time::SystemTime) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            hits.extend(files_containing(&path, needle, since));
        } else if meta.is_file()
            && meta.modified().is_ok_and(|m| m >= since)
            && meta.len() < 50_000_000
        {
            if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(path.display().to_string());
                }
            }
        }
    }
    hits
}

/// `bytes` in base64 (the `base64 -w0` of coreutils, as users make file secrets).
pub fn base64(bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("base64");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let out = child.wait_with_output().expect("base64");
    String::from_utf8(out.stdout).expect("ascii")
}

/// The regular files a running process has open, other than shared libraries and
/// cassachange's own files.
pub fn open_files(pid: u32) -> Vec<String> {
    let mut open = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let t = target.display().to_string();
            let library = target
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("so"));
            if target.is_file() && !library && !t.contains("cassachange") {
                open.push(t);
            }
        }
    }
    open
}

/// The secure node's TLS material, as files hold it and in base64 (as file secrets).
pub struct TlsMaterial {
    /// The CA certificate (PEM).
    pub ca: Vec<u8>,
    /// The client certificate (PEM).
    pub cert: Vec<u8>,
    /// The client key (PEM).
    pub key: Vec<u8>,
    /// `ca` in base64.
    pub ca64: String,
    /// `cert` in base64.
    pub cert64: String,
    /// `key` in base64.
    pub key64: String,
}

impl TlsMaterial {
    /// The material of the secure node's mutual TLS.
    pub fn of_secure() -> Self {
        let s = db::secure();
        let (cert_path, key_path) = s.client.clone().expect("client certificate");
        let ca = std::fs::read(s.ca.as_ref().expect("CA")).expect("CA file");
        let cert = std::fs::read(cert_path).expect("certificate file");
        let key = std::fs::read(key_path).expect("key file");
        TlsMaterial {
            ca64: base64(&ca),
            cert64: base64(&cert),
            key64: base64(&key),
            ca,
            cert,
            key,
        }
    }
}

/// Deploys `p` — whose password (`password`) and TLS material (`m`) the caller put in a
/// secret manager, reached with `env` — over mutual TLS with `--verbose`, a slow script
/// and one that fails on purpose. While it runs, no file is open that holds the material
/// and no file it could have written contains it; afterwards the output of that deploy,
/// `status`, a dry run with a plan file, `repair --list` and `audit`, the plan file and
/// the history and audit rows contain neither the password, nor the material (raw, in
/// base64, a line of the key), nor any of `also` (`(what, value)`: the backend's own
/// credentials).
pub fn deploy_leaks_nothing(
    p: &SecretsProject,
    env: &[(String, String)],
    m: &TlsMaterial,
    password: &str,
    also: &[(&str, &str)],
) {
    let s = db::secure();
    // Long enough to look at the running process.
    p.project
        .write("migrations/V2__slow.cql", crate::alter_script("slow", 60));
    p.project
        .write("migrations/V3__bad.cql", crate::RUNTIME_FAILURE);
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let mut cmd = p.project.command(&["-v", "deploy", "--tag", "leak-probe"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    wait_for(Duration::from_secs(60), "the deploy to connect", || {
        !s.rows(&format!(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{}' AND table_name = 'slow'",
            p.ks
        ))
        .is_empty()
    });
    // While it runs: no open file holds the material, and no file anywhere it could
    // have written does.
    let open = open_files(pid);
    assert!(open.is_empty(), "files open during the run: {open:?}");
    let mut places = vec![std::env::temp_dir(), p.project.path().to_path_buf()];
    if let Some(home) = std::env::var_os("HOME") {
        places.push(Path::new(&home).join(".cache"));
    }
    for dir in &places {
        for needle in [&m.key[..], m.key64.as_bytes(), &m.cert[..]] {
            let hits = files_containing(dir, needle, since);
            assert!(hits.is_empty(), "file secret material on disk: {hits:?}");
        }
    }
    let (code, mut all) = finish(child);
    assert_eq!(code, 1, "V3 fails on purpose: {all}");
    assert!(all.contains("[RUN]     V1__t.cql"), "{all}");
    assert!(all.contains("[RUN]     V2__slow.cql"), "{all}");
    for args in [
        &["-v", "status"][..],
        &["-v", "deploy", "--dry-run-output", "plan.json"],
        &["-v", "repair", "--list"],
        &["-v", "audit"],
    ] {
        all.push_str(&p.run(args, env).all());
    }
    all.push_str(&std::fs::read_to_string(p.project.path().join("plan.json")).unwrap_or_default());
    for r in s.rows(&format!("SELECT * FROM {}.change_history", p.history)) {
        let _ = writeln!(all, "{r:?}");
    }
    for r in s.rows(&format!("SELECT * FROM {}.audit_log", p.history)) {
        let _ = writeln!(all, "{r:?}");
    }
    assert!(all.contains("SCRIPT_FAILED"), "audit rows were read: {all}");
    let key_text = String::from_utf8_lossy(&m.key).into_owned();
    let key_line = key_text
        .lines()
        .nth(1)
        .expect("a PEM body line")
        .to_string();
    for (what, secret) in [
        ("password", password),
        ("key (base64)", m.key64.as_str()),
        ("certificate (base64)", m.cert64.as_str()),
        ("CA (base64)", m.ca64.as_str()),
        ("key", key_text.as_str()),
        ("key line", key_line.as_str()),
    ]
    .into_iter()
    .chain(also.iter().copied())
    {
        assert!(!all.contains(secret), "the {what} leaked:\n{all}");
    }
}
