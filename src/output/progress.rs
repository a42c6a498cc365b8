//! The progress bar on stderr while inputs are read: shown only on a
//! terminal, never with `-q`; reading reports bytes through
//! [`crate::input::Progress`] and knows nothing of the terminal.

use std::io::{self, IsTerminal};

/// A bar over `total` bytes, hidden when stderr is not a terminal or `quiet`.
pub fn bytes_bar(total: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {eta}",
        )
        .expect("progress template"),
    );
    bar
}

impl crate::input::Progress for indicatif::ProgressBar {
    fn advance(&self, bytes: u64) {
        self.inc(bytes);
    }
}
