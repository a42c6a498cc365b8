//! The Lambda function's handler, driven in-process against the local AWS
//! emulator (which invokes functions only through Docker): events put into
//! a log group, scheduled invocations and subscription batches, findings
//! read back from an SQS queue subscribed to the topic, the state and the
//! claims read back from the table. A duplicated invocation, a repeated
//! batch and a finding both paths see are each published once.
#![cfg(feature = "lambda")]

mod common;

use std::io::Write;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use secret_audit::lambda::{handle, Function};
use serde_json::{json, Value};

const GROUP: &str = "/aws/eks/prod/cluster";
const STREAM: &str = "kube-apiserver-audit-7a1c";
const TABLE: &str = "secret-audit-state";

fn dynamodb(emu: &common::Emu) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .endpoint_url(emu.url())
            .region(aws_sdk_dynamodb::config::Region::new(common::REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .build(),
    )
}

fn rules_of(notes: &[Value]) -> Vec<String> {
    let mut r: Vec<String> = notes
        .iter()
        .map(|n| {
            n["MessageAttributes"]["rule"]["Value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    r.sort();
    r
}

fn audit_event(id: u32, user: &str, ns: Option<&str>, verb: &str, ua: &str, at_ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let obj = match ns {
        Some(ns) => {
            format!(r#"{{"resource":"secrets","namespace":"{ns}","name":"db","apiVersion":"v1"}}"#)
        }
        None => r#"{"resource":"secrets","apiVersion":"v1"}"#.to_owned(),
    };
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"9b2d7e10-0000-4000-8000-{id:012}","stage":"ResponseComplete","requestURI":"/api/v1/secrets","verb":"{verb}","user":{{"username":"{user}","groups":["system:authenticated"]}},"sourceIPs":["203.0.113.60"],"userAgent":"{ua}","objectRef":{obj},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"{t}","stageTimestamp":"{t}"}}"#
    )
}

/// A subscription payload holding `messages` (timestamp ms, event).
fn subscription(messages: &[(i64, &str)]) -> Value {
    let data = json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": GROUP,
        "logStream": STREAM,
        "subscriptionFilters": ["secret-audit-prod"],
        "logEvents": messages.iter().enumerate().map(|(i, (ts, m))| json!({"id": format!("3700000000000000000000000000000000000000000000000{i:07}"), "timestamp": ts, "message": m})).collect::<Vec<_>>(),
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data.to_string().as_bytes()).unwrap();
    use base64::Engine;
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())}})
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn past_the_second_of(ms: i64) {
    let wait = (ms / 1000 + 1) * 1000 + 50 - now_ms();
    if wait > 0 {
        std::thread::sleep(std::time::Duration::from_millis(wait as u64));
    }
}

fn scheduled_at(ms: i64) -> Value {
    json!({"scheduled_time": chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339()})
}

