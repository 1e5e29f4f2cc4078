//! Defines the commands, one file each; `run` dispatches to them.

mod audit;
mod baseline;
pub(crate) mod connect;
mod runs;
mod tracking;

mod deploy;
mod drift;
mod health;
mod plan_file;
mod repair;
mod rollback;
mod status;
mod validate;

use anyhow::Result;

use crate::cli::Command;
use crate::config::Settings;
use crate::edition::Edition;
use crate::exit::ExitStatus;
use crate::ui::UserError;

/// Runs one command with its resolved settings. Commands that connect resolve
/// secrets first, so a community binary refuses a `secrets` block before connecting.
pub fn run(
    command: &Command,
    settings: &mut Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    if !matches!(command, Command::Validate(_)) {
        edition.resolve_secrets(settings)?;
    }
    if matches!(
        command,
        Command::Deploy(_)
            | Command::Rollback(_)
            | Command::Status(_)
            | Command::Baseline(_)
            | Command::Drift(_)
    ) {
        settings
            .require_keyspaces()
            .map_err(|e| UserError::error(e.to_string()))?;
    }
    if !matches!(command, Command::Validate(_) | Command::Baseline(_)) {
        settings
            .require_history_keyspace()
            .map_err(|e| UserError::error(e.to_string()))?;
    }
    match command {
        Command::Validate(args) => validate::run(args, settings),
        Command::Deploy(args) => block_on(deploy::run(args, settings, edition)),
        Command::Rollback(args) => block_on(rollback::run(args, settings, edition)),
        Command::Status(args) => block_on(status::run(args, settings)),
        Command::Repair(args) => block_on(repair::run(args, settings, edition)),
        Command::Audit(args) => block_on(audit::run(args, settings, edition)),
        Command::Baseline(args) => block_on(baseline::run(args, settings)),
        Command::Drift(args) => block_on(drift::run(args, settings, edition)),
        Command::Completions(args) => Ok(completions(args.shell)),
        Command::Man => man(),
    }
}

/// `completions <shell>`: the completion script, generated from the clap definitions.
pub fn completions(shell: clap_complete::Shell) -> ExitStatus {
    let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "cassachange", &mut out);
    crate::outln!("{}", String::from_utf8_lossy(&out).trim_end_matches('\n'));
    ExitStatus::Success
}

/// `man`: the man page (roff), generated from the clap definitions.
pub fn man() -> Result<ExitStatus> {
    let cmd = <crate::cli::Cli as clap::CommandFactory>::command().version(crate::VERSION);
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| UserError::failure(format!("rendering the man page failed: {e}")))?;
    crate::outln!("{}", String::from_utf8_lossy(&out).trim_end_matches('\n'));
    Ok(ExitStatus::Success)
}

/// Runs a database command on a small multi-threaded runtime (the lock lease renews
/// on it while scripts run), with the signal watcher of [`crate::interrupt`].
fn block_on<F: std::future::Future<Output = Result<ExitStatus>>>(f: F) -> Result<ExitStatus> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| UserError::error(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        tokio::spawn(crate::interrupt::watch_signals());
        f.await
    })
}
