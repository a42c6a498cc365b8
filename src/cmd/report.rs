//! `secret-audit report`: runs Logs Insights queries (bundled or from
//! files) over a time window and log groups, gets every row (the runner
//! splits and merges), and prints scan statistics, cost and one table per
//! query.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;

use crate::cli::{parse_duration, AwsArgs, GlobalArgs};
use crate::cmd::provisioning as prov;
use crate::error::{exit, AppError};
use crate::insights::runner::{self, RunError, Task};
use crate::insights::{self, Query};
use crate::output::diag::Reporter;
use crate::output::sanitize::sanitize;

/// Logs Insights takes at most this many log groups per query.
pub const MAX_GROUPS_PER_QUERY: usize = 50;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Start of the window: an age (90m, 2h, 7d) or an RFC 3339 time.
    #[arg(
        long,
        visible_alias = "start-time",
        default_value = "24h",
        value_name = "TIME"
    )]
    pub since: String,
    /// End of the window: an age or an RFC 3339 time (default now).
    #[arg(long, visible_alias = "end-time", value_name = "TIME")]
    pub until: Option<String>,
    /// A bundled query to run (repeatable; `queries list` names them).
    /// Default: reads-by-secret, access-by-user, denied-attempts,
    /// list-watch-cluster-wide.
    #[arg(long = "query", value_name = "NAME")]
    pub queries: Vec<String>,
    /// A Logs Insights query file to run (repeatable).
    #[arg(long = "query-file", value_name = "PATH")]
    pub query_files: Vec<PathBuf>,
    /// Queries running at once (the account allows about 30, shared).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100), env = "SECRET_AUDIT_MAX_CONCURRENT_QUERIES")]
    pub max_concurrent_queries: u32,
    /// Rows one query returns at most; a time chunk that returns this many
    /// is split in two and run again.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000), env = "SECRET_AUDIT_MAX_ROWS")]
    pub max_rows: u32,
    /// How many times a time chunk may be halved.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=20), env = "SECRET_AUDIT_MAX_SPLIT_DEPTH")]
    pub max_split_depth: u32,
    /// Time limit of the whole report; running queries are stopped then.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration, env = "SECRET_AUDIT_TIMEOUT")]
    pub timeout: Duration,
    /// Price of one GB scanned, in USD, for the cost estimate.
    #[arg(long, value_name = "USD", default_value_t = 0.005, value_parser = parse_price, env = "SECRET_AUDIT_PRICE_PER_GB")]
    pub price_per_gb: f64,
    /// Exit 1 when a result is possibly truncated.
    #[arg(long, env = "SECRET_AUDIT_STRICT")]
    pub strict: bool,
    /// Run nothing: print the queries, the log groups and what the scan
    /// would cost, from the bytes that came into them in the window
    /// (their IncomingBytes metric).
    #[arg(long)]
    pub estimate: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

fn parse_price(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("invalid price {s:?}: use a number such as 0.005")),
    }
}

/// The log groups named on the command line, in order, without repeats.
pub fn log_groups(aws: &AwsArgs) -> Result<Vec<String>, AppError> {
    let mut out: Vec<String> = Vec::new();
    for g in aws
        .clusters
        .iter()
        .map(|c| crate::provision::Target::cluster(c).log_group)
        .chain(aws.log_group_names.iter().cloned())
    {
        if !out.contains(&g) {
            out.push(g);
        }
    }
    if out.is_empty() {
        return Err(AppError::Usage(
            "name the audit log groups: --cluster NAME or --log-group-name NAME (both repeatable)"
                .into(),
        ));
    }
    Ok(out)
}

