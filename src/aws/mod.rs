//! The only module that touches the AWS SDK. It builds every client from
//! one `SdkConfig` (profile, region, endpoint URL, retry and timeouts from
//! flags, then the standard environment and config files), converts SDK
//! types to ours (`provision`) and maps SDK errors once (`error`).

pub mod cloudwatch;
#[cfg(feature = "lambda")]
pub mod dynamo;
pub mod error;
pub mod index;
pub mod insights;
pub mod limit;
pub mod logs;
pub mod record;
pub mod sns;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudwatchlogs::config::interceptors::InterceptorContext;
use aws_sdk_cloudwatchlogs::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_cloudwatchlogs::config::ProvideCredentials;

use crate::error::AppError;
use crate::output::sanitize::sanitize;

pub use error::{AwsError, ErrorKind};

/// How to reach AWS; built by the command glue from the AWS flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Attempts per call in standard retry mode (1 = no retry).
    pub max_attempts: u32,
    pub operation_timeout: Duration,
    pub attempt_timeout: Duration,
}

impl Default for Settings {
    /// The environment's configuration (a Lambda function's), three
    /// attempts a call, a minute a call, 20 seconds an attempt.
    fn default() -> Settings {
        Settings {
            profile: None,
            region: None,
            endpoint_url: None,
            max_attempts: 3,
            operation_timeout: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(20),
        }
    }
}

/// The clients of one run, sharing one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    // The SDK clients stay inside this module: commands call its functions.
    logs: aws_sdk_cloudwatchlogs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    sns: aws_sdk_sns::Client,
    #[cfg(feature = "lambda")]
    dynamodb: aws_sdk_dynamodb::Client,
    pub region: String,
}

/// Resolves configuration and credentials; fails early (exit 253) when no
/// region or no credentials resolve.
pub async fn connect(s: &Settings) -> Result<Clients, AppError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(s.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10).min(s.attempt_timeout))
                .operation_attempt_timeout(s.attempt_timeout)
                .operation_timeout(s.operation_timeout)
                .build(),
        );
    // --profile, or else AWS_PROFILE: it must exist, and its credentials
    // are used even when others are in the environment (as the AWS CLI).
    let profile = s
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    if let Some(p) = &profile {
        check_profile(p).await?;
        loader = loader.profile_name(p).credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(p)
                .build(),
        );
    }
    if let Some(r) = &s.region {
        loader = loader.region(Region::new(r.clone()));
    }
    let endpoint = match &s.endpoint_url {
        Some(u) => Some(u.clone()),
        None => std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|u| !u.is_empty()),
    };
    if let Some(u) = &endpoint {
        check_endpoint_url(u)?;
        loader = loader.endpoint_url(u);
    }
    let config = loader.load().await;
    let profile_hint = match &profile {
        Some(p) => format!(" (profile {})", sanitize(p)),
        None => String::new(),
    };
    let region = config.region().map(|r| r.to_string()).filter(|r| !r.is_empty()).ok_or_else(|| {
        AppError::Config(format!(
            "no AWS region{profile_hint}: pass --region, set AWS_REGION, or set region in the profile"
        ))
    })?;
    if !region.split('-').all(|p| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }) {
        return Err(AppError::Config(format!(
            "invalid AWS region {:?}: expected a name like us-east-1",
            sanitize(&region)
        )));
    }
    error::set_endpoint(endpoint.as_deref(), &region);
    check_credentials(&config, profile.is_some(), &profile_hint).await?;
    Ok(clients(&config, region))
}

/// Fails unless credentials resolve, saying how to get some.
async fn check_credentials(
    config: &aws_config::SdkConfig,
    with_profile: bool,
    profile_hint: &str,
) -> Result<(), AppError> {
    let provider = config
        .credentials_provider()
        .ok_or_else(|| AppError::Config(format!("no AWS credentials provider{profile_hint}")))?;
    if let Err(e) = provider.provide_credentials().await {
        let fix = if with_profile {
            "log in to it (aws sso login) or give it keys (aws configure)"
        } else {
            "log in (aws sso login, aws configure), set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        };
        return Err(AppError::Detailed {
            message: format!("no AWS credentials found{profile_hint}: {fix}"),
            detail: sanitize(&aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e).to_string())
                .into_owned(),
            exit: crate::error::exit::CONFIG,
        });
    }
    Ok(())
}

