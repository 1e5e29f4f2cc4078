//! Defines cassachange's command line: the clap types and nothing else.
//!
//! Flags keep the original's names and short forms (`-c -k -f -u -p -v`); `--config`,
//! `--profile` and `--verbose` are accepted before or after the command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_yaml_ng::Value;

/// Schema migrations for Apache Cassandra and DataStax AstraDB.
#[derive(Debug, Parser)]
#[command(
    name = "cassachange",
    disable_version_flag = true,
    after_help = "Exit codes: 0 success, 1 failure (script, validation, rollback), \
                  2 usage/config/connection error, 3 deploy lock held, 70 internal error, \
                  130 interrupted."
)]
pub struct Cli {
    /// Path to cassachange.yml [default: ./cassachange.yml]
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Named profile from cassachange.yml (else CASSACHANGE_PROFILE, else default_profile)
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Debug logging
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Output format: text, or json (one document on stdout for CI tools; the human
    /// lines go to stderr)
    #[arg(long, global = true, value_enum, default_value_t)]
    pub format: Format,
    /// Print the version and edition (community, or enterprise with its plugin version)
    #[arg(long, short = 'V')]
    pub version: bool,
    /// The command to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations (V pending, R changed, A always), under the deploy lock
    Deploy(DeployArgs),
    /// Roll back versioned migrations with their U scripts
    Rollback(RollbackArgs),
    /// Lint all scripts offline, without connecting to Cassandra
    Validate(ValidateArgs),
    /// Show migration history, pending scripts and drift
    Status(StatusArgs),
    /// Inspect and recover from a failed deploy: FAILED scripts and the deploy lock
    Repair(RepairArgs),
    /// Generate a baseline V script from a live keyspace
    Baseline(BaselineArgs),
    /// Compare the live schema with the one the applied scripts made (exit 0 none, 1
    /// drift, 2 cannot tell); --accept records the live schema as expected
    Drift(DriftArgs),
    /// Show the immutable audit log (enterprise)
    Audit(AuditArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
    /// Print the man page (roff; `cassachange man | man -l -`)
    Man,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Connection flags shared by every command that talks to Cassandra.
#[derive(Debug, Args, Default)]
pub struct ConnectionArgs {
    /// Comma-separated Cassandra contact points
    #[arg(long, value_name = "HOSTS")]
    pub hosts: Option<String>,
    /// Native protocol port [default: 9042]
    #[arg(long)]
    pub port: Option<u16>,
    /// Cassandra username
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Cassandra password (prefer CASSANDRA_PASSWORD: flags are visible in process lists)
    #[arg(long, short = 'p')]
    pub password: Option<String>,
    /// AstraDB application token (AstraCS:...)
    #[arg(long)]
    pub astra_token: Option<String>,
    /// Path to the AstraDB secure connect bundle .zip
    #[arg(long, value_name = "ZIP")]
    pub secure_connect_bundle: Option<PathBuf>,
    /// Keyspace of cassachange's own tables
    #[arg(long, value_name = "KEYSPACE")]
    pub history_keyspace: Option<String>,
    /// History table name [default: change_history]
    #[arg(long, value_name = "TABLE")]
    pub history_table: Option<String>,
}

/// The folder and the statement timeout, which the original's documentation says every
/// command accepts; a command that runs no script or reads no folder takes them all the
/// same (a drop-in does not refuse a flag the original's users pass everywhere).
#[derive(Debug, Args, Default)]
pub struct ScopeArgs {
    /// Migration scripts folder [default: ./migrations]
    #[arg(long, short = 'f', value_name = "DIR")]
    pub root_folder: Option<PathBuf>,
    /// Per-statement timeout in seconds
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

impl ScopeArgs {
    fn flags(&self, out: &mut Vec<Flag>) {
        push(out, "root_folder", path(self.root_folder.as_ref()));
        push(out, "timeout", self.timeout);
    }
}

/// Target keyspace selection.
#[derive(Debug, Args, Default)]
pub struct KeyspaceArgs {
    /// Target keyspace (overrides cassachange.yml)
    #[arg(long, short = 'k')]
    pub keyspace: Option<String>,
    /// Comma-separated target keyspaces
    #[arg(long)]
    pub keyspaces: Option<String>,
}

/// `deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    #[command(flatten)]
    pub ks: KeyspaceArgs,
    /// Migration scripts folder [default: ./migrations]
    #[arg(long, short = 'f', value_name = "DIR")]
    pub root_folder: Option<PathBuf>,
    /// Print the plan; take no lock and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write the dry-run plan as JSON to FILE (implies --dry-run)
    #[arg(long, value_name = "FILE")]
    pub dry_run_output: Option<PathBuf>,
    /// Deploy exactly the plan in FILE (written by --dry-run-output): refuse if the
    /// scripts, the history, the cluster or the tool changed since
    #[arg(long, value_name = "FILE", conflicts_with_all = ["dry_run", "dry_run_output"])]
    pub plan: Option<PathBuf>,
    /// Release tag stored with every script run
    #[arg(long)]
    pub tag: Option<String>,
    /// Per-statement timeout in seconds
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Wait up to this long for a held deploy lock (e.g. 30s, 5m) instead of failing
    #[arg(long, value_name = "DURATION")]
    pub lock_wait: Option<String>,
    /// Skip the pre-flight (the server's parse of every pending statement and the
    /// check against the live schema) that runs before the lock
    #[arg(long)]
    pub no_preflight: bool,
    /// Before a run, wait up to this long (e.g. 30s, 5m) for an unhealthy cluster
    /// (nodes down, schema disagreement) to recover instead of stopping
    #[arg(long, value_name = "DURATION")]
    pub wait_healthy: Option<String>,
    /// Run even on an unhealthy cluster (nodes down, schema disagreement, too few
    /// replicas for history_consistency), with warnings
    #[arg(long, conflicts_with = "wait_healthy")]
    pub allow_unhealthy: bool,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    #[command(flatten)]
    pub ks: KeyspaceArgs,
    /// Migration scripts folder [default: ./migrations]
    #[arg(long, short = 'f', value_name = "DIR")]
    pub root_folder: Option<PathBuf>,
    /// Roll back every applied version above this one
    #[arg(long, value_name = "VERSION", conflicts_with = "tag")]
    pub target_version: Option<String>,
    /// Roll back every version deployed under this tag
    #[arg(long)]
    pub tag: Option<String>,
    /// Print what would be undone; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Per-statement timeout in seconds
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Wait up to this long for a held deploy lock (e.g. 30s, 5m) instead of failing
    #[arg(long, value_name = "DURATION")]
    pub lock_wait: Option<String>,
    /// Before a run, wait up to this long (e.g. 30s, 5m) for an unhealthy cluster
    /// (nodes down, schema disagreement) to recover instead of stopping
    #[arg(long, value_name = "DURATION")]
    pub wait_healthy: Option<String>,
    /// Run even on an unhealthy cluster (nodes down, schema disagreement, too few
    /// replicas for history_consistency), with warnings
    #[arg(long, conflicts_with = "wait_healthy")]
    pub allow_unhealthy: bool,
}

/// Output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable report.
    #[default]
    Text,
    /// One JSON document for CI tools.
    Json,
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Migration scripts folder [default: ./migrations]
    #[arg(long, short = 'f', value_name = "DIR")]
    pub root_folder: Option<PathBuf>,
    /// Check for this target too: cassandra (5.0), cassandra-4 (4.0/4.1), or astra
    /// (what the target refuses or ignores)
    /// [default: astra when a secure connect bundle is configured, else cassandra]
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    #[command(flatten)]
    pub ks: KeyspaceArgs,
    /// Migration scripts folder, for pending and drifted scripts [default: ./migrations]
    #[arg(long, short = 'f', value_name = "DIR")]
    pub root_folder: Option<PathBuf>,
    /// Per-statement timeout in seconds (accepted like everywhere; status runs no script)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Only rows deployed under this tag
    #[arg(long)]
    pub tag: Option<String>,
}

/// `repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    #[command(flatten)]
    pub ks: KeyspaceArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// List FAILED scripts and the lock; change nothing
    #[arg(long)]
    pub list: bool,
    /// Force-release the deploy lock (only when no deploy is running)
    #[arg(long, conflicts_with = "list")]
    pub release_lock: bool,
    /// Repair only this script file name
    #[arg(long, value_name = "SCRIPT_FILENAME")]
    pub script: Option<String>,
    /// Freeze deploys and rollbacks of this history keyspace: they stop before the lock
    /// with REASON and who set it, until --unfreeze
    #[arg(long, value_name = "REASON", conflicts_with_all = ["list", "release_lock", "script", "unfreeze"])]
    pub freeze: Option<String>,
    /// Lift the freeze
    #[arg(long, conflicts_with_all = ["list", "release_lock", "script"])]
    pub unfreeze: bool,
}

/// `baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Keyspace to introspect
    #[arg(long, short = 'k')]
    pub keyspace: Option<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Output directory [default: root_folder]
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Version of the generated file
    #[arg(long, value_name = "VERSION", default_value = "0.0.0")]
    pub baseline_version: String,
}

