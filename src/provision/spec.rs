//! The desired state: metric filters, alarms and saved Logs Insights queries
//! for one target (an EKS cluster's audit log group), built from settings.
//!
//! Patterns follow FACTS.md: the audit field holds the plural `secrets`;
//! a metric filter counts log events and cannot dedupe, so reads and writes
//! require stage ResponseComplete, where a completed request is one event.

use std::collections::BTreeMap;

use super::MANAGED_BY;

/// Successful secret reads: get, list (every secret of a namespace or the
/// cluster at once) and watch, answered below 400.
pub const READS_PATTERN: &str = r#"{ ($.objectRef.resource = "secrets") && ($.stage = "ResponseComplete") && (($.verb = "get") || ($.verb = "list") || ($.verb = "watch")) && ($.responseStatus.code < 400) }"#;

/// Denied secret access: 401 (not authenticated) or 403 (RBAC denial).
/// No stage clause, on purpose: each denied request is logged once with its
/// code (a 403 at ResponseComplete; a failed authentication at
/// ResponseStarted only, which a ResponseComplete clause would never count),
/// and RequestReceived carries no code.
pub const DENIED_PATTERN: &str = r#"{ ($.objectRef.resource = "secrets") && (($.responseStatus.code = 401) || ($.responseStatus.code = 403)) }"#;

/// Successful secret writes: create, update, patch, delete, deletecollection
/// answered below 400 (denied writes count as denied access).
pub const WRITES_PATTERN: &str = r#"{ ($.objectRef.resource = "secrets") && ($.stage = "ResponseComplete") && (($.verb = "create") || ($.verb = "update") || ($.verb = "patch") || ($.verb = "delete") || ($.verb = "deletecollection")) && ($.responseStatus.code < 400) }"#;

/// The namespace dimension of `--by-namespace`. Never the secret name or the
/// user: CloudWatch may disable a filter that makes 1,000 distinct dimension
/// values in an hour (FACTS.md).
pub const NAMESPACE_DIMENSION: (&str, &str) = ("namespace", "$.objectRef.namespace");

/// The saved Logs Insights queries this tool ships: every bundled query
/// (`queries/*.insights`), saved without its header comment lines.
pub fn queries() -> Vec<(String, String)> {
    crate::insights::bundled()
        .into_iter()
        .map(|q| (q.name, q.body))
        .collect()
}

/// One audit log group and the name its resources carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Short name: the cluster name, or one derived from the log group name.
    pub name: String,
    pub log_group: String,
    /// The EKS cluster, when the log group is an EKS control-plane group.
    pub cluster: Option<String>,
}

impl Target {
    pub fn cluster(name: &str) -> Target {
        Target {
            name: name.to_owned(),
            log_group: format!("/aws/eks/{name}/cluster"),
            cluster: Some(name.to_owned()),
        }
    }

    /// A target from a log group name; `/aws/eks/NAME/cluster` is cluster NAME.
    pub fn log_group(group: &str) -> Target {
        if let Some(name) = group
            .strip_prefix("/aws/eks/")
            .and_then(|r| r.strip_suffix("/cluster"))
        {
            if !name.is_empty() && !name.contains('/') {
                return Target::cluster(name);
            }
        }
        let mut name: String = group
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        name = name.trim_matches('-').to_owned();
        while name.contains("--") {
            name = name.replace("--", "-");
        }
        if name.is_empty() {
            name = "log-group".to_owned();
        }
        Target {
            name,
            log_group: group.to_owned(),
            cluster: None,
        }
    }

    /// Prefix of every metric filter and alarm name of this target.
    pub fn prefix(&self) -> String {
        format!("secret-audit-{}-", self.name)
    }

    /// Prefix of the saved query names (the console shows `/` as folders).
    pub fn query_prefix(&self) -> String {
        format!("secret-audit/{}/", self.name)
    }

