//! Amazon SNS: `alert --sns-topic-arn` publishes each new finding.

use super::error::{from_sdk, AwsError};

/// One message to publish (`output::findings` writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    /// String message attributes, for subscription filter policies.
    pub attributes: Vec<(&'static str, String)>,
    /// On a FIFO topic: the deduplication id and the message group.
    pub fifo: Option<(String, String)>,
}

/// Publishes `m` to the topic.
pub async fn publish(
    clients: &super::Clients,
    topic_arn: &str,
    m: &Message,
) -> Result<(), AwsError> {
    let mut call = clients
        .sns
        .publish()
        .topic_arn(topic_arn)
        .subject(&m.subject)
        .message(&m.body);
    for (name, value) in &m.attributes {
        let attr = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .expect("data type is set");
        call = call.message_attributes(*name, attr);
    }
    if let Some((dedup, group)) = &m.fifo {
        call = call.message_deduplication_id(dedup).message_group_id(group);
    }
    call.send().await.map_err(|e| from_sdk("Publish", e))?;
    Ok(())
}
