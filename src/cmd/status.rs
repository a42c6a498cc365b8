//! `secret-audit status`: each resource setup manages with its state
//! (present, drifted with the differing fields, missing), alarm states and
//! the age of the newest audit event; `--check` exits 1 on drift.

use std::io::{self, Write};

use clap::Args;

use crate::aws::logs::AuditStreams;
use crate::cli::{AwsArgs, GlobalArgs};
use crate::cmd::provisioning::{self as prov, ProvisionArgs};
use crate::error::exit;
use crate::output::rfc3339;
use crate::output::status::{write_status, LogGroupState, Row};
use crate::provision::plan::plan_setup;
use crate::provision::{Action, Kind};
use crate::provision::{Settings, Target};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The settings setup was run with, to compare against.
    /// Exit 1 when anything is missing or drifted (for CI).
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub provision: ProvisionArgs,
}

pub fn run(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<u8> {
    let say = global.reporter();
    let targets = prov::targets(&args.aws)?;
    let settings = args.provision.settings();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let (rows, groups) = prov::with_aws(&args.aws, async |clients| {
        let mut rows = Vec::new();
        let mut groups = Vec::new();
        for t in &targets {
            let streams = prov::audit_streams(clients, t)
                .await
                .map_err(prov::aws_error)?;
            let (row, group) = log_group_status(t, streams, now_ms);
            rows.push(row);
            groups.push(group);
            let st = prov::read_state(clients, t, settings.field_index)
                .await
                .map_err(prov::aws_error)?;
            rows.extend(resource_status(t, &st, &settings));
            rows.extend(alert_stack_status(clients, t).await?);
        }
        anyhow::Ok((rows, groups))
    })?;

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let bad: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.state, "drifted" | "missing" | "extra"))
        .collect();
    write_status(global.output(), &rows, groups, bad.is_empty(), &mut out)?;
    out.flush()?;
    if !bad.is_empty() {
        for r in &bad {
            say.line(format_args!(
                "status: {} {} {} is {}{}",
                r.target,
                r.resource,
                crate::output::sanitize::sanitize(&r.name),
                r.state,
                if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.detail)
                }
            ));
        }
        say.line(format_args!(
            "status: run secret-audit setup with the same options to fix"
        ));
    }
    Ok(if args.check && !bad.is_empty() {
        exit::CHECK_FAILED
    } else {
        exit::OK
    })
}

/// The state of a target's log group, as a row and as a document.
fn log_group_status(
    t: &Target,
    streams: Option<AuditStreams>,
    now_ms: i64,
) -> (Row, LogGroupState) {
    let (state, detail) = match &streams {
        None => ("missing", "log group does not exist".to_owned()),
        Some(s) if s.count == 0 => (
            "present",
            "no audit streams: audit log not enabled".to_owned(),
        ),
        Some(s) => match s.newest_event_ms {
            Some(ms) => (
                "present",
                format!(
                    "{} audit streams; newest event {} ({} ago)",
                    s.count,
                    rfc3339(ms * 1000, false),
                    prov::age((now_ms - ms) / 1000)
                ),
            ),
            None => ("present", format!("{} audit streams, no events", s.count)),
        },
    };
    let newest = streams.and_then(|s| s.newest_event_ms);
    let group = LogGroupState {
        target: t.name.clone(),
        log_group: t.log_group.clone(),
        exists: streams.is_some(),
        audit_streams: streams.map(|s| s.count),
        newest_event: newest.map(|ms| rfc3339(ms * 1000, false)),
        newest_event_age_seconds: newest.map(|ms| (now_ms - ms) / 1000),
    };
    let row = Row {
        target: t.name.clone(),
        resource: "log-group",
        name: t.log_group.clone(),
        state,
        fields: vec![],
        detail,
        alarm_state: None,
    };
    (row, group)
}

/// The subscription filter of the alerting stack (`alert --emit
/// cloudformation` with `Subscribe`), when there is one: it is optional,
/// so none is not a drift.
async fn alert_stack_status(clients: &crate::aws::Clients, t: &Target) -> anyhow::Result<Vec<Row>> {
    let name = format!("{}secrets", t.prefix());
    let filters = crate::aws::logs::subscription_filters(clients, &t.log_group, &name)
        .await
        .map_err(prov::aws_error)?;
    Ok(filters
        .into_iter()
        .filter(|f| f.name == name)
        .map(|f| {
            let expected = f.pattern == crate::tail::SERVER_FILTER;
            Row {
                target: t.name.clone(),
                resource: "subscription-filter",
                name: f.name,
                state: if expected { "present" } else { "drifted" },
                fields: if expected { vec![] } else { vec!["pattern"] },
                detail: format!(
                    "to {} (the alerting stack's subscription path)",
                    f.destination
                ),
                alarm_state: None,
            }
        })
        .collect())
}

/// What setup manages for a target, each resource against what exists.
fn resource_status(t: &Target, st: &prov::TargetState, settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    let desired = prov::desired(t, settings);
    let plan = plan_setup(&desired, &st.existing);
    for c in plan {
        let (state, mut detail) = match c.action {
            Action::Unchanged => ("present", String::new()),
            Action::Update => ("drifted", format!("differs: {}", c.fields.join(", "))),
            Action::Create => ("missing", String::new()),
            Action::Delete => (
                "extra",
                "managed by secret-audit but no longer desired".to_owned(),
            ),
            Action::Unsupported => ("unsupported by endpoint", String::new()),
        };
        if let (Kind::IndexPolicy, Action::Create | Action::Update) = (c.kind, c.action) {
            let missing = match (&st.existing.index, &desired.index) {
                (Some(i), Some((_, want))) => crate::provision::index::drift(i, want),
                _ => Vec::new(),
            };
            detail = format!("not indexed: {}", missing.join(", "));
        }
        let alarm_state = if c.kind == Kind::Alarm {
            st.existing
                .alarms
                .iter()
                .find(|a| a.spec.name == c.name)
                .and_then(|a| a.state.clone())
        } else {
            None
        };
        rows.push(Row {
            target: t.name.clone(),
            resource: c.kind.as_str(),
            name: c.name,
            state,
            fields: c.fields,
            detail,
            alarm_state,
        });
    }
    rows
}
