//! CloudWatch Logs calls: log groups and audit streams (preflight, status),
//! metric filters and saved Logs Insights query definitions, converted to
//! and from `provision` types.

use aws_sdk_cloudwatchlogs::types::{MetricFilter, MetricTransformation, StandardUnit};

use super::error::{from_sdk, AwsError, ErrorKind};
use crate::provision::{ExistingQuery, MetricFilterSpec, QuerySpec};

/// Prefix of the log streams EKS writes audit events to.
pub const AUDIT_STREAM_PREFIX: &str = "kube-apiserver-audit-";

/// Streams read at most when looking for the newest audit event.
const MAX_STREAM_PAGES: usize = 20;

/// The audit streams of a log group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditStreams {
    pub count: usize,
    /// Epoch milliseconds of the newest event in any audit stream (AWS
    /// updates it eventually, typically within an hour of ingestion).
    pub newest_event_ms: Option<i64>,
}

/// The `kube-apiserver-audit-*` streams of a group; `None` when the group
/// does not exist.
pub async fn audit_streams(
    clients: &super::Clients,
    group: &str,
) -> Result<Option<AuditStreams>, AwsError> {
    let client = &clients.logs;
    let mut pages = client
        .describe_log_streams()
        .log_group_name(group)
        .log_stream_name_prefix(AUDIT_STREAM_PREFIX)
        .into_paginator()
        .send();
    let mut out = AuditStreams::default();
    let mut read = 0;
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let e = from_sdk("DescribeLogStreams", e);
                return if e.is(ErrorKind::NotFound) {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        for s in page.log_streams() {
            out.count += 1;
            let newest = s.last_event_timestamp().max(s.last_ingestion_time());
            out.newest_event_ms = out.newest_event_ms.max(newest);
        }
        read += 1;
        if read >= MAX_STREAM_PAGES {
            break;
        }
    }
    Ok(Some(out))
}

/// A subscription filter of a log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionFilter {
    pub name: String,
    pub pattern: String,
    pub destination: String,
}

/// The subscription filters of a group whose name starts with `prefix`;
/// none when the group does not exist or the endpoint does not implement
/// them.
pub async fn subscription_filters(
    clients: &super::Clients,
    group: &str,
    prefix: &str,
) -> Result<Vec<SubscriptionFilter>, AwsError> {
    let answer = clients
        .logs
        .describe_subscription_filters()
        .log_group_name(group)
        .filter_name_prefix(prefix)
        .send()
        .await;
    match answer {
        Ok(a) => Ok(a
            .subscription_filters()
            .iter()
            .map(|f| SubscriptionFilter {
                name: f.filter_name().unwrap_or_default().to_owned(),
                pattern: f.filter_pattern().unwrap_or_default().to_owned(),
                destination: f.destination_arn().unwrap_or_default().to_owned(),
            })
            .collect()),
        Err(e) => {
            let e = from_sdk("DescribeSubscriptionFilters", e);
            if e.is(ErrorKind::NotFound) || e.is(ErrorKind::NotImplemented) {
                Ok(Vec::new())
            } else {
                Err(e)
            }
        }
    }
}

/// Metric filters of a group, all of them or those whose name starts with
/// `prefix`; none when the group does not exist.
pub async fn metric_filters(
    clients: &super::Clients,
    group: &str,
    prefix: Option<&str>,
) -> Result<Vec<MetricFilterSpec>, AwsError> {
    let client = &clients.logs;
    let mut pages = client
        .describe_metric_filters()
        .log_group_name(group)
        .set_filter_name_prefix(prefix.map(str::to_owned))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let e = from_sdk("DescribeMetricFilters", e);
                return if e.is(ErrorKind::NotFound) {
                    Ok(Vec::new())
                } else {
                    Err(e)
                };
            }
        };
        out.extend(
            page.metric_filters()
                .iter()
                .map(|f| filter_from_sdk(group, f)),
        );
    }
    Ok(out)
}

fn filter_from_sdk(group: &str, f: &MetricFilter) -> MetricFilterSpec {
    let t = f.metric_transformations().first();
    MetricFilterSpec {
        name: f.filter_name().unwrap_or_default().to_owned(),
        log_group: f.log_group_name().unwrap_or(group).to_owned(),
        pattern: f.filter_pattern().unwrap_or_default().to_owned(),
        metric_namespace: t
            .map(|t| t.metric_namespace().to_owned())
            .unwrap_or_default(),
        metric_name: t.map(|t| t.metric_name().to_owned()).unwrap_or_default(),
        metric_value: t.map(|t| t.metric_value().to_owned()).unwrap_or_default(),
        default_value: t.and_then(|t| t.default_value()),
        dimensions: t
            .and_then(|t| t.dimensions())
            .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        unit: t.and_then(|t| t.unit()).map(|u| u.as_str().to_owned()),
    }
}