/// The queries to run: named bundled ones, then files; the summary set
/// when neither is given.
pub fn selected(args: &ReportArgs, say: Reporter) -> anyhow::Result<Vec<Query>> {
    let mut out = Vec::new();
    let names: Vec<String> = if args.queries.is_empty() && args.query_files.is_empty() {
        insights::SUMMARY_SET
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        args.queries.clone()
    };
    for n in &names {
        let q = insights::find(n).ok_or_else(|| {
            AppError::Usage(format!(
                "no bundled query {:?}; the bundled queries are: {}",
                sanitize(n),
                insights::BUNDLED_FILES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        out.push(q);
    }
    for path in &args.query_files {
        let text = std::fs::read_to_string(path).map_err(|e| {
            AppError::Usage(format!("cannot read query file {}: {e}", path.display()))
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "query".into());
        let q = Query::parse(&stem, &text);
        if let Some(field) = reads_bodies(&q) {
            return Err(AppError::Usage(format!(
                "query file {} {}: request and response bodies may hold secret values, \
                 which secret-audit never prints",
                path.display(),
                sanitize(&field)
            ))
            .into());
        }
        for finding in crate::insights::lint::lint(&text) {
            say.line(format_args!(
                "report: warning: {}:{}",
                sanitize(&path.display().to_string()),
                sanitize(&finding.to_string())
            ));
        }
        if q.body.trim().is_empty() {
            return Err(AppError::Usage(format!("query file {} is empty", path.display())).into());
        }
        out.push(q);
    }
    Ok(out)
}

/// How a query would show request or response bodies, if it would: it
/// reads a body field, or it shows `@message` some other way than as the
/// column `@message` (the one place bodies are removed): renamed,
/// computed on, aggregated or parsed.
pub fn reads_bodies(q: &Query) -> Option<String> {
    use crate::insights::lang::{parse, Expr, Op};
    let body = |f: &str| {
        runner::BODY_FIELDS
            .iter()
            .any(|b| f == *b || f.starts_with(&format!("{b}.")))
    };
    let (stages, errors) = parse(&q.body);
    if !errors.is_empty() {
        // Not the grammar's: the words it names, at least (`@message`
        // only selects in a `filter`).
        return q.commands().iter().find_map(|c| {
            crate::insights::syntax::field_refs(c)
                .into_iter()
                .map(|(f, _)| f)
                .find(|f| body(f) || (f == "@message" && c.name != "filter"))
                .map(|f| format!("reads `{f}`"))
        });
    }
    let message = |e: &Expr| e.fields().iter().any(|(f, _)| *f == "@message");
    for s in &stages {
        if let Some((f, _)) = s
            .exprs()
            .iter()
            .flat_map(|e| e.fields())
            .find(|(f, _)| body(f))
        {
            return Some(format!("reads `{f}`"));
        }
        let shown = match &s.op {
            Op::Fields(items) | Op::Display(items) => items.iter().any(|i| {
                message(&i.expr)
                    && !(matches!(&i.expr, Expr::Field(f, _) if f == "@message")
                        && i.alias.as_deref().is_none_or(|a| a == "@message"))
            }),
            Op::Stats { aggs, by } => aggs.iter().chain(by).any(|i| message(&i.expr)),
            Op::Parse { source, .. } => message(source),
            _ => false,
        };
        if shown {
            return Some(format!("shows `@message` through `{}`", s.name));
        }
    }
    None
}

/// The comparison with which every bundled query selects secret events:
/// with its field indexed, `filterIndex` on it makes CloudWatch scan only
/// the events that can match.
pub const INDEX_FIELD: (&str, &str) = ("objectRef.resource", "secrets");

/// Whether a query keeps only events with [`INDEX_FIELD`]: one of its
/// commands before any other kind is a `filter` whose top-level `and`
/// terms include the comparison (so `filterIndex` on it drops nothing the
/// query keeps).
fn filters_on_index_field(query: &str) -> bool {
    use crate::insights::lang::{BinOp, Expr, Op};
    fn conjunct(e: &Expr) -> bool {
        match e {
            Expr::Bin(BinOp::And, a, b) => conjunct(a) || conjunct(b),
            Expr::Bin(BinOp::Eq, a, b) => matches!((&**a, &**b), (Expr::Field(f, _), Expr::Str(v))
                if f == INDEX_FIELD.0 && v == INDEX_FIELD.1),
            _ => false,
        }
    }
    let (stages, errors) = crate::insights::lang::parse(query);
    errors.is_empty()
        && stages
            .iter()
            .take_while(|s| matches!(s.op, Op::Filter(_)))
            .any(|s| matches!(&s.op, Op::Filter(e) if conjunct(e)))
}

/// Starts with `filterIndex` each task whose query keeps only events with
/// [`INDEX_FIELD`] and whose every log group has indexed it since before
/// the window began (`indexed_since`, epoch ms): `filterIndex` returns
/// nothing from a log group without the index, and only events indexed
/// after the policy was made. Otherwise the plain `filter` stays (it uses
/// the index where it can). Returns how many changed.
pub fn use_filter_index(tasks: &mut [Task], indexed_since: &dyn Fn(&str) -> Option<i64>) -> usize {
    let mut n = 0;
    for t in tasks.iter_mut() {
        let covered = t
            .log_groups
            .iter()
            .all(|g| indexed_since(g).is_some_and(|ms| ms <= t.start * 1000));
        if covered && filters_on_index_field(&t.query) {
            t.query = format!(
                "filterIndex {} = \"{}\"\n| {}",
                INDEX_FIELD.0, INDEX_FIELD.1, t.query
            );
            n += 1;
        }
    }
    n
}

/// One task per query and batch of at most 50 log groups.
pub fn tasks(queries: &[Query], groups: &[String], start: i64, end: i64) -> Vec<Task> {
    let mut out = Vec::new();
    for q in queries {
        for batch in groups.chunks(MAX_GROUPS_PER_QUERY) {
            out.push(Task {
                name: q.name.clone(),
                query: q.body.clone(),
                merge: q.merge(),
                columns: q.output_columns(),
                sort: q.sort_keys(),
                log_groups: batch.to_vec(),
                start,
                end,
            });
        }
    }
    out
}

/// The window in epoch seconds; `since` must come before `until` (now by
/// default).
pub fn window(
    since: &str,
    until: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(i64, i64), AppError> {
    let until = until.map(str::to_owned).unwrap_or_else(|| now.to_rfc3339());
    let (start, end) =
        crate::timearg::parse_window(Some(since), Some(&until), now).map_err(AppError::Usage)?;
    let (start, end) = (start.expect("given"), end.expect("given"));
    Ok((start.timestamp(), end.timestamp()))
}

pub fn run(global: &GlobalArgs, args: ReportArgs) -> anyhow::Result<u8> {
    let groups = log_groups(&args.aws)?;
    let say = global.reporter();
    let queries = selected(&args, say)?;
    let (start, end) = window(&args.since, args.until.as_deref(), Utc::now())?;
    let mut tasks = tasks(&queries, &groups, start, end);
    if args.estimate {
        return estimate(global, &args, &tasks, &groups, (start, end));
    }
    let outcome = prov::with_aws(&args.aws, async |clients| {
        let indexed = indexed_groups(clients, &groups, say).await;
        use_filter_index(&mut tasks, &|g| {
            indexed
                .iter()
                .find(|(i, _)| i == g)
                .map(|(_, since)| *since)
        });
        let api = crate::aws::insights::Insights::new(clients);
        let mut cfg = runner::Config::new(args.timeout);
        cfg.max_concurrent = args.max_concurrent_queries as usize;
        cfg.max_rows = args.max_rows as usize;
        cfg.max_split_depth = args.max_split_depth;
        cfg.throttled_limit = args.aws.operation_timeout;
        let interrupt = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        anyhow::Ok(runner::run(&api, &tasks, &cfg, interrupt).await)
    })?;
    let results = match outcome {
        Ok((results, notes)) => {
            warn_all(global, &notes);
            results
        }
        Err((err, notes)) => {
            warn_all(global, &notes);
            // Query names come from files and statuses from the service.
            let message = sanitize(&err.to_string()).into_owned();
            return Err(match err {
                RunError::Interrupted { .. } => {
                    anyhow::Error::new(AppError::Interrupted).context(message)
                }
                RunError::Api {
                    kind: runner::ApiErrorKind::Transport,
                    ..
                } => AppError::NoAnswer(message).into(),
                _ => AppError::Service(message).into(),
            });
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    crate::output::report::write(global.output(), &results, args.price_per_gb, say, &mut out)
        .and_then(|()| out.flush())
        .context("writing the report")?;
    let payloads: usize = results.iter().map(|r| r.payloads_removed).sum();
    if payloads > 0 {
        say.line(format_args!(
            "report: warning: this audit log contains secret payloads: request/response bodies were removed from {payloads} @message value{}",
            if payloads == 1 { "" } else { "s" }
        ));
    }
    let truncated: Vec<&str> = results
        .iter()
        .filter(|r| r.truncated)
        .map(|r| r.name.as_str())
        .collect();
    if !truncated.is_empty() {
        say.line(format_args!(
            "report: possibly truncated (a query returned --max-rows rows and could not be split or merged): {}",
            sanitize(&truncated.join(", "))
        ));
    }
    if args.strict && !truncated.is_empty() {
        return Ok(exit::CHECK_FAILED);
    }
    Ok(exit::OK)
}

/// The log groups whose index policy indexes [`INDEX_FIELD`], each with
/// when the policy last changed (epoch ms; 0 when unknown is not assumed:
/// such a group is left out). None where the endpoint has no index-policy
/// API or the call is refused: report then keeps plain filters.
async fn indexed_groups(
    clients: &crate::aws::Clients,
    groups: &[String],
    say: crate::output::diag::Reporter,
) -> Vec<(String, i64)> {
    let mut indexed = Vec::new();
    for g in groups {
        let policy = match crate::aws::index::policy(clients, g).await {
            Ok(p) => p.flatten(),
            Err(e) => {
                say.line(format_args!(
                    "report: warning: the field index policy of {} could not be read ({}); its queries use plain filters",
                    sanitize(g),
                    sanitize(&e.to_string())
                ));
                None
            }
        };
        let Some(p) = policy else { continue };
        let indexed_field = crate::provision::index::indexed_fields(&p)
            .iter()
            .any(|f| f == INDEX_FIELD.0);
        if let (true, Some(since)) = (indexed_field, p.updated_ms) {
            indexed.push((g.clone(), since));
        }
    }
    indexed
}

/// `--estimate`: the queries and log groups, and what scanning the window
/// would cost from the bytes that came into each group; nothing is run.
fn estimate(
    global: &GlobalArgs,
    args: &ReportArgs,
    tasks: &[Task],
    groups: &[String],
    (start, end): (i64, i64),
) -> anyhow::Result<u8> {
    let bytes = prov::with_aws(&args.aws, async |clients| {
        let mut out = Vec::new();
        for g in groups {
            let b = crate::aws::cloudwatch::incoming_bytes(clients, g, start, end)
                .await
                .map_err(prov::aws_error)?;
            out.push((g.clone(), b));
        }
        anyhow::Ok(out)
    })?;
    let est = crate::output::report::Estimate {
        start,
        end,
        price_per_gb: args.price_per_gb,
        groups: bytes,
        queries: tasks
            .iter()
            .map(|t| (t.name.clone(), t.log_groups.clone()))
            .collect(),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    crate::output::report::write_estimate(global.output(), &est, &mut out)
        .and_then(|()| out.flush())
        .context("writing the estimate")?;
    let missing: Vec<&str> = est
        .groups
        .iter()
        .filter(|(_, b)| b.is_none())
        .map(|(g, _)| g.as_str())
        .collect();
    if !missing.is_empty() {
        global.reporter().line(format_args!(
            "report: warning: no IncomingBytes data in the window for {}: counted as 0",
            sanitize(&missing.join(", "))
        ));
    }
    Ok(exit::OK)
}

fn warn_all(global: &GlobalArgs, notes: &[String]) {
    let say = global.reporter();
    for n in notes {
        say.line(format_args!("report: warning: {}", sanitize(n)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_index_only_where_every_log_group_of_a_task_has_the_index() {
        let groups: Vec<String> = (0..60).map(|i| format!("/g/{i}")).collect();
        let mut t = tasks(
            &[
                insights::find("reads-by-secret").unwrap(),
                Query::parse("mine", "fields verb | limit 5"),
            ],
            &groups,
            0,
            10,
        );
        // The second batch of 10 groups has one without the index.
        let changed = use_filter_index(&mut t, &|g| (g != "/g/55").then_some(0));
        assert_eq!(changed, 1);
        assert!(t[0]
            .query
            .starts_with("filterIndex objectRef.resource = \"secrets\"\n| filter @logStream"));
        assert!(t[1].query.starts_with("filter @logStream"));
        // A query that does not select on the field is left alone.
        assert_eq!(t[2].query, "fields verb | limit 5");
        // An index made after the window began would hide older events.
        let mut t = tasks(
            &[insights::find("reads-by-secret").unwrap()],
            &groups[..1],
            100,
            200,
        );
        assert_eq!(use_filter_index(&mut t, &|_| Some(100_001)), 0);
        assert_eq!(use_filter_index(&mut t, &|_| Some(100_000)), 1);
        // The comparison must be a term every kept event meets.
        for query in [
            "filter objectRef.resource = \"secrets\" or verb = \"delete\"",
            "filter not (objectRef.resource = \"secrets\")",
            "fields verb | filter objectRef.resource = \"secrets\"",
        ] {
            let mut t = tasks(&[Query::parse("q", query)], &groups[..1], 0, 10);
            assert_eq!(use_filter_index(&mut t, &|_| Some(0)), 0, "{query}");
        }
    }

    #[test]
    fn a_query_the_grammar_refuses_is_still_checked_for_bodies() {
        let q = |t: &str| reads_bodies(&Query::parse("q", t));
        // `@message` in a filter only selects; the body field after it is
        // what is refused.
        assert_eq!(
            q("filter @message like /x/ and requestObject.data = 1 | summarize"),
            Some("reads `requestObject.data`".into())
        );
        assert_eq!(q("filter @message like /x/ | summarize"), None);
        assert_eq!(
            q("fields @message | summarize"),
            Some("reads `@message`".into())
        );
    }

    #[test]
    fn groups_are_batched_by_fifty() {
        let groups: Vec<String> = (0..120).map(|i| format!("/g/{i}")).collect();
        let q = insights::find("reads-by-secret").unwrap();
        let t = tasks(&[q], &groups, 0, 10);
        let sizes: Vec<usize> = t.iter().map(|t| t.log_groups.len()).collect();
        assert_eq!(sizes, [50, 50, 20]);
    }

    #[test]
    fn the_window_must_be_ordered() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            window("1h", None, now).unwrap(),
            (1_795_863_600, 1_795_867_200)
        );
        assert!(window("1h", Some("2h"), now).is_err());
        assert!(window("soon", None, now).is_err());
    }
}
