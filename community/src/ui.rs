//! Defines how cassachange talks to people: results on stdout, diagnostics on stderr
//! (`error:` / `warning:` / `hint:` lines), and the user-facing error type.
//!
//! A closed stdout (`cassachange status | head`) ends a read-only command quietly with
//! success, like ripgrep. A data-changing command (deploy, rollback, repair) treats it
//! like SIGHUP, since whoever watched the run is gone: it stops between two statements,
//! records what it did, releases its lock and exits 130 (see [`crate::interrupt`]).
//! Writes to stderr never panic. Everything written passes through [`crate::redact`].

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::exit::ExitStatus;

/// What a closed or failing stdout means for the running command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnClosedStdout {
    /// A read-only command: end the process quietly with success.
    Exit,
    /// A data-changing command: drop further output and stop the run between statements.
    Stop,
}

const EXIT: u8 = 0;
const STOP: u8 = 1;

static POLICY: AtomicU8 = AtomicU8::new(EXIT);
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Sets what a closed stdout means for the rest of this process.
pub fn on_closed_stdout(policy: OnClosedStdout) {
    let v = match policy {
        OnClosedStdout::Exit => EXIT,
        OnClosedStdout::Stop => STOP,
    };
    POLICY.store(v, Ordering::SeqCst);
}

/// True once stdout failed and output is being dropped.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::SeqCst)
}

/// Writes one line to stdout (see the module docs for a closed stdout); in JSON mode
/// (`--format json`) to stderr, since stdout holds the JSON document.
pub fn out(args: fmt::Arguments<'_>) {
    if crate::report::json() {
        err_line(args);
        return;
    }
    if stdout_closed() {
        return;
    }
    let text = fmt::format(args);
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(crate::redact::redact(&text).as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if let Err(e) = written {
        drop(stdout);
        stdout_failed(&e);
    }
}

fn stdout_failed(e: &std::io::Error) {
    if POLICY.load(Ordering::SeqCst) == EXIT {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        if !STDOUT_CLOSED.swap(true, Ordering::SeqCst) {
            warn(format!(
                "standard output failed ({e}); its results are no longer printed there"
            ));
        }
        return;
    }
    stdout_gone(&e.to_string());
}

/// Stdout of a data-changing command is gone (`why`): output to it stops and the run
/// stops between statements.
pub fn stdout_gone(why: &str) {
    if !STDOUT_CLOSED.swap(true, Ordering::SeqCst) {
        crate::interrupt::stop_because(&format!("standard output closed ({why})"));
    }
}

/// `println!` for results.
#[macro_export]
macro_rules! outln {
    () => { $crate::ui::out(format_args!("")) };
    ($($arg:tt)*) => { $crate::ui::out(format_args!($($arg)*)) };
}

/// Writes one line to stderr; a failing stderr is ignored (never a panic).
pub fn err_line(args: fmt::Arguments<'_>) {
    let text = fmt::format(args);
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_all(crate::redact::redact(&text).as_bytes())
        .and_then(|()| stderr.write_all(b"\n"));
}

/// Prints a warning to stderr.
pub fn warn(message: impl fmt::Display) {
    err_line(format_args!("warning: {message}"));
}

/// Prints an informational line to stderr (progress that is not the result).
pub fn note(message: impl fmt::Display) {
    err_line(format_args!("{message}"));
}

/// An error written for the person running the command: what happened, what to do,
/// and the exit status it maps to.
#[derive(Debug)]
pub struct UserError {
    /// Exit status.
    pub status: ExitStatus,
    /// One or more lines saying what went wrong.
    pub message: String,
    /// What to do about it.
    pub hints: Vec<String>,
}

impl UserError {
    /// A usage/config/connection error (exit 2).
    pub fn error(message: impl Into<String>) -> Self {
        UserError {
            status: ExitStatus::Error,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    /// A failed outcome (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        UserError {
            status: ExitStatus::Failure,
            ..UserError::error(message)
        }
    }

    /// Adds a hint line.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Sets the exit status.
    #[must_use]
    pub fn status(mut self, status: ExitStatus) -> Self {
        self.status = status;
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// A run's error as the person reads it: the kind picks the exit code.
impl From<cassachange_core::run::RunError> for UserError {
    fn from(e: cassachange_core::run::RunError) -> Self {
        use cassachange_core::run::ErrorKind;
        let status = match e.kind {
            ErrorKind::Error => ExitStatus::Error,
            ErrorKind::LockHeld => ExitStatus::LockHeld,
            ErrorKind::Interrupted => ExitStatus::Interrupted,
            _ => ExitStatus::Failure,
        };
        UserError {
            status,
            message: e.message,
            hints: e.hints,
        }
    }
}

/// An error a sink of the run raised (a failed audit write), for the run.
impl From<UserError> for cassachange_core::run::RunError {
    fn from(e: UserError) -> Self {
        use cassachange_core::run::ErrorKind;
        let kind = match e.status {
            ExitStatus::Error => ErrorKind::Error,
            ExitStatus::LockHeld => ErrorKind::LockHeld,
            ExitStatus::Interrupted => ErrorKind::Interrupted,
            _ => ErrorKind::Failure,
        };
        cassachange_core::run::RunError {
            kind,
            message: e.message,
            hints: e.hints,
        }
    }
}

/// A database error as the person running the command should read it (exit 2).
impl From<&cassachange_core::DbError> for UserError {
    fn from(e: &cassachange_core::DbError) -> Self {
        let mut u = UserError::error(e.to_string());
        if let Some(h) = e.hint() {
            u = u.hint(h);
        }
        u
    }
}

impl From<cassachange_core::DbError> for UserError {
    fn from(e: cassachange_core::DbError) -> Self {
        UserError::from(&e)
    }
}

/// Prints an error and its causes to stderr and returns its exit status (in JSON mode,
/// also the error document on stdout, unless the command wrote its own).
pub fn report(err: &anyhow::Error) -> ExitStatus {
    if let Some(user) = err.downcast_ref::<UserError>() {
        print_user(user);
        if crate::report::json() {
            crate::report::emit_error(user.status, &user.message, &user.hints);
        }
        return user.status;
    }
    print_lines("error", &err.to_string());
    let mut causes = Vec::new();
    for cause in err.chain().skip(1) {
        print_lines("  caused by", &cause.to_string());
        causes.push(format!("caused by: {cause}"));
    }
    if crate::report::json() {
        crate::report::emit_error(ExitStatus::Error, &err.to_string(), &causes);
    }
    ExitStatus::Error
}

/// Prints a user error (its message and hints) to stderr.
pub fn print_user(user: &UserError) {
    print_lines("error", &user.message);
    for h in &user.hints {
        print_lines("hint", h);
    }
}

fn print_lines(label: &str, text: &str) {
    let mut lines = text.lines();
    if let Some(first) = lines.next() {
        err_line(format_args!("{label}: {first}"));
    }
    for line in lines {
        err_line(format_args!("{:width$}  {line}", "", width = label.len()));
    }
}

/// When clap may colour help and usage errors: never with a non-empty `NO_COLOR`,
/// always with `CLICOLOR_FORCE` set to anything but `0` (or empty), otherwise only on a
/// terminal (`TERM=dumb` is not one). The tool's own report lines are never coloured.
pub fn color_choice() -> clap::ColorChoice {
    use std::io::IsTerminal;
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return clap::ColorChoice::Never;
    }
    match set("CLICOLOR_FORCE") {
        Some(v) if v != "0" => return clap::ColorChoice::Always,
        _ => {}
    }
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    if !dumb && std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
        clap::ColorChoice::Auto
    } else {
        clap::ColorChoice::Never
    }
}
