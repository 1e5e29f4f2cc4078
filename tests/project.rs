//! Defines the scratch projects tests run the tool in: a folder with `cassachange.yml`
//! and `migrations/`, one wired to a Cassandra instance with keyspaces of its own, the
//! history rows as tests read them, and scripts that tests share.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{bin, db, python, Output};

/// Variables of the test process that would leak into a child and change its config.
const CONFIG_ENV: &[&str] = &[
    "CASSANDRA_HOSTS",
    "CASSANDRA_PORT",
    "CASSANDRA_KEYSPACE",
    "CASSANDRA_USERNAME",
    "CASSANDRA_PASSWORD",
    "ASTRA_TOKEN",
    "ASTRA_SECURE_CONNECT_BUNDLE",
    "CASSACHANGE_PROFILE",
    "CASSACHANGE_HISTORY_KEYSPACE",
    "CASSACHANGE_HISTORY_TABLE",
    "CASSACHANGE_ROOT_FOLDER",
    "CASSACHANGE_TIMEOUT",
    "CASSACHANGE_ENV",
    "CASSACHANGE_PLUGIN",
    "CASSACHANGE_LOCK_TTL",
    "CASSACHANGE_LOCK_WAIT",
    "CASSACHANGE_LOG",
    "CASSACHANGE_HISTORY_CONSISTENCY",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_NAMESPACE",
    "VAULT_CACERT",
    "VAULT_CAPATH",
    "VAULT_ROLE_ID",
    "VAULT_SECRET_ID",
    "VAULT_APPROLE_MOUNT",
    "VAULT_SKIP_VERIFY",
    "BAO_ADDR",
    "BAO_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "CASSACHANGE_AZURE_KEYVAULT_URL",
    "CASSACHANGE_AZURE_CACERT",
];

/// A scratch project folder: write files into it, run the binary in it.
pub struct Project {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    bin: PathBuf,
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    /// An empty project.
    pub fn new() -> Self {
        Project {
            dir: tempfile::Builder::new()
                .prefix("cassachange-it-")
                .tempdir()
                .expect("temp dir"),
            env: Vec::new(),
            bin: bin(),
        }
    }

    /// Runs `binary` instead of the community installation (e.g. [`enterprise_bin`]).
    #[must_use]
    pub fn with_bin(mut self, binary: PathBuf) -> Self {
        self.bin = binary;
        self
    }

    /// Switches to `binary` for later runs.
    pub fn use_bin(&mut self, binary: PathBuf) {
        self.bin = binary;
    }

    /// The project folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (folders created as needed).
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> &Self {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
        self
    }

    /// Sets an environment variable for every run.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs `cassachange <args>` in the project folder with a clean config environment.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    /// Runs with extra environment variables for this run only.
    pub fn run_with(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Output::of(&mut cmd)
    }

    /// The command, ready to spawn (for tests that need the child handle).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).current_dir(self.dir.path());
        for k in CONFIG_ENV {
            cmd.env_remove(k);
        }
        cmd.env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// `cassachange <args>` through `sh -c 'exec … 2>&1'`: one stream with stdout and
    /// stderr in the order written, and the same process id as the tool's.
    pub fn command_merged(&self, args: &[&str]) -> Command {
        let cmd = self.command(args);
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg("exec \"$0\" \"$@\" 2>&1")
            .arg(&self.bin)
            .args(args)
            .current_dir(self.dir.path());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        sh
    }

    /// Runs the Python `cassachange` 1.0.0 module with `args` in the project folder.
    pub fn run_python(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(python());
        cmd.arg("-c")
            .arg("import sys; from cassachange.main import main; sys.argv[0] = 'cassachange'; main()")
            .args(args)
            .current_dir(self.dir.path());
        for k in CONFIG_ENV {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        Output::of(&mut cmd)
    }

    /// Runs a Python snippet with the venv interpreter (argv[1..] = `args`).
    pub fn python(&self, code: &str, args: &[&str]) -> Output {
        Output::of(
            Command::new(python())
                .arg("-c")
                .arg(code)
                .args(args)
                .current_dir(self.dir.path()),
        )
    }
}

/// A project wired to a Cassandra instance with its own target and history keyspaces.
pub struct DbProject {
    /// The project folder and runner.
    pub project: Project,
    /// The target keyspaces.
    pub keyspaces: Vec<db::Keyspace>,
    /// The history keyspace.
    pub history: db::Keyspace,
    /// The instance.
    pub instance: &'static db::Instance,
}

impl DbProject {
    /// `text` as a snapshot reads it: this project's keyspace names, run ids, times,
    /// durations and the host name replaced by placeholders, everything else as the
    /// user reads it (spaces and line breaks included).
    pub fn normalize(&self, text: &str) -> String {
        let mut t = text.to_string();
        for (i, k) in self.keyspaces.iter().enumerate() {
            t = t.replace(&k.name, &format!("<ks{i}>"));
        }
        t = t.replace(&self.history.name, "<history>");
        let host = std::process::Command::new("hostname")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        if !host.is_empty() {
            t = t.replace(&host, "<host>");
        }
        placeholders(&t)
    }