/// `drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    #[command(flatten)]
    pub ks: KeyspaceArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Record each keyspace's live schema as the expected one (under the deploy lock;
    /// audited with the plugin)
    #[arg(long)]
    pub accept: bool,
    /// With --accept: wait up to this long for the deploy lock (e.g. 30s, 5m)
    #[arg(long, value_name = "DURATION", requires = "accept")]
    pub lock_wait: Option<String>,
}

/// `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    #[command(flatten)]
    pub ks: KeyspaceArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Only this run
    #[arg(long, value_name = "RUN_ID")]
    pub run_id: Option<String>,
    /// Maximum rows, newest first
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// A command-line override: config key, value, flag name.
pub type Flag = (&'static str, Value, &'static str);

/// Adds `key`'s value from its flag, when given; the flag's name comes from the
/// configuration's one key table.
fn push<T: Into<Value>>(out: &mut Vec<Flag>, key: &'static str, v: Option<T>) {
    if let Some(v) = v {
        out.push((key, v.into(), crate::config::flag_of(key).unwrap_or(key)));
    }
}

fn path(p: Option<&PathBuf>) -> Option<String> {
    p.map(|p| p.to_string_lossy().into_owned())
}

impl ConnectionArgs {
    fn flags(&self, out: &mut Vec<Flag>) {
        push(out, "hosts", self.hosts.clone());
        push(out, "port", self.port.map(u64::from));
        push(out, "username", self.username.clone());
        push(out, "password", self.password.clone());
        push(out, "astra_token", self.astra_token.clone());
        push(
            out,
            "secure_connect_bundle",
            path(self.secure_connect_bundle.as_ref()),
        );
        push(out, "history_keyspace", self.history_keyspace.clone());
        push(out, "history_table", self.history_table.clone());
    }
}

