//! `alert --emit cloudformation`: the alerting stack, which owns every
//! resource in it. The function (provided.al2023, the `bootstrap` of
//! `scripts/package-lambda`) twice from one zip: the scheduled path, with a
//! reserved concurrency of 1, invoked by an EventBridge schedule passing its
//! scheduled time; and, behind a parameter, the subscription path, invoked
//! by a subscription filter on each audit log group (a pattern that is a
//! superset of the classifier's secret events). Their least-privilege role
//! is `iam-policy --command alert`'s; the SNS topic (or an existing one),
//! the state table, an on-failure destination, and alarms on function
//! errors and on windows that read no events (audit logging off). Pure: no
//! AWS call.

use serde_json::{json, Map, Value};

use crate::iam::{self, Scope};
use crate::provision::Target;
use crate::rules::Rule;

/// The rules whose thresholds are stack parameters: (rule, parameter).
const THRESHOLDS: [(&str, &str); 3] = [
    ("bulk-secret-reads", "BulkReadsThreshold"),
    ("denied-burst", "DeniedBurstThreshold"),
    ("anonymous-probing", "AnonymousProbingThreshold"),
];

fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// The ARNs an `alert` action is granted on, as template expressions.
fn resources(scope: Scope, targets: &[Target]) -> Vec<Value> {
    match scope {
        Scope::LogGroup => targets
            .iter()
            .flat_map(|t| {
                [
                    sub(&format!("arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{}", t.log_group)),
                    sub(&format!("arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{}:*", t.log_group)),
                ]
            })
            .collect(),
        Scope::Topic => vec![json!({ "Fn::If": ["CreateTopic", {"Ref": "Topic"}, {"Ref": "ExistingTopicArn"}] })],
        Scope::StateTable => vec![json!({ "Fn::GetAtt": ["StateTable", "Arn"] })],
        Scope::Alarm | Scope::Any => vec![json!("*")],
    }
}

/// The function's policy: `iam-policy --command alert`, one statement an
/// action, scoped to this stack's resources; and its on-failure queue.
fn policy(targets: &[Target]) -> Value {
    let mut statements: Vec<Value> = iam::actions("alert")
        .unwrap_or_default()
        .iter()
        .map(|(action, scope)| {
            json!({"Effect": "Allow", "Action": action, "Resource": resources(*scope, targets)})
        })
        .collect();
    statements.push(json!({
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": {"Fn::GetAtt": ["FailureQueue", "Arn"]},
    }));
    json!({"PolicyName": "secret-audit-alert", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}})
}

/// `prod-eu` -> `ProdEu`.
fn camel(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase())
                .into_iter()
                .chain(c)
                .collect::<String>()
        })
        .collect()
}

fn function(targets: &[Target], path: &str, rules_toml: &str) -> Value {
    let clusters: Vec<&str> = targets
        .iter()
        .filter_map(|t| t.cluster.as_deref())
        .collect();
    let groups: Vec<&str> = targets
        .iter()
        .filter(|t| t.cluster.is_none())
        .map(|t| t.log_group.as_str())
        .collect();
    let thresholds: Vec<String> = THRESHOLDS
        .iter()
        .map(|(rule, param)| format!("{rule}=${{{param}}}"))
        .collect();
    let mut f = json!({
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Description": format!("secret-audit alert, {path} path"),
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Architectures": [{"Ref": "Architecture"}],
            "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}},
            "MemorySize": 128,
            "Timeout": if path == "scheduled" { 900 } else { 60 },
            "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
            "LoggingConfig": {"LogFormat": "JSON"},
            "Environment": {"Variables": {
                "SECRET_AUDIT_CLUSTER": clusters.join(","),
                "SECRET_AUDIT_LOG_GROUP_NAME": groups.join(","),
                "SECRET_AUDIT_STATE_TABLE": {"Ref": "StateTable"},
                "SECRET_AUDIT_SNS_TOPIC_ARN": {"Fn::If": ["CreateTopic", {"Ref": "Topic"}, {"Ref": "ExistingTopicArn"}]},
                "SECRET_AUDIT_EVERY": sub("${EveryMinutes}m"),
                "SECRET_AUDIT_SETTLE": {"Ref": "Settle"},
                "SECRET_AUDIT_MAX_LAG": {"Ref": "MaxLag"},
                // A run catches up at most an hour: well inside its timeout.
                "SECRET_AUDIT_MAX_CATCH_UP": "1h",
                "SECRET_AUDIT_RULES_TOML": rules_toml,
                "SECRET_AUDIT_THRESHOLDS": sub(&thresholds.join(",")),
            }},
        },
    });
    if path == "scheduled" {
        // One scheduled run at a time: a second would only meet the claims.
        f["Properties"]["ReservedConcurrentExecutions"] = json!(1);
    } else {
        f["Condition"] = json!("Subscribe");
    }
    f
}

