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

/// Makes Ctrl-C (SIGINT) say that the output is incomplete before the
/// process ends with exit code 130, so a cut JSON document on stdout is
/// never mistaken for a whole one. Installed by the offline commands that
/// stream large documents (`analyze`, `test-pattern`); the AWS commands
/// handle Ctrl-C themselves (they stop their queries first).
pub fn install_interrupt_message() {
    extern "C" fn on_sigint(_: libc::c_int) {
        const MSG: &[u8] = b"\ninterrupted: output incomplete\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe (POSIX); the
        // buffer is static.
        unsafe {
            libc::write(2, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(130);
        }
    }
    // SAFETY: plain libc calls with valid arguments; the handler only makes
    // async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}