impl KeyspaceArgs {
    fn flags(&self, out: &mut Vec<Flag>) {
        push(out, "keyspace", self.keyspace.clone());
        push(out, "keyspaces", self.keyspaces.clone());
    }
}

impl Command {
    /// The configuration keys this command's flags override.
    pub fn flags(&self) -> Vec<Flag> {
        let mut out = Vec::new();
        match self {
            Command::Deploy(a) => {
                a.conn.flags(&mut out);
                a.ks.flags(&mut out);
                push(&mut out, "root_folder", path(a.root_folder.as_ref()));
                push(&mut out, "tag", a.tag.clone());
                push(&mut out, "timeout", a.timeout);
                push(&mut out, "lock_wait", a.lock_wait.clone());
            }
            Command::Rollback(a) => {
                a.conn.flags(&mut out);
                a.ks.flags(&mut out);
                push(&mut out, "root_folder", path(a.root_folder.as_ref()));
                push(&mut out, "timeout", a.timeout);
                push(&mut out, "lock_wait", a.lock_wait.clone());
            }
            Command::Validate(a) => {
                push(&mut out, "root_folder", path(a.root_folder.as_ref()));
                push(&mut out, "target", a.target.clone());
            }
            Command::Status(a) => {
                a.conn.flags(&mut out);
                a.ks.flags(&mut out);
                push(&mut out, "root_folder", path(a.root_folder.as_ref()));
                push(&mut out, "timeout", a.timeout);
            }
            Command::Repair(a) => {
                a.conn.flags(&mut out);
                a.ks.flags(&mut out);
                a.scope.flags(&mut out);
            }
            Command::Baseline(a) => {
                a.conn.flags(&mut out);
                push(&mut out, "keyspace", a.keyspace.clone());
                a.scope.flags(&mut out);
            }
            Command::Audit(a) => {
                a.conn.flags(&mut out);
                a.ks.flags(&mut out);
                a.scope.flags(&mut out);
            }
            Command::Drift(a) => {
                a.conn.flags(&mut out);
                a.ks.flags(&mut out);
                a.scope.flags(&mut out);
                push(&mut out, "lock_wait", a.lock_wait.clone());
            }
            Command::Completions(_) | Command::Man => {}
        }
        out
    }

