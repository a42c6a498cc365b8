//! One module per subcommand; `run` dispatches and returns the exit code.

pub mod analyze;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Analyze(args) => analyze::run(&cli.global, args),
    }
}
