//! Logs Insights: the bundled query library (`queries/*.insights`, embedded),
//! its lint, and the runner logic that gets every row (polling, splitting,
//! merging). Pure: the SDK side of the runner lives in `aws::insights`.

pub mod lang;
pub mod lint;
pub mod offline;

pub mod runner;
pub mod syntax;

use syntax::{Agg, Command};

/// The bundled query files, in the order `queries list` shows them.
pub const BUNDLED_FILES: [(&str, &str); 7] = [
    (
        "reads-by-secret",
        include_str!("../../queries/reads-by-secret.insights"),
    ),
    (
        "access-detail",
        include_str!("../../queries/access-detail.insights"),
    ),
    (
        "access-by-user",
        include_str!("../../queries/access-by-user.insights"),
    ),
    (
        "denied-attempts",
        include_str!("../../queries/denied-attempts.insights"),
    ),
    (
        "list-watch-cluster-wide",
        include_str!("../../queries/list-watch-cluster-wide.insights"),
    ),
    (
        "list-watch-namespace-wide",
        include_str!("../../queries/list-watch-namespace-wide.insights"),
    ),
    (
        "reads-over-time",
        include_str!("../../queries/reads-over-time.insights"),
    ),
];

/// What `report` runs when no `--query` or `--query-file` is given.
pub const SUMMARY_SET: [&str; 4] = [
    "reads-by-secret",
    "access-by-user",
    "denied-attempts",
    "list-watch-cluster-wide",
];

/// How results of one query from several time chunks combine.
#[derive(Debug, Clone, PartialEq)]
pub enum Merge {
    /// Log events: concatenate, deduplicated by `@ptr`.
    Rows,
    /// Aggregates that add up per key (count, sum; min and max too).
    Sum { columns: Vec<(String, Agg)> },
    /// Aggregates that cannot be combined (avg, count_distinct...).
    None,
}

impl Merge {
    pub fn as_str(&self) -> &'static str {
        match self {
            Merge::Rows => "rows",
            Merge::Sum { .. } => "sum",
            Merge::None => "none",
        }
    }
}

/// A query: header fields and the pipeline text sent to Logs Insights.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub name: String,
    pub description: String,
    /// Columns the header declares (empty for a file without a header).
    pub columns: Vec<String>,
    /// The `merge:` the header declares, if any.
    pub declared_merge: Option<String>,
    /// The query without its header comment lines.
    pub body: String,
}

impl Query {
    /// Reads `# key: value` header lines, then the pipeline.
    pub fn parse(default_name: &str, text: &str) -> Query {
        let mut q = Query {
            name: default_name.to_owned(),
            description: String::new(),
            columns: Vec::new(),
            declared_merge: None,
            body: String::new(),
        };
        let mut body = Vec::new();
        for line in text.lines() {
            let t = line.trim_start();
            if body.is_empty() {
                if let Some(h) = t.strip_prefix('#') {
                    if let Some((k, v)) = h.split_once(':') {
                        let v = v.trim();
                        match k.trim() {
                            "name" => q.name = v.to_owned(),
                            "description" => q.description = v.to_owned(),
                            "columns" => {
                                q.columns = v.split(',').map(|c| c.trim().to_owned()).collect()
                            }
                            "merge" => q.declared_merge = Some(v.to_owned()),
                            _ => {}
                        }
                    }
                    continue;
                }
                if t.is_empty() {
                    continue;
                }
            }
            body.push(line);
        }
        q.body = body.join("\n").trim_end().to_owned();
        q
    }

    pub fn commands(&self) -> Vec<Command> {
        syntax::parse(&self.body)
    }

    /// How chunk results merge, from the pipeline itself: no `stats` means
    /// log events; one `stats` whose aggregates add up means sums.
    pub fn merge(&self) -> Merge {
        let cmds = self.commands();
        let stats: Vec<&Command> = cmds.iter().filter(|c| c.name == "stats").collect();
        match stats.as_slice() {
            [] => Merge::Rows,
            [one] => {
                let columns = syntax::stats_outputs(one);
                if columns.iter().any(|(_, a)| *a == Agg::Other) {
                    Merge::None
                } else {
                    Merge::Sum { columns }
                }
            }
            _ => Merge::None,
        }
    }