    /// The metric namespace of this target under the configured root.
    pub fn metric_namespace(&self, root: &str) -> String {
        format!("{root}/{}", self.name)
    }

    /// The command that turns the cluster's audit log on.
    pub fn enable_audit_command(&self) -> String {
        format!(
            "aws eks update-cluster-config --name {} --logging '{{\"clusterLogging\":[{{\"types\":[\"audit\"],\"enabled\":true}}]}}'",
            self.cluster.as_deref().unwrap_or("CLUSTER")
        )
    }

    /// Tags every managed alarm carries.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("managed-by".to_owned(), MANAGED_BY.to_owned()),
            ("cluster".to_owned(), self.name.clone()),
        ])
    }
}

/// The tunables of setup and status (flags in `cmd::setup`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub metric_namespace: String,
    pub reads_metric: String,
    pub denied_metric: String,
    pub writes_metric: String,
    pub by_namespace: bool,
    pub reads_threshold: f64,
    pub denied_threshold: f64,
    pub writes_threshold: f64,
    /// Seconds; a multiple of 60.
    pub period: i32,
    pub evaluation_periods: i32,
    pub sns_topic_arns: Vec<String>,
    /// Keep the bundled queries' `=`/`IN` fields in the log group's field
    /// index policy.
    pub field_index: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            metric_namespace: "SecretAudit".into(),
            reads_metric: "SecretReads".into(),
            denied_metric: "SecretAccessDenied".into(),
            writes_metric: "SecretWrites".into(),
            by_namespace: false,
            reads_threshold: 1000.0,
            denied_threshold: 5.0,
            writes_threshold: 50.0,
            period: 300,
            evaluation_periods: 1,
            sns_topic_arns: Vec::new(),
            field_index: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricFilterSpec {
    pub name: String,
    pub log_group: String,
    pub pattern: String,
    pub metric_namespace: String,
    pub metric_name: String,
    pub metric_value: String,
    /// Only without dimensions (the API rejects both together).
    pub default_value: Option<f64>,
    pub dimensions: BTreeMap<String, String>,
    pub unit: Option<String>,
}

/// What an alarm watches: one metric, or (with `--by-namespace`) a Metrics
/// Insights query that sums the metric over every namespace.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmMetric {
    Metric {
        namespace: String,
        name: String,
        statistic: String,
    },
    Query {
        expression: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    pub name: String,
    pub description: String,
    pub metric: AlarmMetric,
    pub period: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    pub threshold: f64,
    pub comparison: String,
    pub treat_missing_data: String,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QuerySpec {
    pub name: String,
    pub query_string: String,
    pub log_groups: Vec<String>,
}

/// Everything setup makes for one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub filters: Vec<MetricFilterSpec>,
    pub alarms: Vec<AlarmSpec>,
    pub queries: Vec<QuerySpec>,
    /// The log group and the fields its index policy must hold (none with
    /// `--no-field-index`).
    pub index: Option<(String, Vec<String>)>,
}

struct Signal<'a> {
    suffix: &'static str,
    pattern: &'static str,
    metric: &'a str,
    threshold: f64,
    what: &'static str,
}