    /// A project on `instance` with `n` target keyspaces and `extra` YAML appended.
    pub fn new(instance: &'static db::Instance, label: &str, n: usize, extra: &str) -> Self {
        let project = Project::new();
        let keyspaces: Vec<db::Keyspace> = (0..n)
            .map(|i| instance.keyspace(&format!("{label}{i}")))
            .collect();
        let history = instance.keyspace(&format!("{label}h"));
        let list = keyspaces
            .iter()
            .map(|k| k.name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        let targets = if n == 1 {
            format!("keyspace: {list}\n")
        } else {
            format!("keyspaces: [{list}]\n")
        };
        project.write(
            "cassachange.yml",
            format!(
                "{}{targets}history_keyspace: {}\n{extra}",
                instance.yaml(),
                history.name
            ),
        );
        DbProject {
            project,
            keyspaces,
            history,
            instance,
        }
    }

    /// Makes the deploy lock look held by another run (`elsewhere:1`, for 120 s; the
    /// history tables must exist).
    pub fn hold_lock(&self) {
        self.instance.exec(&format!(
            "INSERT INTO {}.deploy_lock (lock_key, locked_by, locked_at, run_id) \
             VALUES ('global', 'elsewhere:1', toTimestamp(now()), 'other') USING TTL 120",
            self.history.name
        ));
    }

    /// The other run lets go of the lock [`DbProject::hold_lock`] took.
    pub fn let_go_of_lock(&self) {
        self.instance.exec(&format!(
            "DELETE FROM {}.deploy_lock WHERE lock_key = 'global'",
            self.history.name
        ));
    }

    /// The first target keyspace's name.
    pub fn ks(&self) -> &str {
        &self.keyspaces[0].name
    }

    /// Writes a migration script under `migrations/`.
    pub fn script(&self, rel: &str, body: &str) -> &Self {
        self.project.write(&format!("migrations/{rel}"), body);
        self
    }

    /// Runs the binary.
    pub fn run(&self, args: &[&str]) -> Output {
        self.project.run(args)
    }

    /// History rows as `(script, status, keyspace)` oldest first.
    pub fn history(&self) -> Vec<HistoryRow> {
        if !self.table_exists(&self.history.name, "change_history") {
            return Vec::new();
        }
        let cql = format!(
            "SELECT script, installed_on, status, keyspace_name, script_type, version, checksum, tag, \
             run_id, installed_by, execution_time FROM {}.change_history",
            self.history.name
        );
        // A table a deploy created a moment ago can be briefly unknown to this session.
        let mut attempt = 0;
        let rows = loop {
            match self.instance.try_rows(&cql) {
                Ok(rows) => break rows,
                Err(_) if attempt < 50 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => panic!("{cql}: {e}"),
            }
        };
        let mut out: Vec<HistoryRow> = rows
            .iter()
            .map(|r| HistoryRow {
                script: db::text(&r[0]),
                at: match &r[1] {
                    Some(scylla::value::CqlValue::Timestamp(t)) => t.0,
                    _ => 0,
                },
                status: db::text(&r[2]),
                keyspace: db::text(&r[3]),
                script_type: db::text(&r[4]),
                version: db::text(&r[5]),
                checksum: db::text(&r[6]),
                tag: db::text(&r[7]),
                run_id: db::text(&r[8]),
                installed_by: db::text(&r[9]),
            })
            .collect();
        out.sort_by_key(|r| r.at);
        out
    }

    /// `script status` of every history row, oldest first.
    pub fn history_summary(&self) -> Vec<String> {
        self.history()
            .iter()
            .map(|r| format!("{} {}", r.script, r.status))
            .collect()
    }

    /// True when `table` exists in keyspace `ks`.
    pub fn table_exists(&self, ks: &str, table: &str) -> bool {
        !self
            .instance
            .rows(&format!(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{ks}' AND table_name = '{table}'"
            ))
            .is_empty()
    }
}

/// One `change_history` row as the tests read it.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    /// Script file name.
    pub script: String,
    /// `installed_on` in ms.
    pub at: i64,
    /// Status.
    pub status: String,
    /// Keyspace.
    pub keyspace: String,
    /// Script type.
    pub script_type: String,
    /// Version.
    pub version: String,
    /// Checksum.
    pub checksum: String,
    /// Tag.
    pub tag: String,
    /// Run id.
    pub run_id: String,
    /// Installed by.
    pub installed_by: String,
}

/// A script of `n` schema changes on one table (~30 ms each on an idle node), for runs
/// that must last without piling up tables.
pub fn alter_script(table: &str, n: usize) -> String {
    let mut s = format!("CREATE TABLE IF NOT EXISTS {table} (k int PRIMARY KEY);\n");
    s.extend((0..n).map(|i| format!("ALTER TABLE {table} WITH comment = 'step {i}';\n")));
    s
}

/// A statement that passes `validate` and the pre-flight (the server prepares it) but
/// fails when executed: for tests of failed scripts.
pub const RUNTIME_FAILURE: &str =
    "CREATE TABLE IF NOT EXISTS fails_at_run (k int PRIMARY KEY) WITH default_time_to_live = -5;\n";

/// Replaces UUIDs (and their 8-character prefixes after `:`) with `<run>`, times
/// `YYYY-MM-DD HH:MM:SS(.mmm)` with `<time>`, and `<digits>ms` with `<n>ms`.
pub fn placeholders(text: &str) -> String {
    let b = text.as_bytes();
    let hex = |c: u8| c.is_ascii_hexdigit();
    let digits = |from: usize, n: usize| {
        b.get(from..from + n)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        // A UUID: 8-4-4-4-12 hex digits.
        let uuid = [8, 4, 4, 4, 12].iter().try_fold(i, |at, n| {
            let ok = b.get(at..at + n).is_some_and(|s| s.iter().all(|c| hex(*c)));
            let end = at + n;
            match (ok, *n == 12) {
                (true, true) => Some(end),
                (true, false) if b.get(end) == Some(&b'-') => Some(end + 1),
                _ => None,
            }
        });
        if let Some(end) = uuid {
            out.push_str("<run>");
            i = end;
            continue;
        }
        // A time: YYYY-MM-DD HH:MM:SS, optionally .mmm
        if digits(i, 4)
            && b.get(i + 4) == Some(&b'-')
            && digits(i + 5, 2)
            && b.get(i + 7) == Some(&b'-')
            && digits(i + 8, 2)
            && matches!(b.get(i + 10), Some(b' ' | b'T'))
            && digits(i + 11, 2)
            && b.get(i + 13) == Some(&b':')
            && digits(i + 14, 2)
            && b.get(i + 16) == Some(&b':')
            && digits(i + 17, 2)
        {
            i += 19;
            if b.get(i) == Some(&b'.') && digits(i + 1, 3) {
                i += 4;
            }
            out.push_str("<time>");
            continue;
        }
        // A duration: digits then "ms", at the start of a word.
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if b.get(j..j + 2) == Some(b"ms")
                && !b.get(j + 2).is_some_and(u8::is_ascii_alphanumeric)
            {
                out.push_str("<n>ms");
                i = j + 2;
                continue;
            }
        }
        // A run id's 8-character prefix after a host name (`host:1a2b3c4d`).
        if b[i] == b':'
            && b.get(i + 1..i + 9)
                .is_some_and(|s| s.iter().all(|c| hex(*c)))
            && !b.get(i + 9).is_some_and(u8::is_ascii_alphanumeric)
            && out.ends_with("<host>")
        {
            out.push_str(":<run8>");
            i += 9;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_hide_what_changes_from_run_to_run() {
        assert_eq!(
            super::placeholders(
                "run 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed at 2026-12-04 20:18:25.123 took 61ms (x12ms)"
            ),
            "run <run> at <time> took <n>ms (x12ms)"
        );
    }
}
