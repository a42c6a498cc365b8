//! Amazon DynamoDB, for the Lambda function (feature `lambda`): its state
//! (one item, replaced only over the version it was read at) and the claims
//! of findings (one item an episode, written on a condition before its
//! finding is published, so no invocation and no second path publishes it
//! again).

use aws_sdk_dynamodb::types::AttributeValue;

use super::error::{from_sdk, AwsError};

const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The item `pk`'s `body` and `version`; `None` when it does not exist.
pub async fn get_state(
    clients: &super::Clients,
    table: &str,
    pk: &str,
) -> Result<Option<(String, i64)>, AwsError> {
    let out = clients
        .dynamodb
        .get_item()
        .table_name(table)
        .key("pk", s(pk))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| from_sdk("GetItem", e))?;
    let Some(item) = out.item else {
        return Ok(None);
    };
    let body = item
        .get("body")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Some((body, version)))
}

/// Writes the item `pk` at `version + 1` if it is still at `version` (or
/// absent, for 0); false when another writer got there first.
pub async fn put_state(
    clients: &super::Clients,
    table: &str,
    pk: &str,
    body: &str,
    version: i64,
) -> Result<bool, AwsError> {
    let result = clients
        .dynamodb
        .put_item()
        .table_name(table)
        .item("pk", s(pk))
        .item("body", s(body))
        .item("version", n(version + 1))
        .condition_expression("attribute_not_exists(pk) OR version = :v")
        .expression_attribute_values(":v", n(version))
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = from_sdk("PutItem", e);
            if e.code.as_deref() == Some(CONDITION_FAILED) {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// Claims the episode `pk` for a finding spanning `first..=last` (ms), for
/// the claimant `by` (one invocation): true when no claim of it overlaps
/// `cutoff..=upper` (a new episode: the item now says this finding's key),
/// or when the claim there is `by`'s own for this key (a retried call whose
/// first try went through); otherwise
/// the claim found is extended to `last` and false comes back. `expires`
/// (epoch seconds) is the item's time to live.
#[allow(clippy::too_many_arguments)]
pub async fn claim(
    clients: &super::Clients,
    table: &str,
    pk: &str,
    (first, last): (i64, i64),
    (cutoff, upper): (i64, i64),
    (dedup_key, by): (&str, &str),
    expires: i64,
) -> Result<bool, AwsError> {
    let result = clients
        .dynamodb
        .update_item()
        .table_name(table)
        .key("pk", s(pk))
        .update_expression(
            "SET first_ms = :f, last_ms = :l, dedup_key = :k, claimed_by = :b, expires_at = :x",
        )
        .condition_expression(
            "attribute_not_exists(pk) OR last_ms < :c OR first_ms > :u OR (dedup_key = :k AND claimed_by = :b)",
        )
        .expression_attribute_values(":b", s(by))
        .expression_attribute_values(":f", n(first))
        .expression_attribute_values(":l", n(last))
        .expression_attribute_values(":k", s(dedup_key))
        .expression_attribute_values(":x", n(expires))
        .expression_attribute_values(":c", n(cutoff))
        .expression_attribute_values(":u", n(upper))
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = from_sdk("UpdateItem", e);
            if e.code.as_deref() != Some(CONDITION_FAILED) {
                return Err(e);
            }
            // Claimed already: it goes on until this finding's last request.
            let grown = clients
                .dynamodb
                .update_item()
                .table_name(table)
                .key("pk", s(pk))
                .update_expression("SET last_ms = :l, expires_at = :x")
                .condition_expression("last_ms < :l")
                .expression_attribute_values(":l", n(last))
                .expression_attribute_values(":x", n(expires))
                .send()
                .await;
            match grown {
                Ok(_) => Ok(false),
                Err(e) => {
                    let e = from_sdk("UpdateItem", e);
                    if e.code.as_deref() == Some(CONDITION_FAILED) {
                        Ok(false)
                    } else {
                        Err(e)
                    }
                }
            }
        }
    }
}

/// Gives the claim `pk` back (its publish failed) if it still holds
/// `dedup_key`.
pub async fn release(
    clients: &super::Clients,
    table: &str,
    pk: &str,
    dedup_key: &str,
) -> Result<(), AwsError> {
    let result = clients
        .dynamodb
        .delete_item()
        .table_name(table)
        .key("pk", s(pk))
        .condition_expression("dedup_key = :k")
        .expression_attribute_values(":k", s(dedup_key))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = from_sdk("DeleteItem", e);
            if e.code.as_deref() == Some(CONDITION_FAILED) {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}
