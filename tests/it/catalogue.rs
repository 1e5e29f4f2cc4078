//! The bad-input catalogue: one row per mistake a user can make in the config file,
//! flags, environment, script files, plugin files and secret URIs. Each row runs the
//! real binary and asserts its exit code and the first line it prints about the
//! problem (stderr's first line; for `validate`, whose findings are its report, the
//! first finding on stdout). None needs a database: where a run would connect, the
//! config points at a port nothing listens on (127.0.0.1:1), so "cannot connect"
//! proves every check before it passed.

use std::path::Path;

use cassachange_tests::{built_bin, enterprise_bin, install_host, Output, Project};

/// A config that passes every check and then fails to connect.
macro_rules! base {
    () => {
        "hosts: [127.0.0.1]\nport: 1\nkeyspace: app\nhistory_keyspace: apph\n"
    };
}
const BASE: &str = base!();
const NO_KS: &str = "hosts: [127.0.0.1]\nport: 1\nhistory_keyspace: h\n";
const V1: &[(&str, &[u8])] = &[(
    "migrations/V1__a.cql",
    b"CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);\n",
)];
const UNREACHABLE: &str = "error: cannot connect to Cassandra at 127.0.0.1:1";

/// Which installation runs the row.
#[derive(Clone, Copy, PartialEq)]
enum Bin {
    Community,
    Enterprise,
    /// The binary with this file as its plugin (mode applied after writing).
    Plugin(&'static [u8], u32),
}

struct Case {
    name: &'static str,
    bin: Bin,
    /// `cassachange.yml` (None: no file).
    yml: Option<&'static [u8]>,
    files: &'static [(&'static str, &'static [u8])],
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    code: i32,
    /// The start of the line the user reads first.
    first: &'static str,
}

const fn case(
    name: &'static str,
    yml: &'static str,
    args: &'static [&'static str],
    code: i32,
    first: &'static str,
) -> Case {
    Case {
        name,
        bin: Bin::Community,
        yml: Some(yml.as_bytes()),
        files: V1,
        args,
        env: &[],
        code,
        first,
    }
}

impl Case {
    const fn files(mut self, files: &'static [(&'static str, &'static [u8])]) -> Self {
        self.files = files;
        self
    }
    const fn env(mut self, env: &'static [(&'static str, &'static str)]) -> Self {
        self.env = env;
        self
    }
    const fn bin(mut self, bin: Bin) -> Self {
        self.bin = bin;
        self
    }
    const fn raw_yml(mut self, yml: Option<&'static [u8]>) -> Self {
        self.yml = yml;
        self
    }
}

const DEPLOY: &[&str] = &["deploy"];
const VALIDATE: &[&str] = &["validate"];
const ALIAS_BOMB: &str = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";