    /// True for commands that may write to the database (a closed stdout stops them
    /// between statements, like SIGHUP, rather than ending the process at once).
    pub fn changes_data(&self) -> bool {
        match self {
            Command::Deploy(a) => !a.dry_run && a.dry_run_output.is_none(),
            Command::Rollback(a) => !a.dry_run,
            Command::Repair(a) => !a.list,
            Command::Drift(a) => a.accept,
            Command::Validate(_)
            | Command::Status(_)
            | Command::Baseline(_)
            | Command::Audit(_)
            | Command::Completions(_)
            | Command::Man => false,
        }
    }

    /// The command's name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Deploy(_) => "deploy",
            Command::Rollback(_) => "rollback",
            Command::Validate(_) => "validate",
            Command::Status(_) => "status",
            Command::Repair(_) => "repair",
            Command::Baseline(_) => "baseline",
            Command::Audit(_) => "audit",
            Command::Drift(_) => "drift",
            Command::Completions(_) => "completions",
            Command::Man => "man",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn original_flags_parse_in_both_positions() {
        let cli = Cli::try_parse_from([
            "cassachange",
            "-c",
            "x.yml",
            "deploy",
            "--profile",
            "prod",
            "-k",
            "ks",
            "-f",
            "m",
            "--tag",
            "r1",
            "--dry-run-output",
            "p.json",
            "--timeout",
            "120",
            "-u",
            "me",
            "-p",
            "pw",
            "--hosts",
            "a,b",
            "--history-keyspace",
            "h",
            "-v",
        ])
        .unwrap();
        assert!(cli.verbose);
        assert_eq!(cli.profile.as_deref(), Some("prod"));
        let Some(Command::Deploy(d)) = &cli.command else {
            panic!()
        };
        assert_eq!(d.ks.keyspace.as_deref(), Some("ks"));
        assert_eq!(d.timeout, Some(120.0));
        let keys: Vec<&str> = cli.command.unwrap().flags().iter().map(|f| f.0).collect();
        assert_eq!(
            keys,
            [
                "hosts",
                "username",
                "password",
                "history_keyspace",
                "keyspace",
                "root_folder",
                "tag",
                "timeout"
            ]
        );
    }

    #[test]
    fn per_command_flags_of_the_original() {
        for args in [
            &["rollback", "--target-version", "1.1.0", "--dry-run"][..],
            &["rollback", "--tag", "release-2.1.0"],
            &["status", "--tag", "t", "--keyspace", "k"],
            &["repair", "--list"],
            &["repair", "--release-lock"],
            &["repair", "--script", "V1__x.cql", "-k", "ks"],
            &[
                "baseline",
                "--keyspace",
                "k",
                "--output",
                "d",
                "--baseline-version",
                "1.0.0",
            ],
            &["audit", "--run-id", "r", "--limit", "5", "--keyspace", "k"],
            &["validate", "--root-folder", "m", "--format", "json"],
            &["deploy", "--keyspaces", "a,b", "--lock-wait", "30s"],
        ] {
            let mut argv = vec!["cassachange"];
            argv.extend_from_slice(args);
            Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        assert!(Cli::try_parse_from([
            "cassachange",
            "rollback",
            "--tag",
            "t",
            "--target-version",
            "1"
        ])
        .is_err());
    }

    /// Every flag the key table names exists, and every flag named like a key is the
    /// one the table names for it: the table is the one source of (key, flag).
    #[test]
    fn flags_and_the_key_table_agree() {
        let cmd = Cli::command();
        let mut longs = std::collections::BTreeSet::new();
        let root = cmd.get_arguments();
        for a in root.chain(cmd.get_subcommands().flat_map(clap::Command::get_arguments)) {
            if let Some(l) = a.get_long() {
                longs.insert(format!("--{l}"));
            }
        }
        for k in crate::config::KEYS {
            if let Some(f) = k.flag {
                assert!(longs.contains(f), "{}: no flag {f}", k.name);
            }
        }
        for l in &longs {
            if let Some(spec) = crate::config::spec(&l[2..].replace('-', "_")) {
                assert_eq!(spec.flag, Some(l.as_str()), "{l} sets {}", spec.name);
            }
        }
    }
}
