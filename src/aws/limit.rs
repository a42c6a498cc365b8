//! A bound on what one AWS answer may hold in memory. The SDK reads a
//! response body whole before it parses it; an endpoint that never ends its
//! body (a broken proxy, a wrong `--endpoint-url`) would take the machine's
//! memory. Every body is read through http-body-util's `Limited` instead,
//! and past the limit the call fails with `BodyTooLarge`, not retried.

use aws_sdk_cloudwatchlogs::config::{ConfigBag, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_types::body::SdkBody;
use http_body_util::{LengthLimitError, Limited};

/// The most one response body may hold. The largest answers the program
/// asks for are a FilterLogEvents page (at most 1 MB of events, about 1.3
/// MB once JSON-escaped) and a GetQueryResults page of the report's queries
/// (at most 10,000 short rows, a few MB): 64 MiB leaves room for ten times
/// that and keeps a broken endpoint from taking more.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// The interceptor that wraps each response body in the limit.
#[derive(Debug)]
pub(crate) struct LimitBody;

impl Intercept for LimitBody {
    fn name(&self) -> &'static str {
        "secret-audit: response body limit"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.response_mut().body_mut();
        let inner = std::mem::replace(body, SdkBody::taken());
        *body = SdkBody::from_body_1_x(Limited::new(inner, MAX_RESPONSE_BYTES));
        Ok(())
    }
}

/// Whether an error, or any error it came from, is a body past the limit.
pub(crate) fn is_too_large(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<LengthLimitError>() {
            return true;
        }
        next = e.source();
    }
    false
}