#[rustfmt::skip]
const CASES: &[Case] = &[
    // ── the config file ──────────────────────────────────────────────────────────
    case("yaml is a list", "- a\n- b\n", DEPLOY, 2, "error: cassachange.yml: (top level): expected a mapping of settings"),
    case("yaml syntax", "hosts: [127.0.0.1\n", DEPLOY, 2, "error: cassachange.yml:2:1: invalid YAML"),
    case("yaml duplicate key", concat!(base!(), "port: 9043\n"), DEPLOY, 2, "error: cassachange.yml:5: invalid YAML: duplicate entry with key \"port\""),
    case("yaml alias bomb", ALIAS_BOMB, VALIDATE, 2, "error: cassachange.yml: invalid YAML: repetition limit exceeded"),
    case("yaml tab indentation", "hosts:\n\t- a\n", DEPLOY, 2, "error: cassachange.yml:2:1: invalid YAML"),
    case("unknown key", concat!(base!(), "hostz: [x]\n"), DEPLOY, 2, "error: cassachange.yml: hostz: unknown key (did you mean 'hosts'?)"),
    case("unknown key in profile", concat!(base!(), "profiles:\n  dev:\n    prot: 1\n"), DEPLOY, 2, "error: cassachange.yml: profiles.dev.prot: unknown key (did you mean 'port'?)"),
    case("port text", "hosts: [a]\nport: abc\nkeyspace: app\n", DEPLOY, 2, "error: cassachange.yml: port: expected a port number between 1 and 65535, found 'abc'"),
    case("port zero", "port: 0\nkeyspace: app\n", DEPLOY, 2, "error: cassachange.yml: port: expected a port number between 1 and 65535, found 0"),
    case("port too big", "port: 70000\nkeyspace: app\n", DEPLOY, 2, "error: cassachange.yml: port: expected a port number between 1 and 65535, found 70000"),
    case("port negative", "port: -1\nkeyspace: app\n", DEPLOY, 2, "error: cassachange.yml: port: expected a port number between 1 and 65535, found -1"),
    case("timeout negative", concat!(base!(), "timeout: -1\n"), DEPLOY, 2, "error: cassachange.yml: timeout: must be a number of seconds above 0 and at most 31536000 (365 days), found -1"),
    case("timeout 1e308", concat!(base!(), "timeout: 1e308\n"), DEPLOY, 2, "error: cassachange.yml: timeout: must be a number of seconds above 0 and at most 31536000 (365 days), found 1e308"),
    case("timeout huge integer", concat!(base!(), "timeout: 99999999999999999999\n"), DEPLOY, 2, "error: cassachange.yml:5:10: invalid YAML: timeout: 99999999999999999999 is out of range: must be a number of seconds above 0 and at most 31536000"),
    case("timeout text", concat!(base!(), "timeout: abc\n"), DEPLOY, 2, "error: cassachange.yml: timeout: expected a number of seconds or null, found 'abc'"),
    case("timeout nan", concat!(base!(), "timeout: .nan\n"), DEPLOY, 2, "error: cassachange.yml: timeout: must be a number of seconds above 0"),
    case("hosts empty list", "hosts: []\nkeyspace: app\n", DEPLOY, 2, "error: cassachange.yml: hosts: no contact point in a list: give at least one host (an empty value is not localhost"),
    case("hosts empty string", "hosts: \"\"\nkeyspace: app\n", DEPLOY, 2, "error: cassachange.yml: hosts: no contact point in '': give at least one host"),
    case("hosts only commas", "hosts: \",,,\"\nkeyspace: app\n", DEPLOY, 2, "error: cassachange.yml: hosts: no contact point in ',,,': give at least one host"),
    case("hosts a mapping", "hosts: {a: 1}\nkeyspace: app\n", DEPLOY, 2, "error: cassachange.yml: hosts: expected a list or a comma-separated string, found a mapping"),
    case("keyspace with a dash", "hosts: [127.0.0.1]\nport: 1\nkeyspace: my-app\nhistory_keyspace: h\n", DEPLOY, 2, "error: cassachange.yml: keyspace: 'my-app' is not a valid keyspace name"),
    case("keyspace too long", "hosts: [127.0.0.1]\nport: 1\nkeyspace: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nhistory_keyspace: h\n", DEPLOY, 2, "error: cassachange.yml: keyspace: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is not a valid keyspace name"),
    case("keyspace starts with a digit", "hosts: [127.0.0.1]\nport: 1\nkeyspace: 1app\nhistory_keyspace: h\n", DEPLOY, 2, "error: cassachange.yml: keyspace: '1app' is not a valid keyspace name"),
    case("keyspace quoted", "hosts: [127.0.0.1]\nport: 1\nkeyspace: '\"App\"'\nhistory_keyspace: h\n", DEPLOY, 2, "error: cassachange.yml: keyspace: '\"App\"' is not a valid keyspace name"),
    case("keyspaces with a bad name", "hosts: [127.0.0.1]\nport: 1\nkeyspaces: [ok, 'no way']\nhistory_keyspace: h\n", DEPLOY, 2, "error: cassachange.yml: keyspaces: 'no way' is not a valid keyspace name"),
    case("history keyspace with a space", "hosts: [127.0.0.1]\nport: 1\nkeyspace: app\nhistory_keyspace: 'a b'\n", DEPLOY, 2, "error: cassachange.yml: history_keyspace: 'a b' is not a valid keyspace name"),
    case("history table injection", concat!(base!(), "history_table: 'x;drop'\n"), DEPLOY, 2, "error: cassachange.yml: history_table: history_table 'x;drop' is not a valid name"),
    case("keyspaces only commas", "keyspaces: ',,'\nhistory_keyspace: h\n", DEPLOY, 2, "error: cassachange.yml: keyspaces: no keyspace in ',,': give at least one name"),
    case("keyspaces a mapping", "keyspaces: {a: 1}\nhistory_keyspace: h\n", DEPLOY, 2, "error: cassachange.yml: keyspaces: expected a list or a comma-separated string, found a mapping"),
    case("no keyspace", NO_KS, DEPLOY, 2, "error: keyspace / keyspaces not supplied"),
    case("no history keyspace", "hosts: [127.0.0.1]\nport: 1\nkeyspace: app\n", DEPLOY, 2, "error: history_keyspace not supplied"),
    case("empty file", "", DEPLOY, 2, "error: keyspace / keyspaces not supplied"),
    case("profile unknown", BASE, &["deploy", "--profile", "nope"], 2, "error: profile 'nope' (from --profile) is not defined in cassachange.yml; defined profiles: none"),
    case("default profile unknown", concat!(base!(), "default_profile: nope\nprofiles:\n  dev: {}\n"), DEPLOY, 2, "error: profile 'nope' (from default_profile) is not defined in cassachange.yml; defined profiles: dev"),
    case("profiles a list", concat!(base!(), "profiles: [1, 2]\n"), DEPLOY, 2, "error: cassachange.yml: profiles: expected a mapping of keys, found a list"),
    case("profile with a bad value", concat!(base!(), "profiles:\n  x:\n    port: abc\n"), &["deploy", "--profile", "x"], 2, "error: cassachange.yml: profiles.x.port: expected a port number between 1 and 65535, found 'abc'"),
    case("lock_ttl text", concat!(base!(), "lock_ttl: abc\n"), DEPLOY, 2, "error: cassachange.yml: lock_ttl: expected a number of seconds or null, found 'abc'"),
    case("lock_ttl zero", concat!(base!(), "lock_ttl: 0\n"), DEPLOY, 2, "error: cassachange.yml: lock_ttl: must be a number of seconds above 0"),
    case("lock_ttl one second", concat!(base!(), "lock_ttl: 1\n"), DEPLOY, 2, "error: cassachange.yml: lock_ttl: must be at least 2 seconds, found 1"),
    case("lock_wait negative", concat!(base!(), "lock_wait: -5m\n"), DEPLOY, 2, "error: cassachange.yml: lock_wait: expected a duration like 30s, 5m or 1h, found '-5m'"),
    case("checksum_drift unknown", concat!(base!(), "checksum_drift: maybe\n"), DEPLOY, 2, "error: cassachange.yml: checksum_drift: expected 'warn' or 'error', found 'maybe'"),
    case("history_consistency unknown", concat!(base!(), "history_consistency: one\n"), DEPLOY, 2, "error: cassachange.yml: history_consistency: expected 'quorum', 'each_quorum' or 'local_quorum', found 'one'"),
    case("ssl not a boolean", concat!(base!(), "ssl: maybe\n"), DEPLOY, 2, "error: cassachange.yml: ssl: expected true or false, found 'maybe'"),
    case("ssl CA file missing", concat!(base!(), "ssl: true\nssl_cafile: /nonexistent/ca.pem\n"), DEPLOY, 2, "error: ssl_cafile '/nonexistent/ca.pem': cannot read PEM certificates"),
    case("ssl CA file not PEM", concat!(base!(), "ssl: true\nssl_cafile: migrations/V1__a.cql\n"), DEPLOY, 2, "error: ssl_cafile 'migrations/V1__a.cql'"),
    case("target unknown", concat!(base!(), "target: cassandra-3\n"), VALIDATE, 2, "error: cassachange.yml: target: expected 'cassandra' (5.0), 'cassandra-4' (4.0/4.1) or 'astra', found 'cassandra-3'"),
    case("root folder missing", concat!(base!(), "root_folder: ./nope\n"), VALIDATE, 2, "error: root folder './nope' does not exist"),
    case("root folder is a file", concat!(base!(), "root_folder: ./migrations/V1__a.cql\n"), VALIDATE, 2, "error: root folder './migrations/V1__a.cql' is not a directory"),
    case("notification type unknown", concat!(base!(), "notifications:\n  channels:\n    - type: pager\n      url: http://127.0.0.1:9/\n"), DEPLOY, 2, "error: cassachange.yml: notifications.channels[0].type: unknown channel type 'pager'"),
    case("notification event unknown", concat!(base!(), "notifications:\n  on_events: [deploy_done]\n  channels:\n    - type: webhook\n      url: http://127.0.0.1:9/\n"), DEPLOY, 2, "error: cassachange.yml: notifications.on_events: unknown event 'deploy_done'"),
    case("notification channel without type", concat!(base!(), "notifications:\n  channels:\n    - url: http://127.0.0.1:9/\n"), DEPLOY, 2, "error: cassachange.yml: notifications.channels[0].type: missing"),
    case("secrets without the plugin", concat!(base!(), "secrets:\n  password: vault://secret/x#p\n"), DEPLOY, 2, "error: Secret manager integration requires cassachange-enterprise."),
    case("secrets_provider without the plugin", concat!(base!(), "secrets_provider: vault\n"), DEPLOY, 2, "error: Secret manager integration requires cassachange-enterprise."),
    case("astra bundle missing", "secure_connect_bundle: /nonexistent.zip\nastra_token: AstraCS:x\nkeyspace: app\nhistory_keyspace: h\n", DEPLOY, 2, "error: cannot connect to Cassandra at AstraDB: secure_connect_bundle '/nonexistent.zip': cannot read it"),
    case("astra token without bundle", "astra_token: AstraCS:x\nhosts: [127.0.0.1]\nport: 1\nkeyspace: app\nhistory_keyspace: h\n", DEPLOY, 2, "warning: astra_token is set (from cassachange.yml: astra_token) but secure_connect_bundle is not: connecting to the hosts as plain Cassandra, as the original does"),
    case("astra bundle not a zip", "secure_connect_bundle: migrations/V1__a.cql\nastra_token: AstraCS:x\nkeyspace: app\nhistory_keyspace: h\n", DEPLOY, 2, "error: cannot connect to Cassandra at AstraDB: secure_connect_bundle 'migrations/V1__a.cql'"),
    case("config not UTF-8", "", DEPLOY, 2, "error: cannot read config file 'cassachange.yml': stream did not contain valid UTF-8").raw_yml(Some(b"hosts: \xff\xfe\n")),
    case("config file named but missing", BASE, &["deploy", "-c", "nope.yml"], 2, "error: config file 'nope.yml' does not exist"),
    case("config is a directory", BASE, &["deploy", "-c", "migrations"], 2, "error: cannot read config file 'migrations'"),
    case("valid config, nothing listening", BASE, DEPLOY, 2, UNREACHABLE),
    // ── flags ────────────────────────────────────────────────────────────────────
    case("--hosts empty", BASE, &["deploy", "--hosts", ""], 2, "error: flag --hosts: no contact point in '': give at least one host"),
    case("--hosts commas", BASE, &["deploy", "--hosts", ",,"], 2, "error: flag --hosts: no contact point in ',,'"),
    case("--keyspace empty", BASE, &["deploy", "--keyspace", ""], 2, "error: flag --keyspace: no keyspace in '': give a name (or leave the flag out)"),
    case("--keyspaces commas", BASE, &["deploy", "--keyspaces", ",,"], 2, "error: flag --keyspaces: no keyspace in ',,': give at least one name"),
    case("--keyspace bad name", BASE, &["deploy", "--keyspace", "a.b"], 2, "error: flag --keyspace: 'a.b' is not a valid keyspace name"),
    case("--history-keyspace empty", BASE, &["deploy", "--history-keyspace", ""], 2, "error: flag --history-keyspace: no keyspace in ''"),
    case("--port text", BASE, &["deploy", "--port", "abc"], 2, "error: invalid value 'abc' for '--port <PORT>'"),
    case("--timeout zero", BASE, &["deploy", "--timeout", "0"], 2, "error: flag --timeout: must be a number of seconds above 0"),
    case("--lock-wait text", BASE, &["deploy", "--lock-wait", "soon"], 2, "error: flag --lock-wait: expected a duration like 30s, 5m or 1h, found 'soon'"),
    case("--format unknown", BASE, &["deploy", "--format", "xml"], 2, "error: invalid value 'xml' for '--format <FORMAT>'"),
    case("unknown flag", BASE, &["deploy", "--frobnicate"], 2, "error: unexpected argument '--frobnicate' found"),
    case("misspelt command", BASE, &["deplyo"], 2, "error: unrecognized subcommand 'deplyo'"),
    case("no command", BASE, &[], 2, "Schema migrations for Apache Cassandra"),
    case("rollback target not a version", BASE, &["rollback", "--target-version", "abc"], 2, "error: --target-version: 'abc' is not a version"),
    case("rollback target and tag", BASE, &["rollback", "--target-version", "1", "--tag", "x"], 2, "error: the argument '--target-version <VERSION>' cannot be used with '--tag <TAG>'"),
    case("baseline version not a version", BASE, &["baseline", "--keyspace", "app", "--baseline-version", "x.y"], 2, "error: --baseline-version: 'x.y' is not a version"),
    case("baseline of a system keyspace", BASE, &["baseline", "--keyspace", "system"], 2, "error: 'system' is a system keyspace"),
    case("completions for an unknown shell", BASE, &["completions", "tcsh"], 2, "error: invalid value 'tcsh' for '<SHELL>'"),
    case("validate target unknown", BASE, &["validate", "--target", "cassandra-9"], 2, "error: flag --target: expected 'cassandra' (5.0), 'cassandra-4' (4.0/4.1) or 'astra', found 'cassandra-9'"),
    case("audit without the plugin", BASE, &["audit"], 2, "error: cassachange audit requires cassachange-enterprise."),
    // ── environment ──────────────────────────────────────────────────────────────
    case("CASSANDRA_PORT text", "keyspace: app\nhistory_keyspace: h\n", DEPLOY, 2, "error: environment variable CASSANDRA_PORT: expected a port number between 1 and 65535, found 'abc'").env(&[("CASSANDRA_PORT", "abc")]),
    case("CASSANDRA_HOSTS empty", "hosts: [127.0.0.1]\nkeyspace: app\nhistory_keyspace: h\n", DEPLOY, 2, "error: environment variable CASSANDRA_HOSTS: set but empty").env(&[("CASSANDRA_HOSTS", "")]),
    case("CASSANDRA_HOSTS commas", "keyspace: app\nhistory_keyspace: h\n", DEPLOY, 2, "error: environment variable CASSANDRA_HOSTS: no contact point in ',,'").env(&[("CASSANDRA_HOSTS", ",,")]),
    case("CASSACHANGE_PROFILE unknown", BASE, DEPLOY, 2, "error: profile 'nope' (from CASSACHANGE_PROFILE) is not defined").env(&[("CASSACHANGE_PROFILE", "nope")]),
    case("CASSACHANGE_HISTORY_CONSISTENCY unknown", BASE, DEPLOY, 2, "error: environment variable CASSACHANGE_HISTORY_CONSISTENCY: expected 'quorum', 'each_quorum' or 'local_quorum', found 'bad'").env(&[("CASSACHANGE_HISTORY_CONSISTENCY", "bad")]),
    case("CASSANDRA_KEYSPACE bad name", NO_KS, DEPLOY, 2, "error: environment variable CASSANDRA_KEYSPACE: 'bad-name' is not a valid keyspace name").env(&[("CASSANDRA_KEYSPACE", "bad-name")]),
    case("CASSACHANGE_LOG garbage is ignored", BASE, VALIDATE, 0, "").env(&[("CASSACHANGE_LOG", "=[[garbage")]),
    // ── script files (validate: the first finding) ───────────────────────────────
    case("script name without double underscore", BASE, VALIDATE, 0, "WARN  V1_a.cql: unrecognised file name; the file will be ignored").files(&[("migrations/V1_a.cql", b"SELECT 1;\n")]),
    case("script version not numeric", BASE, VALIDATE, 0, "WARN  Vabc__a.cql: unrecognised file name").files(&[("migrations/Vabc__a.cql", b"SELECT 1;\n")]),
    case("duplicate version", BASE, VALIDATE, 1, "ERR   V1__b.cql: duplicate version 1: V1__a.cql has the same version").files(&[("migrations/V1__a.cql", b"CREATE TABLE IF NOT EXISTS a (id int PRIMARY KEY);\n"), ("migrations/V1__b.cql", b"CREATE TABLE IF NOT EXISTS b (id int PRIMARY KEY);\n")]),
    case("undo without its version", BASE, VALIDATE, 1, "ERR   U2__a.cql: undo script has no matching versioned script V2__*.cql").files(&[("migrations/U2__a.cql", b"DROP TABLE IF EXISTS a;\n")]),
    case("script not UTF-8", BASE, VALIDATE, 1, "ERR   V1__a.cql: not UTF-8 text (invalid byte at offset 0); save the file as UTF-8").files(&[("migrations/V1__a.cql", b"\xff\xfe C\0R\0")]),
    case("script empty", BASE, VALIDATE, 1, "ERR   V1__a.cql: empty script: the file has no content").files(&[("migrations/V1__a.cql", b"")]),
    case("script only comments", BASE, VALIDATE, 0, "WARN  V1__a.cql: no executable statements: the file holds only comments").files(&[("migrations/V1__a.cql", b"-- nothing\n/* here */\n")]),
    case("unterminated string", BASE, VALIDATE, 1, "ERR   V1__a.cql:1:27: unterminated string literal starting here").files(&[("migrations/V1__a.cql", b"INSERT INTO t (a) VALUES ('x);\n")]),
    case("unterminated comment", BASE, VALIDATE, 1, "ERR   V1__a.cql:1:1: unterminated block comment starting here").files(&[("migrations/V1__a.cql", b"/* open\nCREATE TABLE t (a int PRIMARY KEY);\n")]),
    case("misspelt verb", BASE, VALIDATE, 1, "ERR   V1__a.cql:1:1: unknown CQL statement verb 'CREAT' (did you mean 'CREATE'?)").files(&[("migrations/V1__a.cql", b"CREAT TABLE t (a int PRIMARY KEY);\n")]),
    case("NUL byte in a script", BASE, VALIDATE, 1, "ERR   V1__a.cql:1:7: control character U+0000 outside a string: not CQL").files(&[("migrations/V1__a.cql", b"SELECT\0 1;\n")]),
    // ── plugin files beside the binary ───────────────────────────────────────────
    case("plugin is text", BASE, &["--version"], 2, "error: cannot use the enterprise plugin:").bin(Bin::Plugin(b"not a library\n", 0o755)),
    case("plugin is empty", BASE, &["--version"], 2, "error: cannot use the enterprise plugin:").bin(Bin::Plugin(b"", 0o755)),
    case("plugin writable by others", BASE, &["--version"], 2, "error: refusing to load the enterprise plugin").bin(Bin::Plugin(b"\x7fELF", 0o777)),
    // ── secret URIs (enterprise) ─────────────────────────────────────────────────
    case("secret URI with an unknown scheme", concat!(base!(), "secrets:\n  password: foo://x/y\n"), DEPLOY, 2, "error: resolving secrets failed: secrets.password (foo://x/y): unknown scheme 'foo': expected vault://, ssm://, asm:// or akv://").bin(Bin::Enterprise),
    case("vault URI without a field", concat!(base!(), "secrets_provider: vault\nsecrets:\n  password: vault://\n"), DEPLOY, 2, "error: resolving secrets failed: secrets.password (vault://): a Vault URI names the field after '#'").bin(Bin::Enterprise),
    case("secret for an unknown key", concat!(base!(), "secrets:\n  passwrd: ssm:///x\n"), DEPLOY, 2, "error: cassachange.yml: secrets.passwrd: unknown key (did you mean 'password'?)").bin(Bin::Enterprise),
    case("file:// is not a secret scheme", concat!(base!(), "secrets:\n  ssl_cafile: file:///nonexistent/ca.pem\n"), DEPLOY, 2, "error: resolving secrets failed: secrets.ssl_cafile (file:///nonexistent/ca.pem): unknown scheme 'file'").bin(Bin::Enterprise),
];

