//! CloudWatch alarm calls, converted to and from `provision::AlarmSpec`.
//! An alarm is ours when its name has the target's prefix and it carries
//! both tags `managed-by=secret-audit` and `cluster=<target>`.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricAlarm, MetricDataQuery, Statistic, Tag};
use aws_sdk_cloudwatch::Client;

use super::error::{from_sdk, AwsError};
use crate::provision::{AlarmMetric, AlarmSpec, ExistingAlarm, Target, MANAGED_BY};

/// Alarms under a target's name prefix, split by ownership.
#[derive(Debug, Clone, Default)]
pub struct AlarmScan {
    /// Ours, for this target.
    pub managed: Vec<ExistingAlarm>,
    /// Names under the prefix that carry no `managed-by=secret-audit` tag:
    /// made by hand; never overwritten or deleted.
    pub foreign: Vec<String>,
}

pub async fn alarms(clients: &super::Clients, target: &Target) -> Result<AlarmScan, AwsError> {
    let client = &clients.cloudwatch;
    let mut pages = client
        .describe_alarms()
        .alarm_name_prefix(target.prefix())
        .into_paginator()
        .send();
    let mut scan = AlarmScan::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| from_sdk("DescribeAlarms", e))?;
        for a in page.metric_alarms() {
            let arn = a.alarm_arn().map(str::to_owned);
            let tags = match &arn {
                Some(arn) => tags(client, arn).await?,
                None => BTreeMap::new(),
            };
            let name = a.alarm_name().unwrap_or_default().to_owned();
            if tags.get("managed-by").map(String::as_str) != Some(MANAGED_BY) {
                scan.foreign.push(name);
                continue;
            }
            if tags.get("cluster") != Some(&target.name) {
                // Another target whose name extends this one (prod, prod-eu).
                continue;
            }
            scan.managed.push(ExistingAlarm {
                spec: alarm_from_sdk(a, tags),
                arn,
                state: a.state_value().map(|s| s.as_str().to_owned()),
            });
        }
    }
    Ok(scan)
}

async fn tags(client: &Client, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| from_sdk("ListTagsForResource", e))?;
    Ok(out
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect())
}

fn alarm_from_sdk(a: &MetricAlarm, tags: BTreeMap<String, String>) -> AlarmSpec {
    let metric = match a.metrics().iter().find_map(|m| m.expression()) {
        Some(expression) => AlarmMetric::Query {
            expression: expression.to_owned(),
        },
        None => AlarmMetric::Metric {
            namespace: a.namespace().unwrap_or_default().to_owned(),
            name: a.metric_name().unwrap_or_default().to_owned(),
            statistic: a
                .statistic()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
        },
    };
    let period = a
        .period()
        .or_else(|| a.metrics().iter().find_map(|m| m.period()))
        .unwrap_or_default();
    AlarmSpec {
        name: a.alarm_name().unwrap_or_default().to_owned(),
        description: a.alarm_description().unwrap_or_default().to_owned(),
        metric,
        period,
        evaluation_periods: a.evaluation_periods().unwrap_or_default(),
        datapoints_to_alarm: a
            .datapoints_to_alarm()
            .or(a.evaluation_periods())
            .unwrap_or_default(),
        threshold: a.threshold().unwrap_or_default(),
        comparison: a
            .comparison_operator()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        treat_missing_data: a.treat_missing_data().unwrap_or("missing").to_owned(),
        actions_enabled: a.actions_enabled().unwrap_or(true),
        alarm_actions: a.alarm_actions().to_vec(),
        ok_actions: a.ok_actions().to_vec(),
        tags,
    }
}