    /// Output columns the pipeline names (its last `stats`, `fields` or
    /// `display`), in order; empty when it names none.
    pub fn output_columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = Vec::new();
        for c in self.commands() {
            match c.name.as_str() {
                "stats" => {
                    // Keys first reads better: `by` columns, then aggregates.
                    let outs = syntax::stats_outputs(&c);
                    let keys = outs.iter().filter(|(_, a)| *a == Agg::Key);
                    let aggs = outs.iter().filter(|(_, a)| *a != Agg::Key);
                    cols = keys.chain(aggs).map(|(n, _)| n.clone()).collect();
                }
                "fields" => {
                    for f in syntax::field_outputs(&c) {
                        if !cols.contains(&f) {
                            cols.push(f);
                        }
                    }
                }
                "display" => cols = syntax::field_outputs(&c),
                _ => {}
            }
        }
        cols
    }

    /// The sort of the pipeline's last `sort`: (column, descending).
    pub fn sort_keys(&self) -> Vec<(String, bool)> {
        let Some(c) = self.commands().into_iter().rfind(|c| c.name == "sort") else {
            return Vec::new();
        };
        c.args
            .split(',')
            .filter_map(|item| {
                let mut words = item.split_whitespace();
                let field = words.next()?.trim_matches('`').to_owned();
                let desc = !matches!(words.next(), Some(d) if d.eq_ignore_ascii_case("asc"));
                Some((field, desc))
            })
            .collect()
    }
}

/// Every bundled query, parsed.
pub fn bundled() -> Vec<Query> {
    BUNDLED_FILES
        .iter()
        .map(|(name, text)| Query::parse(name, text))
        .collect()
}

