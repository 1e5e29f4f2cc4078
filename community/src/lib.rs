//! cassachange: schema migrations for Apache Cassandra and DataStax AstraDB.
//!
//! The binary's `main` calls [`main_entry`]; this crate holds the command line, the
//! commands, output, exit codes, signals and the edition seam, over the library crates
//! `cassachange-cql`, `-core`, `-config` and `-cassandra`.

pub mod cli;
pub mod commands;
pub mod edition;
pub mod exit;
#[cfg(feature = "fault-points")]
mod fault;
mod host;
pub mod interrupt;
pub mod notify;
mod observe;
pub mod report;
pub mod ui;

// The layers below the binary, under the names the commands use. Nothing below knows
// a command exists: each crate's dependencies are the walls (cql < core < config <
// cassandra < this binary).
pub use cassachange_cassandra::{db, preflight, schema};
pub use cassachange_config::{self as config, redact};
pub use cassachange_core::{check, history, plan, scripts, timefmt, version};
pub use cassachange_cql as cql;

use std::process::ExitCode;

use crate::cli::Cli;
use crate::config::{LoadOptions, Settings};
use crate::exit::ExitStatus;
use crate::ui::UserError;

/// The version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Parses the command line, runs, and returns the exit code. Never panics outward:
/// a panic is reported as an internal error (exit 70) without its payload's details
/// reaching anything but the message line.
pub fn main_entry() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        ui::err_line(format_args!(
            "error: internal error in cassachange {VERSION}{place}; this is a bug.\n\
             hint: please report it to the cassachange maintainers with the command you ran \
             (not your secrets) and this message"
        ));
    }));
    let status = match std::panic::catch_unwind(run_cli) {
        Ok(status) => status,
        Err(_) => ExitStatus::Internal,
    };
    status.into()
}

fn run_cli() -> ExitStatus {
    use clap::{CommandFactory, FromArgMatches};
    let parsed = Cli::command()
        .color(ui::color_choice())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Error
            } else {
                ExitStatus::Success
            };
        }
    };
    match run(&cli) {
        Ok(status) => status,
        Err(err) => ui::report(&err),
    }
}

/// Runs a parsed command line.
pub fn run(cli: &Cli) -> anyhow::Result<ExitStatus> {
    let json = cli.format == cli::Format::Json;
    if cli.version {
        report::set_json(json, "version");
        let edition = edition::current(cli.verbose)?;
        if json {
            report::emit(
                ExitStatus::Success,
                report::fields([("version", VERSION.into()), ("edition", edition.json())]),
            );
        } else {
            outln!("cassachange {VERSION} ({})", edition.describe());
        }
        return Ok(ExitStatus::Success);
    }
    let Some(command) = &cli.command else {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        let _ = cmd.print_help();
        return Ok(ExitStatus::Error);
    };
    // Generated from the command-line definitions; no configuration is read.
    match command {
        cli::Command::Completions(args) => return Ok(commands::completions(args.shell)),
        cli::Command::Man => return commands::man(),
        _ => {}
    }
    report::set_json(
        json && !matches!(command, cli::Command::Completions(_) | cli::Command::Man),
        command.name(),
    );
    if command.changes_data() {
        ui::on_closed_stdout(ui::OnClosedStdout::Stop);
        interrupt::watch_stdout();
    } else {
        ui::on_closed_stdout(ui::OnClosedStdout::Exit);
    }
    redact::register_environment();
    let mut settings = load_settings(cli, command)?;
    settings.register_secrets();
    init_logging(cli.verbose || settings.verbose);
    for w in &settings.warnings {
        ui::warn(w);
    }
    // `validate` is offline and edition-neutral: it never loads the plugin.
    let edition: Box<dyn edition::Edition> = if matches!(command, cli::Command::Validate(_)) {
        Box::new(edition::Community)
    } else {
        edition::current(cli.verbose || settings.verbose)?
    };
    commands::run(command, &mut settings, edition.as_ref())
}

fn load_settings(cli: &Cli, command: &cli::Command) -> anyhow::Result<Settings> {
    let env = |k: &str| std::env::var(k).ok();
    let settings = config::load(&LoadOptions {
        config: cli.config.as_deref(),
        profile: cli.profile.as_deref(),
        flags: command.flags(),
        env: &env,
    })
    .map_err(|e| {
        let hint = match &e {
            config::ConfigError::Invalid { .. } | config::ConfigError::Syntax { .. } => {
                Some("fix the file, then run the command again")
            }
            config::ConfigError::NotFound(_) => {
                Some("pass an existing file with --config, or omit it to use ./cassachange.yml")
            }
            _ => None,
        };
        let mut user = UserError::error(e.to_string());
        if let Some(h) = hint {
            user = user.hint(h);
        }
        user
    })?;
    Ok(settings)
}

fn init_logging(verbose: bool) {
    // The driver's own logs are noise for a CLI; our messages go through `ui`.
    let level = if verbose {
        "cassachange=debug,scylla=warn"
    } else {
        "cassachange=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CASSACHANGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| redact::Writer(std::io::stderr()))
        .with_target(false)
        // Escape codes only where the rest of the output has colour: on a terminal,
        // unless NO_COLOR says otherwise (or CLICOLOR_FORCE asks for them).
        .with_ansi(ui::color_choice() != clap::ColorChoice::Never)
        .try_init();
}
