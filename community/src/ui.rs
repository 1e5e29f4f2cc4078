//! Defines how cassachange talks to people: results on stdout, diagnostics on stderr
//! (`error:` / `warning:` / `hint:` lines), and the user-facing error type.

use std::fmt;
use std::io::Write;

use crate::exit::ExitStatus;

/// Writes one line to stdout. A closed pipe (`cassachange status | head`) ends the
/// process quietly with success, like ripgrep.
pub fn out(args: fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// `println!` for results.
#[macro_export]
macro_rules! outln {
    () => { $crate::ui::out(format_args!("")) };
    ($($arg:tt)*) => { $crate::ui::out(format_args!($($arg)*)) };
}

/// Prints a warning to stderr.
pub fn warn(message: impl fmt::Display) {
    eprintln!("warning: {message}");
}

/// Prints an informational line to stderr (progress that is not the result).
pub fn note(message: impl fmt::Display) {
    eprintln!("{message}");
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

/// Prints an error and its causes to stderr and returns its exit status.
pub fn report(err: &anyhow::Error) -> ExitStatus {
    if let Some(user) = err.downcast_ref::<UserError>() {
        print_lines("error", &user.message);
        for h in &user.hints {
            print_lines("hint", h);
        }
        return user.status;
    }
    print_lines("error", &err.to_string());
    for cause in err.chain().skip(1) {
        print_lines("  caused by", &cause.to_string());
    }
    ExitStatus::Error
}

fn print_lines(label: &str, text: &str) {
    let mut lines = text.lines();
    if let Some(first) = lines.next() {
        eprintln!("{label}: {first}");
    }
    for line in lines {
        eprintln!("{:width$}  {line}", "", width = label.len());
    }
}