pub fn find(name: &str) -> Option<Query> {
    bundled().into_iter().find(|q| q.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact text every bundled query sends (header stripped).
    const PINNED: [(&str, &str); 7] = [
        (
            "reads-by-secret",
            r#"filter @logStream like /kube-apiserver-audit/
| filter objectRef.resource = "secrets" and stage = "ResponseComplete" and verb in ["get", "list", "watch"] and responseStatus.code < 400
| stats count(*) as reads, min(@timestamp) as first_seen, max(@timestamp) as last_seen by objectRef.namespace as namespace, objectRef.name as secret
| sort reads desc
| limit 10000"#,
        ),
        (
            "access-detail",
            r#"filter @logStream like /kube-apiserver-audit/
| filter objectRef.resource = "secrets" and stage = "ResponseComplete"
| fields @timestamp, objectRef.namespace as namespace, objectRef.name as secret, user.username as user, impersonatedUser.username as impersonated_user, verb, responseStatus.code as code, `annotations.authorization.k8s.io/decision` as decision, sourceIPs.0 as source_ip, userAgent as user_agent, auditID
| sort @timestamp desc
| limit 10000"#,
        ),
        (
            "access-by-user",
            r#"filter @logStream like /kube-apiserver-audit/
| filter objectRef.resource = "secrets" and stage = "ResponseComplete"
| stats count(*) as requests, min(@timestamp) as first_seen, max(@timestamp) as last_seen by user.username as user, verb
| sort requests desc
| limit 10000"#,
        ),
        (
            "denied-attempts",
            r#"filter @logStream like /kube-apiserver-audit/
| filter objectRef.resource = "secrets" and (stage = "ResponseComplete" or responseStatus.code = 401) and responseStatus.code in [401, 403]
| stats count(*) as denied, min(@timestamp) as first_seen, max(@timestamp) as last_seen by user.username as user, objectRef.namespace as namespace, objectRef.name as secret, verb, responseStatus.code as code
| sort denied desc
| limit 10000"#,
        ),
        (
            "list-watch-cluster-wide",
            r#"filter @logStream like /kube-apiserver-audit/
| filter objectRef.resource = "secrets" and stage = "ResponseComplete" and verb in ["list", "watch"] and not ispresent(objectRef.namespace)
| stats count(*) as requests, min(@timestamp) as first_seen, max(@timestamp) as last_seen by user.username as user, verb, responseStatus.code as code
| sort requests desc
| limit 10000"#,
        ),
        (
            "list-watch-namespace-wide",
            r#"filter @logStream like /kube-apiserver-audit/
| filter objectRef.resource = "secrets" and stage = "ResponseComplete" and verb in ["list", "watch"] and ispresent(objectRef.namespace) and not ispresent(objectRef.name)
| stats count(*) as requests, min(@timestamp) as first_seen, max(@timestamp) as last_seen by objectRef.namespace as namespace, user.username as user, verb, responseStatus.code as code
| sort requests desc
| limit 10000"#,
        ),
        (
            "reads-over-time",
            r#"filter @logStream like /kube-apiserver-audit/
| filter objectRef.resource = "secrets" and stage = "ResponseComplete" and verb in ["get", "list", "watch"] and responseStatus.code < 400
| stats count(*) as reads by bin(1h) as hour
| sort hour asc
| limit 10000"#,
        ),
    ];

    #[test]
    fn bundled_query_text_is_pinned() {
        let all = bundled();
        assert_eq!(all.len(), PINNED.len());
        for (q, (name, text)) in all.iter().zip(PINNED) {
            assert_eq!(q.name, name);
            assert_eq!(q.body, text, "{name}");
        }
    }

    #[test]
    fn every_bundled_query_passes_lint() {
        for q in bundled() {
            assert_eq!(lint::lint(&q.body), [], "{}", q.name);
            // The whole file, header included, too.
            let (_, file) = BUNDLED_FILES.iter().find(|(n, _)| *n == q.name).unwrap();
            assert_eq!(lint::lint(file), [], "{}", q.name);
        }
    }

    #[test]
    fn every_bundled_query_filters_first_then_stats_sort_limit() {
        for q in bundled() {
            let names: Vec<String> = q.commands().into_iter().map(|c| c.name).collect();
            assert_eq!(names[0], "filter", "{}", q.name);
            assert_eq!(names[1], "filter", "{}", q.name);
            assert!(
                q.body
                    .starts_with("filter @logStream like /kube-apiserver-audit/"),
                "{}",
                q.name
            );
            assert!(q.body.contains(r#"objectRef.resource = "secrets""#));
            assert!(q.body.contains(r#"stage = "ResponseComplete""#));
            assert_eq!(names[names.len() - 2], "sort", "{}", q.name);
            assert_eq!(names[names.len() - 1], "limit", "{}", q.name);
            assert!(q.body.ends_with("| limit 10000"), "{}", q.name);
        }
    }

    #[test]
    fn headers_match_what_the_pipeline_says() {
        for q in bundled() {
            assert!(!q.description.is_empty(), "{}", q.name);
            let mut declared = q.columns.clone();
            let mut derived = q.output_columns();
            declared.sort();
            derived.sort();
            assert_eq!(declared, derived, "{}", q.name);
            assert_eq!(
                q.declared_merge.as_deref(),
                Some(q.merge().as_str()),
                "{}",
                q.name
            );
        }
    }

    #[test]
    fn summary_set_and_required_queries_are_bundled() {
        for name in SUMMARY_SET.iter().chain(&[
            "access-detail",
            "list-watch-namespace-wide",
            "reads-over-time",
        ]) {
            assert!(find(name).is_some(), "{name}");
        }
        assert!(find("reads-over-time").unwrap().body.contains("bin(1h)"));
        assert!(find("access-detail")
            .unwrap()
            .body
            .contains("`annotations.authorization.k8s.io/decision`"));
    }

    #[test]
    fn merge_kinds_come_from_the_pipeline() {
        assert_eq!(find("access-detail").unwrap().merge(), Merge::Rows);
        assert!(matches!(
            find("reads-by-secret").unwrap().merge(),
            Merge::Sum { .. }
        ));
        let q = Query::parse("x", "filter a = 1 | stats count_distinct(b) as n by c");
        assert_eq!(q.merge(), Merge::None);
        let q = Query::parse("x", "stats count(*) as n by c | stats sum(n) as m");
        assert_eq!(q.merge(), Merge::None);
    }

    #[test]
    fn sort_keys_read_direction() {
        let q = find("reads-over-time").unwrap();
        assert_eq!(q.sort_keys(), [("hour".to_owned(), false)]);
        let q = find("reads-by-secret").unwrap();
        assert_eq!(q.sort_keys(), [("reads".to_owned(), true)]);
    }
}
