//! The progress bar on stderr while inputs are read: shown only on a
//! terminal, never with `-q`, and only once a run has taken [`DELAY`] (a
//! quick run never flickers one); cleared when it ends, however it ends
//! (Ctrl-C included: see `diag::install_interrupt_message`). Reading
//! reports bytes through [`crate::input::Progress`] and knows nothing of
//! the terminal.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

/// How long a run goes before its bar appears.
pub const DELAY: Duration = Duration::from_millis(800);

/// A bar over `total` bytes (0: unknown), hidden when stderr is not a
/// terminal or `quiet`; it appears after [`DELAY`] and clears when it is
/// finished or dropped.
pub fn bytes_bar(total: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let template = if total > 0 {
        "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {eta}"
    } else {
        "{spinner} {bytes} {bytes_per_sec}"
    };
    let bar = indicatif::ProgressBar::with_draw_target(
        (total > 0).then_some(total),
        indicatif::ProgressDrawTarget::hidden(),
    )
    .with_style(indicatif::ProgressStyle::with_template(template).expect("progress template"))
    .with_finish(indicatif::ProgressFinish::AndClear);
    let later = bar.downgrade();
    std::thread::spawn(move || {
        std::thread::sleep(DELAY);
        if let Some(bar) = later.upgrade().filter(|b| !b.is_finished()) {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
        }
    });
    bar
}

impl crate::input::Progress for indicatif::ProgressBar {
    fn advance(&self, bytes: u64) {
        self.inc(bytes);
    }
}

/// The status line of a stream on stderr: events read, secret requests,
/// the newest event's age, throttling. Only on a terminal and without
/// `-q`; cleared before any line is printed and at the end.
pub struct Status {
    on: bool,
    shown: bool,
}

impl Status {
    pub fn new(quiet: bool) -> Status {
        Status {
            on: !quiet && io::stderr().is_terminal(),
            shown: false,
        }
    }

    /// Clears the line, if one is shown.
    pub fn clear(&mut self) {
        if self.shown {
            let _ = write!(io::stderr().lock(), "\r\u{1b}[2K");
            self.shown = false;
        }
    }

    /// Shows a status (replacing the last one).
    pub fn show(&mut self, events: u64, requests: u64, newest_age_s: Option<i64>, throttled: u64) {
        if !self.on {
            return;
        }
        let age = newest_age_s.map_or("none yet".to_owned(), |s| format!("{s}s ago"));
        let mut line =
            format!("tail: {events} events read, {requests} secret requests, newest event {age}");
        if throttled > 0 {
            line.push_str(&format!(", throttled {throttled}x"));
        }
        let width = super::terminal_width().unwrap_or(80);
        let line: String = line.chars().take(width.saturating_sub(1)).collect();
        let _ = write!(io::stderr().lock(), "\r\u{1b}[2K{line}");
        self.shown = true;
    }
}
