//! The progress bar on stderr while inputs are read: shown only on a
//! terminal, never with `-q`, and only once a run has taken [`DELAY`] (a
//! quick run never flickers one); cleared when it ends, however it ends
//! (Ctrl-C included: see `diag::install_interrupt_message`). Reading
//! reports bytes through [`crate::input::Progress`] and knows nothing of
//! the terminal.

use std::io::{self, IsTerminal};
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
