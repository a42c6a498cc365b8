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
    // On a terminal the line is cleared first (a progress bar may be on it).
    static CLEAR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    CLEAR.store(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::sync::atomic::Ordering::Relaxed,
    );
    extern "C" fn on_sigint(_: libc::c_int) {
        const MSG: &[u8] = b"\ninterrupted: output incomplete\n";
        const CLEAR_LINE: &[u8] = b"\r\x1b[2K";
        let clear = CLEAR.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: write(2) and _exit(2) are async-signal-safe (POSIX), and
        // so is an atomic load; the buffers are static.
        unsafe {
            if clear {
                libc::write(2, CLEAR_LINE.as_ptr().cast(), CLEAR_LINE.len());
            }
            let msg = if clear { &MSG[1..] } else { MSG };
            libc::write(2, msg.as_ptr().cast(), msg.len());
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