fn alarm(
    description: &str,
    metric: Value,
    comparison: &str,
    threshold: u32,
    period: u32,
    missing: &str,
) -> Value {
    let mut props = json!({
        "AlarmDescription": description,
        "ComparisonOperator": comparison,
        "Threshold": threshold,
        "EvaluationPeriods": 1,
        "Period": period,
        "Statistic": "Sum",
        "TreatMissingData": missing,
        "AlarmActions": [{"Fn::If": ["CreateTopic", {"Ref": "Topic"}, {"Ref": "ExistingTopicArn"}]}],
    });
    for (k, v) in metric.as_object().expect("a metric is an object") {
        props[k] = v.clone();
    }
    json!({"Type": "AWS::CloudWatch::Alarm", "Properties": props})
}

/// What `alert` passes on to the stack.
pub struct StackSettings<'a> {
    /// Whole minutes dividing an hour ([`EVERY_MINUTES`]).
    pub every_minutes: u64,
    pub settle: &'a str,
    pub max_lag: &'a str,
    pub topic: Option<&'a str>,
    /// The text of `--rules FILE`, passed to the function whole.
    pub rules_toml: &'a str,
}

/// The schedules a cron expression keeps aligned with `--every`: whole
/// minutes that divide an hour.
pub const EVERY_MINUTES: [u64; 11] = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];

