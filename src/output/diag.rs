//! Diagnostics on stderr, through one reporter that honours `-q` and `-v`:
//! warnings and what a command changed are lines about the run, never data
//! (stdout carries data only). Errors are printed by `main`, even with `-q`.

use std::fmt::Display;
use std::io::Write;

/// Where a command says what happened besides its data.
#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    quiet: bool,
    verbose: u8,
}

impl Reporter {
    pub fn new(quiet: bool, verbose: u8) -> Reporter {
        Reporter { quiet, verbose }
    }

    /// `-q`: only errors.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// `-v`: every detail (every malformed record, error causes).
    pub fn is_verbose(&self) -> bool {
        self.verbose > 0
    }

    /// One line about the run (a warning, a summary); none with `-q`. Event
    /// strings in it must be sanitized by the caller.
    pub fn line(&self, line: impl Display) {
        if !self.quiet {
            // stderr gone (a closed terminal): nothing better to do.
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}