/// The clients of a resolved configuration, with the program's retry
/// classifier and interceptors.
fn clients(config: &aws_config::SdkConfig, region: String) -> Clients {
    let mut logs = aws_sdk_cloudwatchlogs::config::Builder::from(config)
        .retry_classifier(NoFutileRetry)
        .interceptor(limit::LimitBody);
    if let Some(r) = record::RecordCalls::from_env("logs") {
        logs = logs.interceptor(r);
    }
    let mut cloudwatch = aws_sdk_cloudwatch::config::Builder::from(config)
        .retry_classifier(NoFutileRetry)
        .interceptor(limit::LimitBody);
    if let Some(r) = record::RecordCalls::from_env("cloudwatch") {
        cloudwatch = cloudwatch.interceptor(r);
    }
    let mut sns = aws_sdk_sns::config::Builder::from(config)
        .retry_classifier(NoFutileRetry)
        .interceptor(limit::LimitBody);
    if let Some(r) = record::RecordCalls::from_env("sns") {
        sns = sns.interceptor(r);
    }
    let (logs, cloudwatch) = (logs.build(), cloudwatch.build());
    Clients {
        logs: aws_sdk_cloudwatchlogs::Client::from_conf(logs),
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch),
        sns: aws_sdk_sns::Client::from_conf(sns.build()),
        #[cfg(feature = "lambda")]
        dynamodb: {
            let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(config)
                .retry_classifier(NoFutileRetry)
                .interceptor(limit::LimitBody);
            if let Some(r) = record::RecordCalls::from_env("dynamodb") {
                dynamodb = dynamodb.interceptor(r);
            }
            aws_sdk_dynamodb::Client::from_conf(dynamodb.build())
        },
        region,
    }
}

/// Fails unless the AWS config or credentials file defines `profile` (the
/// AWS CLI's "profile not found", also when other credentials exist).
async fn check_profile(profile: &str) -> Result<(), AppError> {
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &files,
        None,
    )
    .await;
    let known: Vec<String> = match &set {
        Ok(set) => set.profiles().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    };
    if known.iter().any(|p| p == profile) {
        return Ok(());
    }
    let listed = if known.is_empty() {
        "no profile is defined (aws configure makes one)".to_owned()
    } else {
        format!("defined: {}", sanitize(&known.join(", ")))
    };
    Err(AppError::Config(format!(
        "profile {} not found in the AWS config and credentials files; {listed}",
        sanitize(profile)
    )))
}

/// Fails unless `url` is an http(s) URL with a host, before any call.
pub fn check_endpoint_url(url: &str) -> Result<(), AppError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => Ok(()),
        Some(_) => Err(AppError::Usage(format!(
            "endpoint URL {} has no host: write it as http://HOST:PORT",
            sanitize(url)
        ))),
        None => Err(AppError::Usage(format!(
            "endpoint URL {} has no scheme: write http://{} (or https://)",
            sanitize(url),
            sanitize(url.split("://").last().unwrap_or(url))
        ))),
    }
}

/// Forbids retries that cannot help. The standard classifier treats
/// `LimitExceededException` as throttling, which is right for StartQuery's
/// concurrency limit but wrong for a resource quota (100 metric filters per
/// log group, alarms or query definitions per account): retrying only
/// delays the error. An emulator's HTML 500 page for an operation it lacks
/// will not change on retry either, nor will a body past the size limit.
#[derive(Debug)]
struct NoFutileRetry;

impl ClassifyRetry for NoFutileRetry {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        if let Some(resp) = ctx.response() {
            if resp.status().as_u16() == 500 && error::is_html(resp) {
                return RetryAction::RetryForbidden;
            }
        }
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        if err.is_response_error() && limit::is_too_large(err) {
            return RetryAction::RetryForbidden;
        }
        let Some(err) = err.as_operation_error() else {
            return RetryAction::NoActionIndicated;
        };
        use aws_sdk_cloudwatch::operation::put_metric_alarm::PutMetricAlarmError;
        use aws_sdk_cloudwatchlogs::operation::put_metric_filter::PutMetricFilterError;
        use aws_sdk_cloudwatchlogs::operation::put_query_definition::PutQueryDefinitionError;
        let quota = err
            .downcast_ref::<PutMetricFilterError>()
            .is_some_and(|e| e.is_limit_exceeded_exception())
            || err
                .downcast_ref::<PutQueryDefinitionError>()
                .is_some_and(|e| e.is_limit_exceeded_exception())
            || err
                .downcast_ref::<PutMetricAlarmError>()
                .is_some_and(|e| e.is_limit_exceeded_fault());
        if quota {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "secret-audit: no retry on quotas or unimplemented operations"
    }
}