/// The stack for `targets`, its threshold parameters' defaults from
/// `rules`.
///
/// Long: the template is one document, read (and reviewed) in one place.
pub fn template(targets: &[Target], rules: &[Rule], settings: &StackSettings) -> Value {
    let (every_minutes, topic) = (settings.every_minutes, settings.topic);
    let threshold = |name: &str| {
        rules
            .iter()
            .find(|r| r.name == name)
            .map_or(1, |r| r.threshold)
    };
    let mut parameters = json!({
        "CodeBucket": {"Type": "String", "Description": "The S3 bucket holding the function's zip (scripts/package-lambda)"},
        "CodeKey": {"Type": "String", "Default": "secret-audit-lambda.zip", "Description": "The zip's key in CodeBucket"},
        "Architecture": {"Type": "String", "Default": "x86_64", "AllowedValues": ["x86_64", "arm64"], "Description": "What the zip was built for"},
        "EveryMinutes": {"Type": "Number", "Default": every_minutes.to_string(), "AllowedValues": EVERY_MINUTES.map(|m| m.to_string()), "Description": "How often the scheduled path runs, in minutes (dividing an hour, so runs stay on their boundaries)"},
        "Settle": {"Type": "String", "Default": settings.settle, "Description": "How long an interval is left for CloudWatch to ingest before a run reads it"},
        "MaxLag": {"Type": "String", "Default": settings.max_lag, "Description": "The ingestion delay covered"},
        "ExistingTopicArn": {"Type": "String", "Default": topic.unwrap_or(""), "Description": "An SNS topic to publish to; empty: the stack makes one"},
        "Subscribe": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"], "Description": "Also evaluate the rules that need no window within seconds, from a subscription filter on each audit log group (a log group allows two)"},
    });
    for (rule, param) in THRESHOLDS {
        parameters[param] = json!({"Type": "Number", "Default": threshold(rule), "MinValue": 1, "Description": format!("{rule}: the threshold")});
    }
    let mut resources = Map::new();
    resources.insert(
        "StateTable".into(),
        json!({
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": true},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true},
            },
        }),
    );
    resources.insert("Topic".into(), json!({"Type": "AWS::SNS::Topic", "Condition": "CreateTopic", "Properties": {"DisplayName": "secret-audit findings"}}));
    resources.insert("FailureQueue".into(), json!({"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1_209_600, "SqsManagedSseEnabled": true}}));
    resources.insert("FunctionRole".into(), json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")],
            "Policies": [policy(targets)],
        },
    }));
    resources.insert(
        "ScheduledFunction".into(),
        function(targets, "scheduled", settings.rules_toml),
    );
    resources.insert("ScheduledFailures".into(), json!({
        "Type": "AWS::Lambda::EventInvokeConfig",
        "Properties": {
            "FunctionName": {"Ref": "ScheduledFunction"},
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}},
        },
    }));
    resources.insert("SchedulerRole".into(), json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "invoke", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": ["ScheduledFunction", "Arn"]}}]}}],
        },
    }));
    resources.insert(
        "Schedule".into(),
        json!({
            "Type": "AWS::Scheduler::Schedule",
            "Properties": {
                "Description": "secret-audit alert: one run every EveryMinutes, on the minute",
                "ScheduleExpression": sub("cron(0/${EveryMinutes} * * * ? *)"),
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "Target": {
                    "Arn": {"Fn::GetAtt": ["ScheduledFunction", "Arn"]},
                    "RoleArn": {"Fn::GetAtt": ["SchedulerRole", "Arn"]},
                    "Input": "{\"scheduled_time\": \"<aws.scheduler.scheduled-time>\"}",
                    "RetryPolicy": {"MaximumRetryAttempts": 3},
                },
            },
        }),
    );
    resources.insert("ErrorsAlarm".into(), alarm(
        "secret-audit: the scheduled function failed (findings may be waiting: the next run sends them)",
        json!({"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "ScheduledFunction"}}]}),
        "GreaterThanOrEqualToThreshold", 1, 300, "notBreaching",
    ));
    resources.insert("NoEventsAlarm".into(), alarm(
        "secret-audit: an hour of scheduled runs read no audit events: is the cluster's audit log still on?",
        json!({"Namespace": "SecretAudit", "MetricName": "EventsRead", "Dimensions": [{"Name": "Path", "Value": "scheduled"}]}),
        "LessThanThreshold", 1, 3600, "breaching",
    ));
    resources.insert(
        "SubscriptionFunction".into(),
        function(targets, "subscription", settings.rules_toml),
    );
    let mut failures = resources["ScheduledFailures"].clone();
    failures["Condition"] = json!("Subscribe");
    failures["Properties"]["FunctionName"] = json!({"Ref": "SubscriptionFunction"});
    resources.insert("SubscriptionFailures".into(), failures);
    let mut errors = alarm(
        "secret-audit: the subscription function failed",
        json!({"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "SubscriptionFunction"}}]}),
        "GreaterThanOrEqualToThreshold",
        1,
        300,
        "notBreaching",
    );
    errors["Condition"] = json!("Subscribe");
    resources.insert("SubscriptionErrorsAlarm".into(), errors);
    for t in targets {
        let id = camel(&t.name);
        resources.insert(format!("{id}InvokePermission"), json!({
            "Type": "AWS::Lambda::Permission",
            "Condition": "Subscribe",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Ref": "SubscriptionFunction"},
                "Principal": "logs.amazonaws.com",
                "SourceAccount": {"Ref": "AWS::AccountId"},
                "SourceArn": sub(&format!("arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{}:*", t.log_group)),
            },
        }));
        resources.insert(
            format!("{id}SubscriptionFilter"),
            json!({
                "Type": "AWS::Logs::SubscriptionFilter",
                "Condition": "Subscribe",
                "DependsOn": format!("{id}InvokePermission"),
                "Properties": {
                    "FilterName": format!("{}secrets", t.prefix()),
                    "LogGroupName": t.log_group,
                    "FilterPattern": crate::tail::SERVER_FILTER,
                    "DestinationArn": {"Fn::GetAtt": ["SubscriptionFunction", "Arn"]},
                },
            }),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "secret-audit alerting: the detection rules on a schedule (and, with Subscribe, within seconds), findings to SNS",
        "Parameters": parameters,
        "Conditions": {
            "CreateTopic": {"Fn::Equals": [{"Ref": "ExistingTopicArn"}, ""]},
            "Subscribe": {"Fn::Equals": [{"Ref": "Subscribe"}, "true"]},
        },
        "Resources": resources,
        "Outputs": {
            "ScheduledFunctionArn": {"Value": {"Fn::GetAtt": ["ScheduledFunction", "Arn"]}},
            "TopicArn": {"Value": {"Fn::If": ["CreateTopic", {"Ref": "Topic"}, {"Ref": "ExistingTopicArn"}]}},
            "StateTableName": {"Value": {"Ref": "StateTable"}},
            "FailureQueueUrl": {"Value": {"Ref": "FailureQueue"}},
        },
    })
}