pub fn desired(target: &Target, s: &Settings) -> Desired {
    let signals = [
        Signal {
            suffix: "secret-reads",
            pattern: READS_PATTERN,
            metric: &s.reads_metric,
            threshold: s.reads_threshold,
            what: "successful secret reads (get/list/watch)",
        },
        Signal {
            suffix: "secret-denied",
            pattern: DENIED_PATTERN,
            metric: &s.denied_metric,
            threshold: s.denied_threshold,
            what: "denied secret requests (401/403)",
        },
        Signal {
            suffix: "secret-writes",
            pattern: WRITES_PATTERN,
            metric: &s.writes_metric,
            threshold: s.writes_threshold,
            what: "successful secret writes (create/update/patch/delete)",
        },
    ];
    let namespace = target.metric_namespace(&s.metric_namespace);
    let mut actions = s.sns_topic_arns.clone();
    actions.sort();
    actions.dedup();
    let filters = signals
        .iter()
        .map(|sig| metric_filter(target, s, sig, &namespace))
        .collect();
    let alarms = signals
        .iter()
        .map(|sig| alarm(target, s, sig, &namespace, &actions))
        .collect();
    let queries = queries()
        .into_iter()
        .map(|(name, text)| QuerySpec {
            name: format!("{}{name}", target.query_prefix()),
            query_string: text.trim_end().to_owned(),
            log_groups: vec![target.log_group.clone()],
        })
        .collect();
    Desired {
        filters,
        alarms,
        queries,
        index: s
            .field_index
            .then(|| (target.log_group.clone(), super::index::wanted())),
    }
}

/// The metric filter of one signal.
fn metric_filter(target: &Target, s: &Settings, sig: &Signal, namespace: &str) -> MetricFilterSpec {
    let (dimensions, default_value) = if s.by_namespace {
        (
            BTreeMap::from([(
                NAMESPACE_DIMENSION.0.to_owned(),
                NAMESPACE_DIMENSION.1.to_owned(),
            )]),
            None,
        )
    } else {
        (BTreeMap::new(), Some(0.0))
    };
    MetricFilterSpec {
        name: format!("{}{}", target.prefix(), sig.suffix),
        log_group: target.log_group.clone(),
        pattern: sig.pattern.to_owned(),
        metric_namespace: namespace.to_owned(),
        metric_name: sig.metric.to_owned(),
        metric_value: "1".into(),
        default_value,
        dimensions,
        unit: Some("Count".into()),
    }
}

/// The alarm of one signal, on its metric (summed over namespaces with
/// `--by-namespace`), with a description that says what to run next.
fn alarm(
    target: &Target,
    s: &Settings,
    sig: &Signal,
    namespace: &str,
    actions: &[String],
) -> AlarmSpec {
    let metric = if s.by_namespace {
        AlarmMetric::Query {
            expression: format!(
                "SELECT SUM(\"{}\") FROM SCHEMA(\"{}\", {})",
                sig.metric, namespace, NAMESPACE_DIMENSION.0
            ),
        }
    } else {
        AlarmMetric::Metric {
            namespace: namespace.to_owned(),
            name: sig.metric.to_owned(),
            statistic: "Sum".into(),
        }
    };
    let window = s.period as i64 * s.evaluation_periods as i64;
    let description = format!(
        "secret-audit: at least {} {} in {}s in log group {} (metric {}/{}). \
         Who and which secrets: secret-audit report --{} --since {}m, \
         or export the window and run secret-audit analyze on it. \
         Managed by secret-audit setup; change it there, not here.",
        sig.threshold,
        sig.what,
        s.period,
        target.log_group,
        namespace,
        sig.metric,
        match &target.cluster {
            Some(c) => format!("cluster {c}"),
            None => format!("log-group-name {}", target.log_group),
        },
        (window / 60).max(1) * 2,
    );
    AlarmSpec {
        name: format!("{}{}", target.prefix(), sig.suffix),
        description,
        metric,
        period: s.period,
        evaluation_periods: s.evaluation_periods,
        datapoints_to_alarm: s.evaluation_periods,
        threshold: sig.threshold,
        comparison: "GreaterThanOrEqualToThreshold".into(),
        treat_missing_data: "notBreaching".into(),
        actions_enabled: true,
        alarm_actions: actions.to_vec(),
        ok_actions: actions.to_vec(),
        tags: target.tags(),
    }
}

