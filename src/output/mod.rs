//! Renderers shared by every command: a column table rendered as a terminal
//! table, CSV or markdown, and JSON documents with hostile characters escaped.
//! Every event-derived string passes through `sanitize` on the way out.

pub mod analysis;
pub mod diag;
pub mod findings;
pub mod json;
pub mod notify;
pub mod pattern_test;
pub mod plan;
pub mod progress;
pub mod queries;
pub mod report;
pub mod sanitize;
pub mod status;
pub mod stream;
pub mod table;

use std::io::IsTerminal;

/// The format of the data on stdout (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
    Markdown,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 4] = [
        OutputFormat::Table,
        OutputFormat::Json,
        OutputFormat::Csv,
        OutputFormat::Markdown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Json => "json",
            OutputFormat::Csv => "csv",
            OutputFormat::Markdown => "markdown",
        }
    }
}

/// When to colour terminal output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    /// Only on a terminal, and not with NO_COLOR or TERM=dumb.
    Auto,
    Always,
    Never,
}

static COLOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Decides once, from `--color`, whether terminal tables get colour.
pub fn set_color(choice: ColorChoice) {
    COLOR.store(use_color(choice), std::sync::atomic::Ordering::Relaxed);
}

/// Whether terminal tables get colour (never JSON, CSV or markdown).
pub fn color() -> bool {
    COLOR.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether stdout gets colour.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    }
}

static WIDE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Decides once, from `--wide`, whether terminal tables show every column.
pub fn set_wide(wide: bool) {
    WIDE.store(wide, std::sync::atomic::Ordering::Relaxed);
}

/// Whether terminal tables show every column (data formats always do).
pub fn wide() -> bool {
    WIDE.load(std::sync::atomic::Ordering::Relaxed)
}

/// The width of the terminal stdout is, or `None` when stdout is not a
/// terminal (a pipe or a file gets every column, whole).
pub fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills a winsize; stdout is an open descriptor.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        return Some(size.ws_col as usize);
    }
    std::env::var("COLUMNS")
        .ok()?
        .parse()
        .ok()
        .filter(|&w| w > 0)
}

/// Microseconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(micros: i64, precise: bool) -> String {
    let fmt = if precise {
        chrono::SecondsFormat::AutoSi
    } else {
        chrono::SecondsFormat::Secs
    };
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(fmt, true))
        .unwrap_or_default()
}

/// "4m", "3h", "2d": a short age for humans.
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}
