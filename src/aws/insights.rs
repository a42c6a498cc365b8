//! Logs Insights through the SDK: StartQuery, GetQueryResults and
//! StopQuery behind the runner's `InsightsApi` trait, errors mapped to the
//! runner's kinds (a missing log group is named by an extra look-up).

use aws_sdk_cloudwatchlogs::types::QueryStatus;
use aws_sdk_cloudwatchlogs::Client;

use super::error::{from_sdk, ErrorKind};
use crate::insights::runner::{
    ApiError, ApiErrorKind, InsightsApi, Poll, StartRequest, Statistics, Status,
};

/// Logs Insights of one account and Region.
#[derive(Debug, Clone)]
pub struct Insights {
    client: Client,
}

impl Insights {
    pub fn new(clients: &super::Clients) -> Insights {
        Insights {
            client: clients.logs.clone(),
        }
    }
}

pub(crate) fn api_error(e: super::AwsError) -> ApiError {
    let kind = match e.kind {
        ErrorKind::LimitExceeded => ApiErrorKind::LimitExceeded,
        ErrorKind::Throttled => ApiErrorKind::Throttled,
        ErrorKind::NotFound => ApiErrorKind::LogGroupNotFound,
        ErrorKind::NotImplemented => ApiErrorKind::NotImplemented,
        ErrorKind::Transport => ApiErrorKind::Transport,
        _ => ApiErrorKind::Service,
    };
    ApiError::new(kind, e.to_string())
}

impl Insights {
    /// Which of `groups` do not exist (DescribeLogGroups by exact prefix).
    async fn missing(&self, groups: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for g in groups {
            let found = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(g)
                .send()
                .await
                .map(|r| {
                    r.log_groups()
                        .iter()
                        .any(|lg| lg.log_group_name() == Some(g))
                });
            if let Ok(false) = found {
                out.push(g.clone());
            }
        }
        out
    }
}

impl InsightsApi for Insights {
    async fn start_query(&self, req: &StartRequest) -> Result<String, ApiError> {
        let resp = self
            .client
            .start_query()
            .set_log_group_names(Some(req.log_groups.clone()))
            .start_time(req.start)
            .end_time(req.end)
            .query_string(&req.query)
            .limit(req.limit.clamp(1, 10_000) as i32)
            .send()
            .await;
        match resp {
            Ok(r) => Ok(r.query_id().unwrap_or_default().to_owned()),
            Err(e) => {
                let mut err = api_error(from_sdk("StartQuery", e));
                if err.kind == ApiErrorKind::LogGroupNotFound {
                    err.missing = self.missing(&req.log_groups).await;
                    if err.missing.is_empty() {
                        err.kind = ApiErrorKind::Service;
                    }
                }
                Err(err)
            }
        }
    }

    async fn query_results(&self, query_id: &str) -> Result<Poll, ApiError> {
        let r = self
            .client
            .get_query_results()
            .query_id(query_id)
            .send()
            .await
            .map_err(|e| api_error(from_sdk("GetQueryResults", e)))?;
        let status = match r.status() {
            Some(QueryStatus::Scheduled) => Status::Scheduled,
            Some(QueryStatus::Running) => Status::Running,
            Some(QueryStatus::Complete) => Status::Complete,
            Some(QueryStatus::Failed) => Status::Failed,
            Some(QueryStatus::Cancelled) => Status::Cancelled,
            Some(QueryStatus::Timeout) => Status::Timeout,
            Some(QueryStatus::UnknownValue) | None => Status::Unknown,
            Some(other) => Status::Other(other.as_str().to_owned()),
        };
        let rows = r
            .results()
            .iter()
            .map(|row| {
                row.iter()
                    .filter_map(|f| Some((f.field()?.to_owned(), f.value()?.to_owned())))
                    .collect()
            })
            .collect();
        let statistics = r
            .statistics()
            .map(|s| Statistics {
                records_matched: s.records_matched(),
                records_scanned: s.records_scanned(),
                bytes_scanned: s.bytes_scanned(),
                bytes_skipped: s.estimated_bytes_skipped(),
            })
            .unwrap_or_default();
        Ok(Poll {
            status,
            rows,
            statistics,
        })
    }

    async fn stop_query(&self, query_id: &str) -> Result<(), ApiError> {
        self.client
            .stop_query()
            .query_id(query_id)
            .send()
            .await
            .map_err(|e| api_error(from_sdk("StopQuery", e)))?;
        Ok(())
    }
}