#[test]
fn each_finding_is_published_once_by_schedule_and_subscription_together() {
    // The function's credentials come from its environment, as in Lambda.
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ] {
        std::env::set_var(k, v);
    }
    std::env::remove_var("AWS_PROFILE");
    let calls = tempfile::NamedTempFile::new().unwrap();
    std::env::set_var("SECRET_AUDIT_RECORD_CALLS", calls.path());
    let emu = common::Emu::start();
    let topic = emu.topic_with_queue("alerts");
    let ddb = dynamodb(&emu);
    emu.block_on(async {
        ddb.create_table()
            .table_name(TABLE)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
    });
    emu.group_with_events(GROUP, STREAM, std::iter::empty());
    let vars = [
        ("SECRET_AUDIT_CLUSTER", "prod".to_owned()),
        ("SECRET_AUDIT_STATE_TABLE", TABLE.to_owned()),
        ("SECRET_AUDIT_SNS_TOPIC_ARN", topic.clone()),
        ("SECRET_AUDIT_EVERY", "1s".to_owned()),
        ("SECRET_AUDIT_SETTLE", "0s".to_owned()),
    ];
    let function =
        Function::from_env(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    let clients = emu.block_on(secret_audit::aws::connect(&secret_audit::aws::Settings {
        endpoint_url: Some(emu.url()),
        region: Some(common::REGION.into()),
        ..Default::default()
    }));
    let clients = clients.expect("credentials from the test's environment");
    let invoke = |payload: Value| {
        emu.block_on(handle(&clients, &function, payload, now_ms()))
            .unwrap()
    };

    // The first scheduled invocation starts the schedule.
    invoke(scheduled_at(now_ms()));
    // A read by curl, put into the log group: the next invocation owns it.
    let t = now_ms();
    let curl = audit_event(
        1,
        "system:serviceaccount:payments:billing",
        Some("payments"),
        "get",
        "curl/8.5.0",
        t - 2_000,
    );
    emu.put_events(GROUP, STREAM, [(t - 2_000, curl.as_str())].into_iter());
    past_the_second_of(now_ms());
    let at = now_ms();
    let state_key = AttributeValue::S("state#/aws/eks/prod/cluster".into());
    let before = emu.block_on(async {
        ddb.get_item()
            .table_name(TABLE)
            .key("pk", state_key.clone())
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    });
    let (summary, metrics) = invoke(scheduled_at(at));
    assert_eq!(summary["published"], 1, "{summary}");
    assert!(metrics
        .iter()
        .any(|m| m.contains("\"Rule\":\"scripting-client\"")));
    assert_eq!(rules_of(&emu.read_queue("alerts")), ["scripting-client"]);
    // The same run again as if its state had never been saved (a retry
    // after a lost save): the claims alone keep it from publishing again.
    let after = emu.block_on(async {
        let item = ddb
            .get_item()
            .table_name(TABLE)
            .key("pk", state_key.clone())
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        ddb.put_item()
            .table_name(TABLE)
            .set_item(Some(before))
            .send()
            .await
            .unwrap();
        item
    });
    let (retried, _) = invoke(scheduled_at(at));
    assert_eq!(
        retried["findings"].as_array().unwrap().len(),
        1,
        "{retried}"
    );
    assert!(
        emu.read_queue("alerts").is_empty(),
        "claimed by the first delivery"
    );
    emu.block_on(async {
        ddb.put_item()
            .table_name(TABLE)
            .set_item(Some(after))
            .send()
            .await
            .unwrap();
    });
    // A duplicated delivery of the same schedule publishes nothing.
    let (again, _) = invoke(scheduled_at(at));
    assert_eq!(
        again["published"],
        Value::Null,
        "nothing left to own: {again}"
    );
    assert!(emu.read_queue("alerts").is_empty());
    // The state and the claim, read back from the table.
    let item = |pk: &str| {
        emu.block_on(async {
            ddb.get_item()
                .table_name(TABLE)
                .key("pk", AttributeValue::S(pk.into()))
                .send()
                .await
                .unwrap()
                .item
        })
    };
    let state = item("state#/aws/eks/prod/cluster").expect("the state item");
    let body: Value = serde_json::from_str(state["body"].as_s().unwrap()).unwrap();
    assert!(body["high_water_ms"].as_i64().unwrap() >= at - 1_000);
    assert!(item("episode#prod#scripting-client#system:serviceaccount:payments:billing").is_some());

    // A subscription batch with the same read (claimed: not again) and a
    // cluster-wide list (new: published); the batch repeated: nothing.
    let t = now_ms();
    let list = audit_event(
        2,
        "arn:aws:sts::123456789012:assumed-role/Developer/dave",
        None,
        "list",
        "kubectl/v1.29.3",
        t,
    );
    let batch = subscription(&[(t - 2_000, curl.as_str()), (t, list.as_str())]);
    let (sub, _) = invoke(batch.clone());
    assert_eq!(sub["findings"].as_array().unwrap().len(), 2);
    assert_eq!(
        rules_of(&emu.read_queue("alerts")),
        ["cluster-wide-secret-list"]
    );
    invoke(batch);
    assert!(emu.read_queue("alerts").is_empty(), "a repeated batch");
    // The list reaches the log group too: the schedule meets its claim.
    emu.put_events(GROUP, STREAM, [(t, list.as_str())].into_iter());
    past_the_second_of(now_ms());
    let (later, _) = invoke(scheduled_at(now_ms()));
    assert_eq!(later["findings"].as_array().unwrap().len(), 1, "{later}");
    assert!(
        emu.read_queue("alerts").is_empty(),
        "claimed by the subscription path"
    );
}
