//! The `secret-audit` binary: parse the command line, run the command, and
//! turn its outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;
use secret_audit::cmd::Cli;
use secret_audit::error::{detail_of, exit, exit_code_for};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.global.verbose;
    match secret_audit::cmd::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = exit_code_for(&err);
            if code != exit::OK {
                if verbose > 0 {
                    eprintln!("error: {err:#}");
                    if let Some(detail) = detail_of(&err) {
                        eprintln!("  cause: {detail}");
                    }
                } else {
                    eprintln!("error: {err:#}");
                }
            }
            ExitCode::from(code)
        }
    }
}
