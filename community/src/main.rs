//! The `cassachange` executable: parse the command line, run, exit.
use std::process::ExitCode;

fn main() -> ExitCode {
    cassachange::main_entry()
}
