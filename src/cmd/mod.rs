//! One module per subcommand; `run` dispatches and returns the exit code.

pub mod analyze;
pub mod iam_policy;
pub mod provisioning;
pub mod queries;
pub mod report;
pub mod setup;
pub mod status;
pub mod teardown;
pub mod test_pattern;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<u8> {
    crate::output::set_color(cli.global.color);
    match cli.command {
        Command::Analyze(args) => analyze::run(&cli.global, args),
        Command::Setup(args) => setup::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Teardown(args) => teardown::run(&cli.global, args),
        Command::TestPattern(args) => test_pattern::run(&cli.global, args),
        Command::IamPolicy(args) => iam_policy::run(&cli.global, args),
        Command::Report(args) => report::run(&cli.global, args),
        Command::Queries(args) => queries::run(&cli.global, args),
    }
}
