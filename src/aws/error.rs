//! One mapping from SDK errors to kinds a user can act on. Every call in
//! `aws/` converts its `SdkError` here, once; nothing above this module sees
//! SDK error types.

use std::fmt;

use aws_sdk_cloudwatchlogs::config::http::HttpResponse;
use aws_sdk_cloudwatchlogs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::output::sanitize::sanitize;

/// What went wrong, in terms of what the user can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AccessDenied,
    Throttled,
    InvalidParameter,
    LimitExceeded,
    /// The endpoint does not implement the operation (a local emulator).
    NotImplemented,
    /// No usable answer: connection refused, timeout, unreadable response.
    Transport,
    /// Any other error the service answered with.
    Service,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AccessDenied => "access denied",
            ErrorKind::Throttled => "throttled",
            ErrorKind::InvalidParameter => "invalid parameter",
            ErrorKind::LimitExceeded => "limit exceeded",
            ErrorKind::NotImplemented => "not implemented by this endpoint",
            ErrorKind::Transport => "no answer",
            ErrorKind::Service => "service error",
        }
    }
}

/// A failed AWS call: the operation, what kind of failure, and the service's
/// own code and message (sanitized: messages echo request input).
#[derive(Debug, Clone, thiserror::Error)]
pub struct AwsError {
    pub operation: &'static str,
    pub kind: ErrorKind,
    pub code: Option<String>,
    /// The service's message; for `Transport`, the cause and its fix.
    pub message: String,
    /// The whole chain of causes, sanitized, for `-v`.
    pub detail: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            // Cause first, then the fix; the service's words with -v.
            ErrorKind::AccessDenied => {
                return write!(
                    f,
                    "access denied: these credentials may not call {}; \
                     `secret-audit iam-policy` prints the policy the commands need",
                    iam_action(self.operation)
                )
            }
            ErrorKind::Transport if !self.message.is_empty() => {
                return write!(f, "{} ({})", self.message, self.operation)
            }
            _ => {}
        }
        write!(f, "{} failed: {}", self.operation, self.kind.describe())?;
        match (&self.code, self.message.is_empty()) {
            (Some(code), false) => write!(f, " ({code}: {})", self.message),
            (Some(code), true) => write!(f, " ({code})"),
            (None, false) => write!(f, " ({})", self.message),
            (None, true) => Ok(()),
        }
    }
}

impl AwsError {
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }
}

/// The IAM action of an operation (`logs:DescribeLogStreams`), as the
/// policy `iam-policy` prints names it.
fn iam_action(operation: &str) -> String {
    crate::iam::COMMANDS
        .iter()
        .flat_map(|(_, actions)| actions.iter())
        .map(|(action, _)| *action)
        .find(|a| a.split_once(':').is_some_and(|(_, op)| op == operation))
        .map_or_else(|| operation.to_owned(), str::to_owned)
}

/// An AWS failure as a command error: the service answered (exit 254), or
/// nothing usable came back (255); the chain of causes shows with `-v`.
impl From<AwsError> for crate::error::AppError {
    fn from(e: AwsError) -> Self {
        use crate::error::exit;
        crate::error::AppError::Detailed {
            message: e.to_string(),
            detail: e.detail.clone(),
            exit: if e.is(ErrorKind::Transport) {
                exit::OTHER
            } else {
                exit::SERVICE
            },
        }
    }
}

/// Operations some AWS emulators do not implement: they answer them with a
/// bare HTML 500 page.
const EMULATOR_GAPS: &[&str] = &[
    "TestMetricFilter",
    "DescribeQueryDefinitions",
    "PutQueryDefinition",
    "DeleteQueryDefinition",
    "DescribeIndexPolicies",
    "PutIndexPolicy",
    "DeleteIndexPolicy",
];

/// Whether the clients talk to a custom `--endpoint-url` (set by `connect`).
static CUSTOM_ENDPOINT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// What the clients talk to, as errors name it (set by `connect`).
static ENDPOINT: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