/// Checks an SNS topic ARN's syntax: `arn:PARTITION:sns:REGION:ACCOUNT:NAME`.
pub fn validate_sns_topic_arn(arn: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "invalid SNS topic ARN {arn:?}: {why}; expected arn:aws:sns:REGION:ACCOUNT_ID:TOPIC_NAME"
        ))
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return bad("not an ARN");
    }
    if !matches!(
        parts[1],
        "aws"
            | "aws-cn"
            | "aws-us-gov"
            | "aws-iso"
            | "aws-iso-b"
            | "aws-iso-e"
            | "aws-iso-f"
            | "aws-eusc"
    ) {
        return bad("unknown partition");
    }
    if parts[2] != "sns" {
        return bad("not an SNS ARN");
    }
    let region = parts[3];
    if region.len() < 9
        || !region.split('-').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
    {
        return bad("missing or malformed region");
    }
    if parts[4].len() != 12 || !parts[4].chars().all(|c| c.is_ascii_digit()) {
        return bad("the account must be 12 digits");
    }
    let topic = parts[5];
    let base = topic.strip_suffix(".fifo").unwrap_or(topic);
    if base.is_empty()
        || topic.len() > 256
        || !base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return bad("the topic name must be 1-256 letters, digits, '-' or '_'");
    }
    Ok(())
}

