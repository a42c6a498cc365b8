//! secret-audit: who read our Kubernetes Secrets?
//!
//! The library behind the `secret-audit` binary. The audit core (`audit`),
//! the offline readers (`input`) and the renderers (`output`) are pure and
//! synchronous; commands (`cmd`) glue them to the command line.

pub mod audit;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod input;
pub mod output;
pub mod timearg;