pub(crate) fn set_endpoint(custom: Option<&str>, region: &str) {
    CUSTOM_ENDPOINT.store(custom.is_some(), std::sync::atomic::Ordering::Relaxed);
    let name = match custom {
        Some(url) => sanitize(url).into_owned(),
        None => format!("AWS in {}", sanitize(region)),
    };
    if let Ok(mut e) = ENDPOINT.lock() {
        *e = name;
    }
}

fn endpoint() -> String {
    ENDPOINT.lock().map(|e| e.clone()).unwrap_or_default()
}

/// A call that got no usable answer: what happened, then what to do.
fn no_answer(err: &(dyn std::error::Error + 'static), timeout: bool) -> String {
    let chain = DisplayErrorContext(err).to_string();
    let to = endpoint();
    let custom = CUSTOM_ENDPOINT.load(std::sync::atomic::Ordering::Relaxed);
    let check = if custom {
        "check --endpoint-url"
    } else {
        "check the network and --region"
    };
    if timeout || chain.contains("timed out") || chain.contains("TimedOut") {
        format!(
            "no answer from {to} in time: raise --operation-timeout or --attempt-timeout, or {check}"
        )
    } else if chain.contains("Connection refused") {
        format!("cannot connect to {to}: connection refused; is it running? {check}")
    } else if chain.contains("dns error") {
        format!("cannot reach {to}: host name not found; {check}")
    } else if chain.contains("Connection reset") || chain.contains("connection closed") {
        format!("{to} closed the connection before answering; {check}")
    } else {
        format!("no usable answer from {to}; {check} (-v shows why)")
    }
}

/// Whether a bare HTML 500 page may mean "not implemented": only for an
/// operation known to be missing from emulators, only from a custom
/// endpoint. Anywhere else it is a service error.
fn emulator_gap(operation: &str) -> bool {
    CUSTOM_ENDPOINT.load(std::sync::atomic::Ordering::Relaxed) && EMULATOR_GAPS.contains(&operation)
}

/// The kind for a service error code and HTTP status. `gap_page` says the
/// body was an HTML page (which no AWS API answers with) for an operation an
/// emulator at a custom endpoint is known to lack.
pub fn kind_for(code: Option<&str>, status: Option<u16>, gap_page: bool) -> ErrorKind {
    match code {
        Some(
            "ResourceNotFoundException" | "ResourceNotFound" | "NotFoundException" | "NotFound",
        ) => ErrorKind::NotFound,
        Some(
            "AccessDeniedException"
            | "AccessDenied"
            | "UnauthorizedOperation"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "MissingAuthenticationToken",
        ) => ErrorKind::AccessDenied,
        Some(
            "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "RequestThrottled",
        ) => ErrorKind::Throttled,
        Some(
            "InvalidParameterException"
            | "InvalidParameterValue"
            | "InvalidParameterValueException"
            | "InvalidParameterCombination"
            | "InvalidParameterCombinationException"
            | "MissingParameter"
            | "ValidationException"
            | "ValidationError"
            | "InvalidOperationException"
            | "InvalidFormat",
        ) => ErrorKind::InvalidParameter,
        Some("LimitExceededException" | "LimitExceeded" | "ServiceQuotaExceededException") => {
            ErrorKind::LimitExceeded
        }
        Some(
            "NotImplemented"
            | "UnknownOperationException"
            | "InvalidAction"
            | "UnsupportedOperation",
        ) => ErrorKind::NotImplemented,
        Some(_) => ErrorKind::Service,
        None => match status {
            Some(501) => ErrorKind::NotImplemented,
            Some(500) if gap_page => ErrorKind::NotImplemented,
            Some(403) => ErrorKind::AccessDenied,
            Some(404) => ErrorKind::NotFound,
            Some(429) => ErrorKind::Throttled,
            Some(_) => ErrorKind::Service,
            None => ErrorKind::Transport,
        },
    }
}

/// Whether a raw response is an HTML page (see `kind_for`).
pub(crate) fn is_html(resp: &HttpResponse) -> bool {
    resp.headers()
        .get("content-type")
        .is_some_and(|c| c.starts_with("text/html"))
}

/// Converts an SDK error of any operation, once.
pub(crate) fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let gap_page = err.raw_response().is_some_and(is_html) && emulator_gap(operation);
    let (code, message) = match &err {
        SdkError::ServiceError(ctx) => (
            ctx.err().code().map(str::to_owned),
            ctx.err()
                .message()
                .map(|m| sanitize(m).into_owned())
                .unwrap_or_default(),
        ),
        SdkError::TimeoutError(_) => (None, no_answer(&err, true)),
        SdkError::DispatchFailure(_) => (None, no_answer(&err, false)),
        _ => (
            None,
            sanitize(&DisplayErrorContext(&err).to_string()).into_owned(),
        ),
    };
    let detail = sanitize(&DisplayErrorContext(&err).to_string()).into_owned();
    if matches!(err, SdkError::ResponseError(_)) && super::limit::is_too_large(&err) {
        return AwsError {
            operation,
            kind: ErrorKind::Transport,
            code: None,
            message: format!(
                "the answer passed {} MiB and was not read further",
                super::limit::MAX_RESPONSE_BYTES >> 20
            ),
            detail: String::new(),
        };
    }
    let kind = match &err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            kind_for(code.as_deref(), status, gap_page)
        }
        _ => ErrorKind::Transport,
    };
    let message = match (kind, &code, err.raw_response()) {
        (ErrorKind::NotImplemented, None, _) => String::new(),
        // Without an error code, what came back: its status and the first
        // line of its body.
        (ErrorKind::Service, None, Some(resp)) => {
            let first = resp
                .body()
                .bytes()
                .map(|b| {
                    String::from_utf8_lossy(b)
                        .trim()
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned()
                })
                .unwrap_or_default();
            let first: String = first.chars().take(200).collect();
            let body = if first.is_empty() {
                "an empty body".to_owned()
            } else {
                sanitize(&first).into_owned()
            };
            format!("HTTP {}: {body}", resp.status().as_u16())
        }
        _ => message,
    };
    AwsError {
        operation,
        kind,
        code,
        message,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_codes_map_to_kinds() {
        let cases = [
            ("ResourceNotFoundException", ErrorKind::NotFound),
            ("ResourceNotFound", ErrorKind::NotFound),
            ("AccessDeniedException", ErrorKind::AccessDenied),
            ("AccessDenied", ErrorKind::AccessDenied),
            ("UnrecognizedClientException", ErrorKind::AccessDenied),
            ("ThrottlingException", ErrorKind::Throttled),
            ("Throttling", ErrorKind::Throttled),
            ("InvalidParameterException", ErrorKind::InvalidParameter),
            ("InvalidParameterValue", ErrorKind::InvalidParameter),
            ("LimitExceededException", ErrorKind::LimitExceeded),
            ("LimitExceeded", ErrorKind::LimitExceeded),
            ("UnknownOperationException", ErrorKind::NotImplemented),
            ("InternalFailure", ErrorKind::Service),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_for(Some(code), Some(400), false), kind, "{code}");
        }
    }

    #[test]
    fn codeless_answers_map_by_status() {
        assert_eq!(kind_for(None, Some(501), false), ErrorKind::NotImplemented);
        assert_eq!(kind_for(None, Some(500), true), ErrorKind::NotImplemented);
        assert_eq!(kind_for(None, Some(500), false), ErrorKind::Service);
        assert_eq!(kind_for(None, Some(403), false), ErrorKind::AccessDenied);
        assert_eq!(kind_for(None, Some(429), false), ErrorKind::Throttled);
        assert_eq!(kind_for(None, None, false), ErrorKind::Transport);
    }

    #[test]
    fn display_names_operation_kind_and_code() {
        let e = AwsError {
            operation: "PutMetricFilter",
            kind: ErrorKind::LimitExceeded,
            code: Some("LimitExceededException".into()),
            message: "Resource limit exceeded.".into(),
            detail: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "PutMetricFilter failed: limit exceeded (LimitExceededException: Resource limit exceeded.)"
        );
    }
}