/// Creates or replaces a metric filter (PutMetricFilter is an upsert).
pub async fn put_metric_filter(
    clients: &super::Clients,
    f: &MetricFilterSpec,
) -> Result<(), AwsError> {
    let client = &clients.logs;
    let mut t = MetricTransformation::builder()
        .metric_name(&f.metric_name)
        .metric_namespace(&f.metric_namespace)
        .metric_value(&f.metric_value)
        .set_default_value(f.default_value);
    for (k, v) in &f.dimensions {
        t = t.dimensions(k, v);
    }
    if let Some(u) = &f.unit {
        t = t.unit(StandardUnit::from(u.as_str()));
    }
    let t = t.build().map_err(|e| AwsError {
        operation: "PutMetricFilter",
        kind: ErrorKind::InvalidParameter,
        code: None,
        message: e.to_string(),
        detail: String::new(),
    })?;
    client
        .put_metric_filter()
        .log_group_name(&f.log_group)
        .filter_name(&f.name)
        .filter_pattern(&f.pattern)
        .metric_transformations(t)
        .send()
        .await
        .map_err(|e| from_sdk("PutMetricFilter", e))?;
    Ok(())
}

pub async fn delete_metric_filter(
    clients: &super::Clients,
    group: &str,
    name: &str,
) -> Result<(), AwsError> {
    let client = &clients.logs;
    match client
        .delete_metric_filter()
        .log_group_name(group)
        .filter_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = from_sdk("DeleteMetricFilter", e);
            // Already gone is what we wanted.
            if e.is(ErrorKind::NotFound) {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// Saved query definitions whose name starts with `prefix`; `None` when the
/// endpoint does not implement them.
pub async fn query_definitions(
    clients: &super::Clients,
    prefix: &str,
) -> Result<Option<Vec<ExistingQuery>>, AwsError> {
    let client = &clients.logs;
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = client
            .describe_query_definitions()
            .query_definition_name_prefix(prefix)
            .max_results(1000)
            .set_next_token(token.take())
            .send()
            .await;
        let page = match resp {
            Ok(p) => p,
            Err(e) => {
                let e = from_sdk("DescribeQueryDefinitions", e);
                return if e.is(ErrorKind::NotImplemented) {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        for q in page.query_definitions() {
            let name = q.name().unwrap_or_default();
            if !name.starts_with(prefix) {
                continue;
            }
            out.push(ExistingQuery {
                spec: QuerySpec {
                    name: name.to_owned(),
                    query_string: q.query_string().unwrap_or_default().to_owned(),
                    log_groups: q.log_group_names().to_vec(),
                },
                id: q.query_definition_id().unwrap_or_default().to_owned(),
            });
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(Some(out))
}

/// Creates (no id) or updates (id) a saved query definition.
pub async fn put_query_definition(
    clients: &super::Clients,
    q: &QuerySpec,
    id: Option<&str>,
) -> Result<(), AwsError> {
    let client = &clients.logs;
    client
        .put_query_definition()
        .name(&q.name)
        .query_string(&q.query_string)
        .set_log_group_names(Some(q.log_groups.clone()))
        .set_query_definition_id(id.map(str::to_owned))
        .send()
        .await
        .map_err(|e| from_sdk("PutQueryDefinition", e))?;
    Ok(())
}

pub async fn delete_query_definition(clients: &super::Clients, id: &str) -> Result<(), AwsError> {
    let client = &clients.logs;
    client
        .delete_query_definition()
        .query_definition_id(id)
        .send()
        .await
        .map_err(|e| from_sdk("DeleteQueryDefinition", e))?;
    Ok(())
}

/// The 1-based numbers of the messages a pattern matches, as CloudWatch
/// itself evaluates it (TestMetricFilter takes 1 to 50 messages).
pub async fn test_metric_filter(
    clients: &super::Clients,
    pattern: &str,
    messages: &[String],
) -> Result<Vec<usize>, AwsError> {
    let client = &clients.logs;
    let out = client
        .test_metric_filter()
        .filter_pattern(pattern)
        .set_log_event_messages(Some(messages.to_vec()))
        .send()
        .await
        .map_err(|e| from_sdk("TestMetricFilter", e))?;
    let mut matched: Vec<usize> = out
        .matches()
        .iter()
        .filter_map(|m| usize::try_from(m.event_number()).ok())
        .collect();
    matched.sort_unstable();
    matched.dedup();
    Ok(matched)
}

/// FilterLogEvents over the audit streams of a group, for `tail`.
#[derive(Debug, Clone)]
pub struct LogEvents {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl LogEvents {
    pub fn new(clients: &super::Clients) -> LogEvents {
        LogEvents {
            client: clients.logs.clone(),
        }
    }
}

impl crate::tail::Source for LogEvents {
    async fn page(
        &self,
        group: &str,
        start: i64,
        end: i64,
        token: Option<&str>,
    ) -> Result<crate::tail::Page, crate::insights::runner::ApiError> {
        let answer = self
            .client
            .filter_log_events()
            .log_group_name(group)
            .log_stream_name_prefix(AUDIT_STREAM_PREFIX)
            .filter_pattern(crate::tail::SERVER_FILTER)
            .start_time(start)
            .end_time(end)
            .set_next_token(token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| super::insights::api_error(from_sdk("FilterLogEvents", e)))?;
        let events = answer
            .events()
            .iter()
            .map(|e| crate::tail::CwEvent {
                stream: e.log_stream_name().unwrap_or_default().to_owned(),
                event_id: e.event_id().unwrap_or_default().to_owned(),
                timestamp: e.timestamp().unwrap_or_default(),
                ingestion: e.ingestion_time().unwrap_or_default(),
                message: e.message().unwrap_or_default().to_owned(),
            })
            .collect();
        // A token equal to the one sent would read the same page again.
        let next = answer
            .next_token()
            .filter(|t| Some(*t) != token)
            .map(str::to_owned);
        Ok(crate::tail::Page { events, next })
    }
}
