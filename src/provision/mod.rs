//! Desired CloudWatch state for secret auditing, as plain data, and the plan
//! that turns what exists into it. Nothing here calls AWS: `aws/` reads and
//! writes these types, `cmd/setup`, `status` and `teardown` glue them.

pub mod cloudformation;
pub mod index;
pub mod plan;
pub mod samples;
pub mod spec;

pub use plan::{Action, Change, Kind, Op};
pub use spec::{AlarmMetric, AlarmSpec, MetricFilterSpec, QuerySpec, Settings, Target};

/// Tag value of `managed-by` on every alarm this tool creates.
pub const MANAGED_BY: &str = "secret-audit";

/// What exists in AWS for one target, as far as this tool manages it:
/// metric filters whose name carries the target's prefix in its log group,
/// alarms with the prefix and both tags, query definitions in its folder.
#[derive(Debug, Clone, Default)]
pub struct Existing {
    pub filters: Vec<MetricFilterSpec>,
    pub alarms: Vec<ExistingAlarm>,
    /// `None` when the endpoint does not implement query definitions.
    pub queries: Option<Vec<ExistingQuery>>,
    /// The log group's field index policy; `None` when not read (setup
    /// `--no-field-index`).
    pub index: Option<index::IndexState>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExistingAlarm {
    pub spec: AlarmSpec,
    pub arn: Option<String>,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExistingQuery {
    pub spec: QuerySpec,
    pub id: String,
}
