//! The least-privilege IAM policy each command needs, as data: the actions
//! it calls and what each can be scoped to. Pure: `cmd::iam_policy` prints
//! it; a test runs every AWS command against the emulator, records the
//! operations it calls (`aws::record`) and checks each is in its policy.
//!
//! Resource-level support follows the Service Authorization Reference
//! ("Actions, resources, and condition keys for Amazon CloudWatch Logs",
//! "... for Amazon CloudWatch", "... for Amazon SNS"): an action whose
//! "Resource types" column is empty needs `"*"`. StopQuery takes no ARN
//! (FACTS.md); DescribeQueryDefinitions has no resource type (AWS re:Post,
//! citing the reference); DescribeAlarms is granted on `*` because it lists
//! by name prefix. GetQueryResults is asked by query id, not log group: it
//! is granted on `*` so the policy works whichever way the reference reads
//! today (FACTS.md says it can be scoped to log groups; *unverified*).

use serde_json::{json, Value};

use crate::provision::Target;

/// What an action can be scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// The targets' audit log groups.
    LogGroup,
    /// The alarms setup manages (`secret-audit-<target>-*`).
    Alarm,
    /// The SNS topics `alert` publishes to.
    Topic,
    /// The Lambda function's state table (`secret-audit-*`).
    StateTable,
    /// No resource-level permission: `*`.
    Any,
}

use Scope::*;

/// The commands that call AWS, each with the actions it calls.
pub const COMMANDS: &[(&str, &[(&str, Scope)])] = &[
    (
        "setup",
        &[
            ("logs:DescribeLogStreams", LogGroup),
            ("logs:DescribeMetricFilters", LogGroup),
            ("logs:PutMetricFilter", LogGroup),
            ("logs:DeleteMetricFilter", LogGroup),
            ("logs:TestMetricFilter", Any),
            ("logs:DescribeQueryDefinitions", Any),
            ("logs:PutQueryDefinition", Any),
            ("logs:DeleteQueryDefinition", Any),
            ("cloudwatch:DescribeAlarms", Any),
            ("cloudwatch:ListTagsForResource", Alarm),
            ("cloudwatch:PutMetricAlarm", Alarm),
            ("cloudwatch:TagResource", Alarm),
            ("cloudwatch:DeleteAlarms", Alarm),
            // The field index policy (no resource-level permissions) and
            // the log group tag that says what setup added to it.
            ("logs:DescribeIndexPolicies", Any),
            ("logs:PutIndexPolicy", Any),
            ("logs:DescribeLogGroups", Any),
            ("logs:ListTagsForResource", LogGroup),
            ("logs:TagResource", LogGroup),
            ("logs:UntagResource", LogGroup),
        ],
    ),
    (
        "status",
        &[
            ("logs:DescribeLogStreams", LogGroup),
            ("logs:DescribeMetricFilters", LogGroup),
            ("logs:DescribeSubscriptionFilters", LogGroup),
            ("logs:DescribeQueryDefinitions", Any),
            ("cloudwatch:DescribeAlarms", Any),
            ("cloudwatch:ListTagsForResource", Alarm),
            ("logs:DescribeIndexPolicies", Any),
            ("logs:DescribeLogGroups", Any),
            ("logs:ListTagsForResource", LogGroup),
        ],
    ),
    (
        "teardown",
        &[
            ("logs:DescribeMetricFilters", LogGroup),
            ("logs:DeleteMetricFilter", LogGroup),
            ("logs:DescribeQueryDefinitions", Any),
            ("logs:DeleteQueryDefinition", Any),
            ("cloudwatch:DescribeAlarms", Any),
            ("cloudwatch:ListTagsForResource", Alarm),
            ("cloudwatch:DeleteAlarms", Alarm),
            ("logs:DescribeIndexPolicies", Any),
            ("logs:PutIndexPolicy", Any),
            ("logs:DeleteIndexPolicy", Any),
            ("logs:DescribeLogGroups", Any),
            ("logs:ListTagsForResource", LogGroup),
            ("logs:UntagResource", LogGroup),
        ],
    ),
    (
        "report",
        &[
            ("logs:DescribeLogGroups", Any),
            ("logs:StartQuery", LogGroup),
            ("logs:GetQueryResults", Any),
            ("logs:StopQuery", Any),
            // Whether every log group has the field index (filterIndex),
            // and --estimate's IncomingBytes.
            ("logs:DescribeIndexPolicies", Any),
            ("cloudwatch:GetMetricStatistics", Any),
        ],
    ),
    (
        "tail",
        &[
            ("logs:DescribeLogStreams", LogGroup),
            ("logs:FilterLogEvents", LogGroup),
        ],
    ),
    (
        "alert",
        &[
            ("logs:DescribeLogStreams", LogGroup),
            ("logs:FilterLogEvents", LogGroup),
            ("sns:Publish", Topic),
            // The Lambda function's state and claims.
            ("dynamodb:GetItem", StateTable),
            ("dynamodb:PutItem", StateTable),
            ("dynamodb:UpdateItem", StateTable),
            ("dynamodb:DeleteItem", StateTable),
        ],
    ),
];

