//! Shared helpers for the end-to-end suite: the real `cassachange` binary, scratch
//! projects, and the Python `cassachange==1.0.0` peer.
//!
//! Nothing here fakes a part: tests run the binary built by `cargo build`, and the
//! Python tool from the venv that `tests/cassandra/node.sh venv` maintains.

pub mod astra;
pub mod aws;
pub mod azure;
pub mod db;
pub mod scenarios;
pub mod stub;
pub mod vault;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The cache folder shared with `tests/cassandra/node.sh`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CASSACHANGE_CACHE").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/cassachange")
        },
        PathBuf::from,
    )
}

/// The folder of this crate (`tests/`).
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `target/<profile>` folder the test binary was built into.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/it-<hash> → target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// Path of the built `cassachange` binary (`CASSACHANGE_BIN` overrides).
pub fn built_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CASSACHANGE_BIN") {
        return PathBuf::from(p);
    }
    let bin = profile_dir().join(format!("cassachange{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: build it first (`cargo build --workspace`; tests/run.sh does this)",
        bin.display()
    );
    bin
}

/// File name of the plugin library on this platform.
pub fn plugin_file_name() -> String {
    format!(
        "{}cassachange_enterprise{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The plugin library built with the workspace.
pub fn built_plugin() -> PathBuf {
    let p = profile_dir().join(plugin_file_name());
    assert!(
        p.is_file(),
        "{} not found: build the workspace first",
        p.display()
    );
    p
}

/// Links (or copies) `from` to `to`.
fn place(from: &Path, to: &Path) {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).expect("copy");
    }
}

/// An installation folder: the `cassachange` binary alone (community), or with a plugin
/// file beside it (enterprise), the way customers install them. Shared by the tests of
/// one run; `name` distinguishes plugin variants.
pub fn install(name: &str, plugin: Option<&Path>) -> PathBuf {
    install_host(name, &built_bin(), plugin)
}

/// [`install`] with another build of the binary (a host variant).
pub fn install_host(name: &str, host: &Path, plugin: Option<&Path>) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static DONE: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut done = DONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = done.get_or_insert_with(HashMap::new);
    if let Some(p) = map.get(name) {
        return p.clone();
    }
    let dir = cache_dir()
        .join("it-install")
        .join(format!("{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("install dir");
    let bin = dir.join(format!("cassachange{}", std::env::consts::EXE_SUFFIX));
    place(host, &bin);
    if let Some(plugin) = plugin {
        let target = dir.join(plugin_file_name());
        place(plugin, &target);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
    }
    map.insert(name.to_string(), bin.clone());
    bin
}

/// The community binary (no plugin beside it).
pub fn bin() -> PathBuf {
    install("community", None)
}

/// The enterprise installation: the binary with the workspace's plugin beside it.
pub fn enterprise_bin() -> PathBuf {
    install("enterprise", Some(&built_plugin()))
}

/// A test-only build of the plugin with only `features` (e.g. `sim-older`; empty: no
/// provider), built on first use into a target folder of its own under the cache;
/// returns the library's path.
pub fn plugin_variant(features: &str) -> PathBuf {
    variant("cassachange-enterprise", features, &plugin_file_name())
}

/// A test-only build of the binary with `features` (e.g. `sim-older-host`: an
/// interface 1.0 host), built like [`plugin_variant`]; returns the binary's path.
pub fn host_variant(features: &str) -> PathBuf {
    variant(
        "cassachange",
        features,
        &format!("cassachange{}", std::env::consts::EXE_SUFFIX),
    )
}

/// The target folder of the test-only builds ([`plugin_variant`], [`host_variant`], the
/// packaging test), apart from the workspace's so that they never replace what
/// [`built_bin`] and [`built_plugin`] return.
pub fn variants_target() -> PathBuf {
    cache_dir().join("plugin-variants-target")
}

/// Held while cargo builds into [`variants_target`]: one build at a time, and nobody
/// copies an artifact that another build is replacing.
pub fn variant_build_lock() -> std::sync::MutexGuard<'static, ()> {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn variant(package: &str, features: &str, artifact: &str) -> PathBuf {
    let _guard = variant_build_lock();
    let target = variants_target();
    let out_dir = cache_dir()
        .join("plugin-variants")
        .join(package)
        .join(if features.is_empty() {
            "none"
        } else {
            features
        });
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            package,
            "--no-default-features",
            "--features",
            features,
        ])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(tests_dir().join(".."))
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "building {package} with --features {features} failed"
    );
    std::fs::create_dir_all(&out_dir).expect("variant dir");
    let out = out_dir.join(artifact);
    std::fs::copy(target.join("debug").join(artifact), &out).expect("copy variant");
    out
}

/// The Python interpreter of the test venv, which has `cassachange==1.0.0` installed.
pub fn python() -> PathBuf {
    let py = std::env::var_os("CASSACHANGE_PYTHON")
        .map_or_else(|| cache_dir().join("venv/bin/python"), PathBuf::from);
    assert!(
        py.is_file(),
        "{} not found: create the venv with `tests/cassandra/node.sh venv` (tests/run.sh does this)",
        py.display()
    );
    py
}

/// How long one command of a test may run before it is killed and the test fails with
/// what it printed so far: a hang is a failure with a reason, never a stalled suite.
/// `CASSACHANGE_TEST_COMMAND_LIMIT` (seconds) overrides the default of 600.
pub static COMMAND_LIMIT: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    Duration::from_secs(
        std::env::var("CASSACHANGE_TEST_COMMAND_LIMIT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600),
    )
});

/// Runs `cmd` with piped output; kills it and panics with its output so far when it runs
/// longer than `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
            let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
            panic!(
                "{cmd:?} was still running after {}s and was killed\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                limit.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// What a finished process printed.
#[derive(Debug)]
pub struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    fn from(out: &std::process::Output) -> Self {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `cmd` to the end (at most [`COMMAND_LIMIT`]) and keeps what it printed.
    pub fn of(cmd: &mut Command) -> Self {
        Self::from(&output_within(cmd, *COMMAND_LIMIT))
    }

    /// Like [`Output::of`] with a limit of its own (builds that may compile from cold).
    pub fn within(cmd: &mut Command, limit: Duration) -> Self {
        Self::from(&output_within(cmd, limit))
    }

    /// stdout and stderr together, for searching.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

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

/// Starts `cassachange <args>` in the project with stdout and stderr piped.
pub fn spawn(p: &DbProject, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    spawn_in(&p.project, args, env)
}

/// Starts `cassachange <args>` in `project` with stdout and stderr piped.
pub fn spawn_in(project: &Project, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = project.command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// Waits for a child; its exit code (-1 when killed) and stdout + stderr.
pub fn finish(child: std::process::Child) -> (i32, String) {
    let out = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Waits until `cond` holds (or panics after `limit`).
pub fn wait_for(limit: std::time::Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Sends `signal` (e.g. `-HUP`) to a process.
pub fn signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {signal} {pid}");
}

/// Milliseconds since the epoch on this machine (the test node runs here too).
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    i64::try_from(d.as_millis()).expect("ms")
}

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

/// A statement that passes `validate` and the pre-flight (the server prepares it) but
/// fails when executed: for tests of failed scripts.
pub const RUNTIME_FAILURE: &str =
    "CREATE TABLE IF NOT EXISTS fails_at_run (k int PRIMARY KEY) WITH default_time_to_live = -5;\n";