/// Creates or replaces an alarm. Tags given here apply only when the alarm
/// is created; `tag_alarm` sets them on an existing one.
pub async fn put_alarm(clients: &super::Clients, a: &AlarmSpec) -> Result<(), AwsError> {
    let client = &clients.cloudwatch;
    let mut req = client
        .put_metric_alarm()
        .alarm_name(&a.name)
        .alarm_description(&a.description)
        .evaluation_periods(a.evaluation_periods)
        .datapoints_to_alarm(a.datapoints_to_alarm)
        .threshold(a.threshold)
        .comparison_operator(ComparisonOperator::from(a.comparison.as_str()))
        .treat_missing_data(&a.treat_missing_data)
        .actions_enabled(a.actions_enabled)
        .set_alarm_actions(Some(a.alarm_actions.clone()))
        .set_ok_actions(Some(a.ok_actions.clone()));
    req = match &a.metric {
        AlarmMetric::Metric {
            namespace,
            name,
            statistic,
        } => req
            .namespace(namespace)
            .metric_name(name)
            .statistic(Statistic::from(statistic.as_str()))
            .period(a.period),
        AlarmMetric::Query { expression } => req.metrics(
            MetricDataQuery::builder()
                .id("q1")
                .expression(expression)
                .period(a.period)
                .return_data(true)
                .build(),
        ),
    };
    for (k, v) in &a.tags {
        req = req.tags(Tag::builder().key(k).value(v).build());
    }
    req.send()
        .await
        .map_err(|e| from_sdk("PutMetricAlarm", e))?;
    Ok(())
}

pub async fn tag_alarm(
    clients: &super::Clients,
    arn: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let client = &clients.cloudwatch;
    let mut req = client.tag_resource().resource_arn(arn);
    for (k, v) in tags {
        req = req.tags(Tag::builder().key(k).value(v).build());
    }
    req.send().await.map_err(|e| from_sdk("TagResource", e))?;
    Ok(())
}

pub async fn delete_alarm(clients: &super::Clients, name: &str) -> Result<(), AwsError> {
    let client = &clients.cloudwatch;
    client
        .delete_alarms()
        .alarm_names(name)
        .send()
        .await
        .map_err(|e| from_sdk("DeleteAlarms", e))?;
    Ok(())
}

/// The period of a GetMetricStatistics call over `start..end` (epoch
/// seconds) made at `now`: under 1,440 points, and no finer than CloudWatch
/// keeps points of that age (1 minute for 15 days, 5 minutes for 63, then
/// an hour).
pub fn metric_period(start: i64, end: i64, now: i64) -> i32 {
    let age = now - start;
    let finest = if age > 63 * 86_400 {
        3600
    } else if age > 15 * 86_400 {
        300
    } else {
        60
    };
    let span = (end - start).max(60);
    [60i64, 300, 3600, 86_400]
        .into_iter()
        .filter(|p| *p >= finest)
        .find(|p| (span + p - 1) / p < 1440)
        .unwrap_or(86_400) as i32
}

/// Bytes that came into a log group between `start` and `end` (epoch
/// seconds): the sum of its `AWS/Logs` `IncomingBytes` metric (uncompressed
/// bytes). `None` when the metric has no data there.
pub async fn incoming_bytes(
    clients: &super::Clients,
    log_group: &str,
    start: i64,
    end: i64,
) -> Result<Option<f64>, AwsError> {
    let period = metric_period(start, end, chrono::Utc::now().timestamp());
    let at = |s: i64| aws_sdk_cloudwatch::primitives::DateTime::from_secs(s);
    let resp = clients
        .cloudwatch
        .get_metric_statistics()
        .namespace("AWS/Logs")
        .metric_name("IncomingBytes")
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("LogGroupName")
                .value(log_group)
                .build(),
        )
        .start_time(at(start))
        .end_time(at(end))
        .period(period)
        .statistics(Statistic::Sum)
        .send()
        .await
        .map_err(|e| from_sdk("GetMetricStatistics", e))?;
    let points = resp.datapoints();
    if points.is_empty() {
        return Ok(None);
    }
    Ok(Some(points.iter().filter_map(|p| p.sum()).sum()))
}

#[cfg(test)]
mod tests {
    use super::metric_period;

    #[test]
    fn the_period_keeps_under_the_point_limit_and_the_retention() {
        let now = 100 * 86_400;
        let day = 86_400;
        // 24 h is 1,440 minutes: one more than a call may return.
        assert_eq!(metric_period(now - day, now, now), 300);
        assert_eq!(metric_period(now - 3600, now, now), 60);
        assert_eq!(metric_period(now - 30 * day, now, now), 3600);
        // A day 20 days ago: 5-minute points at best.
        assert_eq!(metric_period(now - 20 * day, now - 19 * day, now), 300);
        // 70 days ago: hours.
        assert_eq!(metric_period(now - 70 * day, now - 69 * day, now), 3600);
        assert_eq!(metric_period(0, 10_000 * day, now), 86_400);
    }
}