/// The actions of one command; `None` for a command that calls no AWS API.
pub fn actions(command: &str) -> Option<&'static [(&'static str, Scope)]> {
    COMMANDS
        .iter()
        .find(|(c, _)| *c == command)
        .map(|(_, a)| *a)
}

/// Where the policy applies: ARN parts, `*` when not given.
#[derive(Debug, Clone)]
pub struct Context {
    pub partition: String,
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub targets: Vec<Target>,
    /// The SNS topics (ARNs) `alert` publishes to; none: any.
    pub topics: Vec<String>,
}

impl Context {
    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition,
            self.region.as_deref().unwrap_or("*"),
            self.account_id.as_deref().unwrap_or("*")
        )
    }

    fn resources(&self, scope: Scope) -> Vec<String> {
        match scope {
            Any => vec!["*".into()],
            LogGroup if self.targets.is_empty() => vec![
                self.arn("logs", "log-group:/aws/eks/*/cluster"),
                self.arn("logs", "log-group:/aws/eks/*/cluster:*"),
            ],
            LogGroup => self
                .targets
                .iter()
                .flat_map(|t| {
                    [
                        self.arn("logs", &format!("log-group:{}", t.log_group)),
                        self.arn("logs", &format!("log-group:{}:*", t.log_group)),
                    ]
                })
                .collect(),
            Alarm if self.targets.is_empty() => {
                vec![self.arn("cloudwatch", "alarm:secret-audit-*")]
            }
            Alarm => self
                .targets
                .iter()
                .map(|t| self.arn("cloudwatch", &format!("alarm:{}*", t.prefix())))
                .collect(),
            StateTable => vec![self.arn("dynamodb", "table/secret-audit-*")],
            Topic if self.topics.is_empty() => vec![self.arn("sns", "*")],
            Topic => self.topics.clone(),
        }
    }
}

