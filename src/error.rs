//! Errors that decide the exit code, and the one mapping of them to exit
//! codes ([`AppError::exit_code`]). Commands return `anyhow::Error` wrapping
//! one of these kinds (the AWS layer converts its errors with `From`), so
//! `main` can find it; an error without a kind exits 255.

use thiserror::Error;

/// Exit codes shared by every command (DESIGN.md).
pub mod exit {
    pub const OK: u8 = 0;
    /// The command's own check failed (`--strict`, `status --check`, findings).
    pub const CHECK_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INTERRUPTED: u8 = 130;
    pub const CONFIG: u8 = 253;
    pub const SERVICE: u8 = 254;
    pub const OTHER: u8 = 255;
}

#[derive(Debug, Error)]
pub enum AppError {
    /// Bad arguments or input paths that name nothing readable.
    #[error("{0}")]
    Usage(String),
    /// No region, no credentials, a bad profile.
    #[error("{0}")]
    Config(String),
    /// An AWS service answered with an error.
    #[error("{0}")]
    Service(String),
    /// No usable answer came back from AWS (the network, the endpoint, a
    /// deadline).
    #[error("{0}")]
    NoAnswer(String),
    /// An error with a chain of causes shown only with `-v` (what the AWS
    /// SDK said), exiting with `exit`.
    #[error("{message}")]
    Detailed {
        message: String,
        detail: String,
        exit: u8,
    },
    /// A filter pattern that failed its check against sample events.
    #[error("{0}")]
    Pattern(String),
    #[error("interrupted")]
    Interrupted,
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage(_) => exit::USAGE,
            AppError::Config(_) => exit::CONFIG,
            AppError::Service(_) => exit::SERVICE,
            AppError::Detailed { exit, .. } => *exit,
            AppError::NoAnswer(_) | AppError::Pattern(_) => exit::OTHER,
            AppError::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// The exit code for an error chain: the first `AppError` in it decides; a
/// broken pipe on output is success (the reader went away, as with `head`).
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(app) = cause.downcast_ref::<AppError>() {
            return app.exit_code();
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return exit::OK;
            }
        }
    }
    exit::OTHER
}

/// The chain of causes behind an error, for `-v`: what the AWS SDK said.
pub fn detail_of(err: &anyhow::Error) -> Option<&str> {
    err.chain()
        .find_map(|cause| match cause.downcast_ref::<AppError>() {
            Some(AppError::Detailed { detail, .. }) if !detail.is_empty() => Some(detail.as_str()),
            _ => None,
        })
}