/// The line the user reads first: stderr's first line, or `validate`'s first finding,
/// or stdout's first line.
fn first_line(out: &Output) -> String {
    if let Some(line) = out.stderr.lines().find(|l| !l.trim().is_empty()) {
        return line.trim_end().to_string();
    }
    let mut lines = out.stdout.lines().map(str::trim);
    lines
        .clone()
        .find(|l| l.starts_with("ERR ") || l.starts_with("WARN "))
        .or_else(|| lines.find(|l| !l.is_empty()))
        .unwrap_or("")
        .to_string()
}

fn run(c: &Case, index: usize) -> Output {
    let mut p = Project::new();
    match c.bin {
        Bin::Community => {}
        Bin::Enterprise => p.use_bin(enterprise_bin()),
        Bin::Plugin(bytes, mode) => {
            let file = p.path().join("plugin-under-test");
            std::fs::write(&file, bytes).unwrap();
            let bin = install_host(&format!("catalogue-{index}"), &built_bin(), Some(&file));
            set_mode(
                &bin.with_file_name(cassachange_tests::plugin_file_name()),
                mode,
            );
            p.use_bin(bin);
        }
    }
    if let Some(yml) = c.yml {
        p.write("cassachange.yml", yml);
    }
    std::fs::create_dir_all(p.path().join("migrations")).unwrap();
    for (rel, body) in c.files {
        p.write(rel, body);
    }
    p.run_with(c.args, c.env)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn every_bad_input_gets_its_exit_code_and_a_first_line_that_names_it() {
    assert!(CASES.len() >= 80, "the catalogue has {} cases", CASES.len());
    let mut failures = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let out = run(c, i);
        let first = first_line(&out);
        let panicked = out.all().contains("panicked");
        if out.code != c.code || !first.starts_with(c.first) || panicked {
            failures.push(format!(
                "{}: expected exit {} and a first line starting\n    {:?}\n  got exit {} and\n    {:?}\n  full output:\n{}",
                c.name,
                c.code,
                c.first,
                out.code,
                first,
                out.all()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}