/// The policy document for some commands: one statement per scope, actions
/// sorted and without repeats.
pub fn policy(commands: &[&str], ctx: &Context) -> Value {
    let mut by_scope: std::collections::BTreeMap<Scope, Vec<&str>> = Default::default();
    for c in commands {
        for (action, scope) in actions(c).unwrap_or_default() {
            by_scope.entry(*scope).or_default().push(action);
        }
    }
    let statements: Vec<Value> = by_scope
        .into_iter()
        .map(|(scope, mut acts)| {
            acts.sort_unstable();
            acts.dedup();
            let sid = match scope {
                LogGroup => "AuditLogGroups",
                Alarm => "ManagedAlarms",
                Topic => "AlertTopics",
                StateTable => "AlertStateTable",
                Any => "NoResourceLevelPermissions",
            };
            let mut resources = ctx.resources(scope);
            resources.dedup();
            json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": acts,
                "Resource": resources,
            })
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(targets: Vec<Target>) -> Context {
        Context {
            partition: "aws".into(),
            region: Some("eu-west-1".into()),
            account_id: Some("123456789012".into()),
            targets,
            topics: Vec::new(),
        }
    }

    #[test]
    fn alert_publishes_only_to_its_topic() {
        let mut c = ctx(vec![Target::cluster("prod")]);
        let p = policy(&["alert"], &c);
        let topics = statement(&p, "AlertTopics").unwrap();
        assert_eq!(topics["Action"], json!(["sns:Publish"]));
        assert_eq!(
            topics["Resource"],
            json!(["arn:aws:sns:eu-west-1:123456789012:*"])
        );
        c.topics = vec!["arn:aws:sns:eu-west-1:123456789012:secret-alerts".into()];
        let p = policy(&["alert"], &c);
        assert_eq!(
            statement(&p, "AlertTopics").unwrap()["Resource"],
            json!(["arn:aws:sns:eu-west-1:123456789012:secret-alerts"])
        );
    }

    fn statement<'a>(p: &'a Value, sid: &str) -> Option<&'a Value> {
        p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
    }

    #[test]
    fn stop_query_needs_star_and_start_query_is_scoped_to_the_log_group() {
        let p = policy(&["report"], &ctx(vec![Target::cluster("prod")]));
        let any = statement(&p, "NoResourceLevelPermissions").unwrap();
        assert!(any["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("logs:StopQuery")));
        assert_eq!(any["Resource"], json!(["*"]));
        let lg = statement(&p, "AuditLogGroups").unwrap();
        assert_eq!(lg["Action"], json!(["logs:StartQuery"]));
        assert_eq!(
            lg["Resource"],
            json!([
                "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/eks/prod/cluster",
                "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/eks/prod/cluster:*"
            ])
        );
        assert!(statement(&p, "ManagedAlarms").is_none());
    }

    #[test]
    fn the_field_index_policy_is_on_star_and_its_tag_on_the_log_group() {
        let has = |sid: &str, command: &str, action: &str| {
            let p = policy(&[command], &ctx(vec![Target::cluster("prod")]));
            statement(&p, sid)
                .is_some_and(|s| s["Action"].as_array().unwrap().contains(&json!(action)))
        };
        for (command, action) in [
            ("setup", "logs:PutIndexPolicy"),
            ("setup", "logs:DescribeIndexPolicies"),
            ("teardown", "logs:DeleteIndexPolicy"),
            ("status", "logs:DescribeIndexPolicies"),
            ("report", "logs:DescribeIndexPolicies"),
            ("report", "cloudwatch:GetMetricStatistics"),
        ] {
            assert!(
                has("NoResourceLevelPermissions", command, action),
                "{command} {action}"
            );
        }
        assert!(has("AuditLogGroups", "setup", "logs:TagResource"));
        assert!(has("AuditLogGroups", "teardown", "logs:UntagResource"));
    }

    #[test]
    fn alarm_actions_are_scoped_to_the_managed_alarm_prefix() {
        let p = policy(&["setup"], &ctx(vec![Target::cluster("prod")]));
        let alarms = statement(&p, "ManagedAlarms").unwrap();
        assert_eq!(
            alarms["Resource"],
            json!(["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:secret-audit-prod-*"])
        );
        assert!(alarms["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("cloudwatch:PutMetricAlarm")));
    }

    #[test]
    fn status_is_read_only() {
        for (a, _) in actions("status").unwrap() {
            let op = a.split(':').nth(1).unwrap();
            assert!(op.starts_with("Describe") || op.starts_with("List"), "{a}");
        }
    }

    #[test]
    fn every_action_appears_once_per_policy() {
        let all: Vec<&str> = COMMANDS.iter().map(|(c, _)| *c).collect();
        let p = policy(&all, &ctx(vec![]));
        let mut seen = Vec::new();
        for s in p["Statement"].as_array().unwrap() {
            for a in s["Action"].as_array().unwrap() {
                assert!(!seen.contains(a), "{a} twice");
                seen.push(a.clone());
            }
        }
    }
}
