//! Defines the commands, one file each; `run` dispatches to them.

mod validate;

use anyhow::Result;

use crate::cli::Command;
use crate::config::Settings;
use crate::exit::ExitStatus;
use crate::ui::UserError;

/// Runs one command with its resolved settings.
pub fn run(command: &Command, settings: &Settings) -> Result<ExitStatus> {
    match command {
        Command::Validate(args) => validate::run(args, settings),
        other => Err(UserError::error(format!(
            "'{}' is not implemented yet in this build",
            other.name()
        ))
        .hint("use 'cassachange validate' meanwhile")
        .into()),
    }
}
