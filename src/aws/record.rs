//! An opt-in record of the AWS operations the program calls: with
//! `SECRET_AUDIT_RECORD_CALLS=FILE`, every operation is appended to FILE as
//! its IAM action (`logs:PutMetricFilter`) before it is serialized and sent, whether it
//! then succeeds or not. The test that `iam-policy` covers each command
//! reads it; nothing else does.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use aws_sdk_cloudwatchlogs::config::{ConfigBag, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// The environment variable naming the record file.
pub const RECORD_CALLS_ENV: &str = "SECRET_AUDIT_RECORD_CALLS";

#[derive(Debug)]
pub(crate) struct RecordCalls {
    /// The IAM service prefix of the client (`logs`, `cloudwatch`).
    prefix: &'static str,
    path: PathBuf,
}

impl RecordCalls {
    /// The recorder for one client, when the environment asks for one.
    pub(crate) fn from_env(prefix: &'static str) -> Option<RecordCalls> {
        std::env::var_os(RECORD_CALLS_ENV)
            .filter(|p| !p.is_empty())
            .map(|p| RecordCalls {
                prefix,
                path: PathBuf::from(p),
            })
    }
}

impl Intercept for RecordCalls {
    fn name(&self) -> &'static str {
        "secret-audit: record calls"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(m) = cfg.load::<Metadata>() else {
            return Err("no operation metadata to record".into());
        };
        let line = format!("{}:{}\n", self.prefix, m.name());
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(line.as_bytes())?;
        Ok(())
    }
}