/// Checks an EKS cluster name: letters, digits, `-` and `_`, starting with
/// a letter or digit, at most 100 characters.
pub fn validate_cluster_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid cluster name {name:?}: use 1-100 letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_target_names_group_and_prefixes() {
        let t = Target::cluster("prod");
        assert_eq!(t.log_group, "/aws/eks/prod/cluster");
        assert_eq!(t.prefix(), "secret-audit-prod-");
        assert_eq!(t.query_prefix(), "secret-audit/prod/");
        assert_eq!(Target::log_group("/aws/eks/prod/cluster"), t);
        let other = Target::log_group("/custom/audit//logs");
        assert_eq!(other.name, "custom-audit-logs");
        assert_eq!(other.cluster, None);
        assert!(other.enable_audit_command().contains("--name CLUSTER"));
    }

    #[test]
    fn patterns_use_plural_secrets_and_count_a_request_once() {
        for p in [READS_PATTERN, DENIED_PATTERN, WRITES_PATTERN] {
            assert!(p.contains(r#"$.objectRef.resource = "secrets""#), "{p}");
            assert!(!p.contains(r#""secret""#), "{p}");
            assert!(p.len() <= 1024);
            assert_eq!(p.matches('(').count(), p.matches(')').count(), "{p}");
        }
        for p in [READS_PATTERN, WRITES_PATTERN] {
            assert!(p.contains(r#"$.stage = "ResponseComplete""#), "{p}");
            assert!(p.contains("$.responseStatus.code < 400"), "{p}");
        }
        for verb in ["get", "list", "watch"] {
            assert!(READS_PATTERN.contains(&format!(r#"$.verb = "{verb}""#)));
        }
        for verb in ["create", "update", "patch", "delete", "deletecollection"] {
            assert!(WRITES_PATTERN.contains(&format!(r#"$.verb = "{verb}""#)));
        }
        // Numbers, not strings (FACTS.md 4).
        assert!(DENIED_PATTERN.contains("$.responseStatus.code = 401"));
        assert!(DENIED_PATTERN.contains("$.responseStatus.code = 403"));
    }

    #[test]
    fn default_filters_have_default_value_and_no_dimension() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        assert_eq!(d.filters.len(), 3);
        for f in &d.filters {
            assert!(f.name.starts_with("secret-audit-prod-"));
            assert_eq!(f.metric_namespace, "SecretAudit/prod");
            assert_eq!(f.default_value, Some(0.0));
            assert!(f.dimensions.is_empty());
        }
        let names: Vec<_> = d.alarms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "secret-audit-prod-secret-reads",
                "secret-audit-prod-secret-denied",
                "secret-audit-prod-secret-writes"
            ]
        );
    }

    #[test]
    fn by_namespace_adds_only_a_namespace_dimension_and_drops_default_value() {
        let s = Settings {
            by_namespace: true,
            ..Settings::default()
        };
        let d = desired(&Target::cluster("prod"), &s);
        for f in &d.filters {
            assert_eq!(f.default_value, None);
            assert_eq!(f.dimensions.len(), 1);
            assert_eq!(f.dimensions["namespace"], "$.objectRef.namespace");
        }
        for a in &d.alarms {
            let AlarmMetric::Query { expression } = &a.metric else {
                panic!("{a:?}")
            };
            assert!(expression.starts_with("SELECT SUM(\""), "{expression}");
            assert!(
                expression.contains("SCHEMA(\"SecretAudit/prod\", namespace)"),
                "{expression}"
            );
        }
    }

    #[test]
    fn alarms_treat_missing_data_as_not_breaching_and_say_what_to_run() {
        let s = Settings {
            sns_topic_arns: vec!["arn:aws:sns:us-east-1:123456789012:sec".into()],
            ..Settings::default()
        };
        let d = desired(&Target::cluster("prod"), &s);
        for a in &d.alarms {
            assert_eq!(a.treat_missing_data, "notBreaching");
            assert_eq!(a.alarm_actions, s.sns_topic_arns);
            assert_eq!(a.ok_actions, s.sns_topic_arns);
            assert_eq!(a.tags["managed-by"], "secret-audit");
            assert_eq!(a.tags["cluster"], "prod");
            assert!(
                a.description.contains("secret-audit report --cluster prod"),
                "{}",
                a.description
            );
            assert!(
                a.description.contains("secret-audit analyze"),
                "{}",
                a.description
            );
            assert!(a.description.len() <= 1024);
        }
    }

    #[test]
    fn queries_filter_before_stats_sort_and_limit() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let names: Vec<_> = d.queries.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "secret-audit/prod/reads-by-secret",
                "secret-audit/prod/access-detail",
                "secret-audit/prod/access-by-user",
                "secret-audit/prod/denied-attempts",
                "secret-audit/prod/list-watch-cluster-wide",
                "secret-audit/prod/list-watch-namespace-wide",
                "secret-audit/prod/reads-over-time",
            ]
        );
        for q in &d.queries {
            let text = &q.query_string;
            let pos = |needle: &str| {
                text.find(needle)
                    .unwrap_or_else(|| panic!("{needle} missing in {text}"))
            };
            assert!(
                pos("filter @logStream like /kube-apiserver-audit/")
                    < pos(r#"objectRef.resource = "secrets""#)
            );
            assert!(pos(r#"stage = "ResponseComplete""#) < pos("| sort"));
            assert!(pos("| sort") < pos("| limit"));
            if let Some(stats) = text.find("| stats") {
                assert!(pos(r#"objectRef.resource = "secrets""#) < stats);
                assert!(stats < pos("| sort"));
            }
            assert_eq!(q.log_groups, ["/aws/eks/prod/cluster"]);
        }
    }

    #[test]
    fn sns_topic_arns_are_checked() {
        assert!(validate_sns_topic_arn("arn:aws:sns:us-east-1:123456789012:secret-alerts").is_ok());
        assert!(validate_sns_topic_arn("arn:aws:sns:eu-west-1:123456789012:alerts.fifo").is_ok());
        for bad in [
            "secret-alerts",
            "arn:aws:sqs:us-east-1:123456789012:q",
            "arn:aws:sns:us-east-1:1234:t",
            "arn:aws:sns::123456789012:t",
            "arn:aws:sns:us-east-1:123456789012:",
            "arn:aws:sns:us-east-1:123456789012:bad name",
        ] {
            let err = validate_sns_topic_arn(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn cluster_names_are_checked() {
        assert!(validate_cluster_name("prod-eu_1").is_ok());
        assert!(validate_cluster_name("-x").is_err());
        assert!(validate_cluster_name("a/b").is_err());
        assert!(validate_cluster_name("").is_err());
    }
}
