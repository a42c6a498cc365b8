//! secret-audit: who read our Kubernetes Secrets?
//!
//! The library behind the `secret-audit` binary. The audit core (`audit`),
//! the offline readers (`input`) and the renderers (`output`) are pure and
//! synchronous; commands (`cmd`) glue them to the command line. `aws` is
//! the only module that touches the AWS SDK; `provision` holds the desired
//! CloudWatch state and its plan as plain data.

pub mod alerting;
pub mod audit;
pub mod aws;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod iam;
pub mod input;
pub mod insights;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod output;
pub mod pattern;
pub mod provision;
pub mod rules;
pub mod tail;
pub mod timearg;
