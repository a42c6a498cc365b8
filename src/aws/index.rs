//! CloudWatch Logs field index policies of a log group, and the tag in
//! which setup keeps what it added (`provision::index`).

use aws_sdk_cloudwatchlogs::types::IndexSource;

use super::error::{from_sdk, AwsError, ErrorKind};
use crate::provision::index::{IndexState, Ledger, Policy, Source, LEDGER_TAGS};

/// The index policy that applies to a log group and setup's ledger tag;
/// `supported` is false when the endpoint has no index-policy API.
pub async fn state(clients: &super::Clients, log_group: &str) -> Result<IndexState, AwsError> {
    let mut st = IndexState {
        log_group: log_group.to_owned(),
        supported: true,
        ..IndexState::default()
    };
    match policy(clients, log_group).await? {
        None => {
            st.supported = false;
            return Ok(st);
        }
        Some(p) => st.policy = p,
    }
    if let Some(arn) = arn(clients, log_group).await? {
        let tags = clients
            .logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| from_sdk("ListTagsForResource", e))?;
        st.ledger = Ledger::from_tags(|k| tags.tags().and_then(|t| t.get(k)).cloned());
    }
    Ok(st)
}

/// The index policy that applies to a log group (its own, or an
/// account-level one); `None` when the endpoint has no index-policy API.
pub async fn policy(
    clients: &super::Clients,
    log_group: &str,
) -> Result<Option<Option<Policy>>, AwsError> {
    let resp = clients
        .logs
        .describe_index_policies()
        .log_group_identifiers(log_group)
        .send()
        .await;
    let page = match resp {
        Ok(p) => p,
        Err(e) => {
            let e = from_sdk("DescribeIndexPolicies", e);
            return if e.is(ErrorKind::NotImplemented) {
                Ok(None)
            } else if e.is(ErrorKind::NotFound) {
                // No log group, so no policy.
                Ok(Some(None))
            } else {
                Err(e)
            };
        }
    };
    Ok(Some(page.index_policies().first().map(|p| Policy {
        source: match p.source() {
            Some(IndexSource::Account) => Source::Account,
            _ => Source::LogGroup,
        },
        document: p.policy_document().unwrap_or("{}").to_owned(),
        updated_ms: p.last_update_time(),
    })))
}

/// A log group's ARN (without the `:*` of its streams); `None` when it
/// does not exist.
async fn arn(clients: &super::Clients, log_group: &str) -> Result<Option<String>, AwsError> {
    let page = clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(log_group)
        .send()
        .await
        .map_err(|e| from_sdk("DescribeLogGroups", e))?;
    Ok(page
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(log_group))
        .and_then(|g| {
            g.log_group_arn()
                .map(str::to_owned)
                .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_owned()))
        }))
}

/// Puts the log group's own index policy with the ledger tags: tagged
/// first when setup adds (a policy is never changed without its record),
/// untagged after when teardown takes back (`None`).
pub async fn put(
    clients: &super::Clients,
    log_group: &str,
    document: &str,
    ledger: Option<&Ledger>,
) -> Result<(), AwsError> {
    if ledger.is_some() {
        tag(clients, log_group, ledger).await?;
    }
    clients
        .logs
        .put_index_policy()
        .log_group_identifier(log_group)
        .policy_document(document)
        .send()
        .await
        .map_err(|e| from_sdk("PutIndexPolicy", e))?;
    if ledger.is_none() {
        tag(clients, log_group, None).await?;
    }
    Ok(())
}

/// Deletes the log group's own index policy and the ledger tag.
pub async fn delete(clients: &super::Clients, log_group: &str) -> Result<(), AwsError> {
    clients
        .logs
        .delete_index_policy()
        .log_group_identifier(log_group)
        .send()
        .await
        .map_err(|e| from_sdk("DeleteIndexPolicy", e))?;
    tag(clients, log_group, None).await
}

/// Sets or removes the ledger tag.
pub async fn tag(
    clients: &super::Clients,
    log_group: &str,
    ledger: Option<&Ledger>,
) -> Result<(), AwsError> {
    let Some(arn) = arn(clients, log_group).await? else {
        return Ok(());
    };
    match ledger {
        Some(l) => {
            let mut req = clients.logs.tag_resource().resource_arn(&arn);
            for (k, v) in l.to_tags() {
                req = req.tags(k, v);
            }
            req.send()
                .await
                .map(|_| ())
                .map_err(|e| from_sdk("TagResource", e))
        }
        None => clients
            .logs
            .untag_resource()
            .resource_arn(&arn)
            .set_tag_keys(Some(LEDGER_TAGS.map(str::to_owned).to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("UntagResource", e)),
    }
}
