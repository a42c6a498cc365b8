//! The lint of Logs Insights queries: the language's own mistakes
//! (unknown commands and functions, arity, syntax, from the grammar in
//! `lang`) and the mistakes that change the answer (FACTS.md: the guide's
//! queries make them): `limit` or `dedup` before `filter` or `stats`,
//! anything but `limit` after `dedup`, fields used after `stats` that it
//! did not produce, a secret query without the resource or stage filter, a
//! numeric field compared with a string, and more than two `stats`. An
//! order that does not change the result (`sort` before `filter`) is not a
//! finding. Pure: text in, positioned findings out.

use std::collections::BTreeSet;
use std::fmt;

use super::lang::{self, BinOp, Expr, Op, Stage};
use super::syntax::Positions;

/// One mistake, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: usize,
    pub column: usize,
    pub rule: &'static str,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.line, self.column, self.rule, self.message
        )
    }
}

pub use lang::{RULE_ARITY, RULE_SYNTAX, RULE_UNKNOWN_COMMAND, RULE_UNKNOWN_FUNCTION};
pub const RULE_ORDER: &str = "order";
pub const RULE_AFTER_DEDUP: &str = "after-dedup";
pub const RULE_AFTER_STATS: &str = "field-after-stats";
pub const RULE_SECRET_SCOPE: &str = "secret-scope";
pub const RULE_NUMBER_AS_STRING: &str = "number-as-string";
pub const RULE_TOO_MANY_STATS: &str = "too-many-stats";

/// Fields that hold numbers in audit events.
const NUMERIC_FIELDS: [&str; 1] = ["responseStatus.code"];
/// How many of `stats`'s fields a finding names.
const NAMES_SHOWN: usize = 8;

type Found = Vec<(usize, &'static str, String)>;

/// Every mistake in a query, in order of position.
pub fn lint(text: &str) -> Vec<Finding> {
    let (stages, errors) = lang::parse(text);
    let positions = Positions::new(text);
    let pos = |o: usize| {
        let (l, c) = positions.at(o);
        format!("{l}:{c}")
    };
    let mut found: Found = errors
        .into_iter()
        .map(|e| (e.offset, e.rule, e.message))
        .collect();
    order(&stages, &pos, &mut found);
    after_stats(&stages, &pos, &mut found);
    secret_scope(text, &stages, &mut found);
    number_as_string(&stages, &mut found);
    too_many_stats(&stages, &mut found);
    found.sort_by_key(|f| f.0);
    found
        .into_iter()
        .map(|(o, rule, message)| {
            let (line, column) = positions.at(o);
            Finding {
                line,
                column,
                rule,
                message,
            }
        })
        .collect()
}

/// `limit` or `dedup` before `filter` or `stats` (which then see only the
/// rows kept); anything but `limit` after `dedup` (the language allows
/// only `limit` there).
fn order(stages: &[Stage], pos: &dyn Fn(usize) -> String, found: &mut Found) {
    for (i, c) in stages.iter().enumerate() {
        let rest = &stages[i + 1..];
        if c.name == "dedup" {
            if let Some(next) = rest.iter().find(|s| s.name != "limit") {
                found.push((
                    next.offset,
                    RULE_AFTER_DEDUP,
                    format!(
                        "`{}` follows `dedup` at {}: only `limit` may follow `dedup`",
                        next.name,
                        pos(c.offset)
                    ),
                ));
            }
        }
        if !matches!(c.name.as_str(), "limit" | "dedup") {
            continue;
        }
        if let Some(later) = rest
            .iter()
            .find(|l| matches!(l.name.as_str(), "filter" | "stats"))
        {
            found.push((
                c.offset,
                RULE_ORDER,
                format!(
                    "`{}` runs before `{}` at {}, which then sees only the rows `{}` kept; \
                     filter first, then stats, then sort, then limit",
                    c.name,
                    later.name,
                    pos(later.offset),
                    c.name,
                ),
            ));
        }
    }
}

/// Fields used after `stats` that it did not produce.
fn after_stats(stages: &[Stage], pos: &dyn Fn(usize) -> String, found: &mut Found) {
    let mut available: Option<(BTreeSet<String>, usize)> = None;
    for c in stages {
        if let Some((set, stats_at)) = &available {
            for e in c.exprs() {
                for (f, at) in e.fields() {
                    if set.contains(f) {
                        continue;
                    }
                    // The first few names: a finding stays short however
                    // many fields `stats` makes (the set is sorted).
                    let mut have: Vec<String> = set
                        .iter()
                        .take(NAMES_SHOWN)
                        .map(|h| format!("`{h}`"))
                        .collect();
                    if set.len() > NAMES_SHOWN {
                        have.push(format!("{} more", set.len() - NAMES_SHOWN));
                    }
                    found.push((
                        at,
                        RULE_AFTER_STATS,
                        format!(
                            "`{f}` is used after `stats` at {}, which does not produce it (it produces {})",
                            pos(*stats_at),
                            have.join(", ")
                        ),
                    ));
                }
            }
        }
        match &c.op {
            Op::Stats { aggs, by } => {
                let outs = aggs.iter().chain(by).map(|i| i.name().to_owned()).collect();
                available = Some((outs, c.offset));
            }
            Op::Fields(items) => {
                if let Some((set, _)) = &mut available {
                    set.extend(items.iter().map(|i| i.name().to_owned()));
                }
            }
            Op::Parse { names, .. } => {
                if let Some((set, _)) = &mut available {
                    set.extend(names.iter().cloned());
                }
            }
            _ => {}
        }
    }
}

/// Whether `e` holds `field = "value"` (or `field in [.., "value", ..]`).
fn compares(e: &Expr, field: &str, value: &str) -> bool {
    let mut hit = false;
    e.walk(&mut |x| match x {
        Expr::Bin(BinOp::Eq, a, b) => {
            let pair = |a: &Expr, b: &Expr| {
                matches!(a, Expr::Field(f, _) if f == field)
                    && matches!(b, Expr::Str(v) if v == value)
            };
            hit |= pair(a, b) || pair(b, a);
        }
        Expr::In(a, list) => {
            hit |= matches!(&**a, Expr::Field(f, _) if f == field)
                && list.iter().any(|v| matches!(v, Expr::Str(v) if v == value));
        }
        _ => {}
    });
    hit
}

/// A secret query must filter on the resource and the stage before stats.
fn secret_scope(text: &str, stages: &[Stage], found: &mut Found) {
    let mentions_secrets = stages.iter().flat_map(Stage::exprs).any(|e| {
        let mut hit = false;
        e.walk(&mut |x| {
            hit |= match x {
                Expr::Str(s) | Expr::Regex(s) => s.contains("secrets"),
                Expr::Field(f, _) => f == "objectRef.resource",
                _ => false,
            }
        });
        hit
    });
    if !mentions_secrets {
        return;
    }
    let first_stats = stages.iter().position(|c| c.name == "stats");
    let before = &stages[..first_stats.unwrap_or(stages.len())];
    let has = |field: &str, value: &str| {
        before
            .iter()
            .any(|c| matches!(&c.op, Op::Filter(e) if compares(e, field, value)))
    };
    let at = first_stats.map_or(text.trim_end().len(), |i| stages[i].offset);
    let where_ = if first_stats.is_some() {
        "before `stats`"
    } else {
        "in the query"
    };
    if !has("objectRef.resource", "secrets") {
        found.push((
            at,
            RULE_SECRET_SCOPE,
            format!("no `filter objectRef.resource = \"secrets\"` {where_}: the query counts events of every resource"),
        ));
    }
    if !has("stage", "ResponseComplete") {
        found.push((
            at,
            RULE_SECRET_SCOPE,
            format!("no `filter stage = \"ResponseComplete\"` {where_}: a watch is logged at ResponseStarted and again at ResponseComplete, so it counts twice"),
        ));
    }
}

/// A numeric field compared with a string.
fn number_as_string(stages: &[Stage], found: &mut Found) {
    for e in stages.iter().flat_map(Stage::exprs) {
        e.walk(&mut |x| {
            let (field, s) = match x {
                Expr::Bin(
                    BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge,
                    a,
                    b,
                ) => match (&**a, &**b) {
                    (Expr::Field(f, at), Expr::Str(s)) => ((f, *at), s),
                    _ => return,
                },
                Expr::In(a, list) => match (&**a, list.iter().find_map(|v| match v {
                    Expr::Str(s) => Some(s),
                    _ => None,
                })) {
                    (Expr::Field(f, at), Some(s)) => ((f, *at), s),
                    _ => return,
                },
                _ => return,
            };
            if NUMERIC_FIELDS.contains(&field.0.as_str()) {
                found.push((
                    field.1,
                    RULE_NUMBER_AS_STRING,
                    format!(
                        "`{}` is a number, compared here with the string \"{s}\"; write {s} without quotes",
                        field.0
                    ),
                ));
            }
        });
    }
}

/// At most two `stats`.
fn too_many_stats(stages: &[Stage], found: &mut Found) {
    for (n, extra) in stages
        .iter()
        .filter(|c| c.name == "stats")
        .enumerate()
        .skip(2)
    {
        found.push((
            extra.offset,
            RULE_TOO_MANY_STATS,
            format!(
                "a query may have at most two `stats` commands; this is number {}",
                n + 1
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::syntax::{parse, position, stats_outputs, Agg};

    /// The guide's first query, verbatim (FACTS.md 2).
    const GUIDE_FIRST: &str = r#"fields @timestamp, @message | sort @timestamp desc | limit 100 | stats count(*) by objectRef.name as secret | filter verb="get" and objectRef.resource="secrets""#;
    /// The guide's second query, reconstructed (FACTS.md 3 records only
    /// that it puts `limit 100` before `filter`).
    const GUIDE_SECOND: &str = include_str!("../../fixtures/insights/guide-secret-access.insights");

    #[test]
    fn the_guides_first_query_fails_with_the_right_messages() {
        assert_eq!(
            include_str!("../../fixtures/insights/guide-secret-reads.insights").trim_end(),
            GUIDE_FIRST
        );
        let f: Vec<String> = lint(GUIDE_FIRST).iter().map(|f| f.to_string()).collect();
        assert_eq!(
            f,
            [
                "1:54: order: `limit` runs before `stats` at 1:66, which then sees only the rows `limit` kept; filter first, then stats, then sort, then limit",
                "1:66: secret-scope: no `filter objectRef.resource = \"secrets\"` before `stats`: the query counts events of every resource",
                "1:66: secret-scope: no `filter stage = \"ResponseComplete\"` before `stats`: a watch is logged at ResponseStarted and again at ResponseComplete, so it counts twice",
                "1:118: field-after-stats: `verb` is used after `stats` at 1:66, which does not produce it (it produces `count(*)`, `secret`)",
                "1:133: field-after-stats: `objectRef.resource` is used after `stats` at 1:66, which does not produce it (it produces `count(*)`, `secret`)",
            ]
        );
    }

    #[test]
    fn the_guides_second_query_fails_with_the_right_messages() {
        let f: Vec<String> = lint(GUIDE_SECOND).iter().map(|f| f.to_string()).collect();
        assert_eq!(
            f,
            [
                "3:3: order: `limit` runs before `filter` at 4:3, which then sees only the rows `limit` kept; filter first, then stats, then sort, then limit",
                "5:82: secret-scope: no `filter stage = \"ResponseComplete\"` in the query: a watch is logged at ResponseStarted and again at ResponseComplete, so it counts twice",
            ]
        );
    }

    fn rules(text: &str) -> Vec<&'static str> {
        lint(text).into_iter().map(|f| f.rule).collect()
    }

    const GOOD: &str = "filter objectRef.resource = \"secrets\" and stage = \"ResponseComplete\"\n| stats count(*) as n by verb\n| sort n desc\n| limit 10";

    #[test]
    fn a_correct_query_has_no_findings() {
        assert_eq!(lint(GOOD), []);
    }

    #[test]
    fn parse_splits_at_top_level_pipes_only() {
        let q = "filter @message like /a|b/ and x = \"c|d\" and `e|f` = 1\n| stats count(*) as n by bin(1h)";
        let cmds = parse(q);
        assert_eq!(cmds.len(), 2, "{cmds:?}");
        assert_eq!(cmds[0].name, "filter");
        assert_eq!(cmds[1].name, "stats");
        assert_eq!(position(q, cmds[1].offset), (2, 3));
    }

    #[test]
    fn comment_lines_are_skipped_and_positions_kept() {
        let q = format!("# name: x\n# columns: a | b\n{GOOD}");
        assert_eq!(parse(&q).len(), 4);
        assert_eq!(lint(&q), []);
        let bad = "# header\nlimit 5\n| filter stage = \"ResponseComplete\"";
        let f = lint(bad);
        assert_eq!((f[0].line, f[0].column, f[0].rule), (2, 1, RULE_ORDER));
    }

    #[test]
    fn limit_before_filter_is_reported_where_the_limit_is() {
        let q = "fields verb | limit 100 | filter verb = \"get\"";
        let f = lint(q);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].line, f[0].column, f[0].rule), (1, 15, RULE_ORDER));
        assert!(
            f[0].message
                .contains("`limit` runs before `filter` at 1:27"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn limit_or_dedup_before_filter_or_stats_is_reported_and_sort_is_not() {
        assert_eq!(
            rules("dedup auditID | stats count(*) as n"),
            [RULE_ORDER, RULE_AFTER_DEDUP]
        );
        assert_eq!(rules("limit 5 | stats count(*) as n"), [RULE_ORDER]);
        // A sort before a filter or stats does not change the result.
        assert_eq!(
            rules("sort @timestamp desc | filter verb = \"get\""),
            Vec::<&str>::new()
        );
        assert_eq!(
            rules("sort @timestamp desc | stats count(*) as n"),
            Vec::<&str>::new()
        );
        assert_eq!(
            rules("stats count(*) as n | sort n desc | limit 5"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn only_limit_may_follow_dedup() {
        let f = lint("fields verb | dedup verb | sort verb");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].rule, f[0].column), (RULE_AFTER_DEDUP, 28));
        assert!(
            f[0].message.contains("only `limit` may follow `dedup`"),
            "{}",
            f[0].message
        );
        assert_eq!(
            rules("fields verb | dedup verb | limit 5"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn unknown_commands_and_functions_are_named_where_they_are() {
        let f = lint("fields verb | summarize count(*)");
        assert_eq!((f[0].rule, f[0].column), (RULE_UNKNOWN_COMMAND, 15));
        assert!(f[0]
            .message
            .starts_with("`summarize` is not a Logs Insights command"));
        let f = lint("stats counts(*) as n");
        assert_eq!((f[0].rule, f[0].column), (RULE_UNKNOWN_FUNCTION, 7));
        assert_eq!(f[0].message, "`counts` is not a Logs Insights function");
        // Names are compared without regard to case, as the language does.
        assert_eq!(rules("stats COUNT(*) as n by BIN(1h)"), Vec::<&str>::new());
    }

    #[test]
    fn a_function_with_the_wrong_number_of_arguments_is_reported() {
        let f = lint("stats count_distinct() as n");
        assert_eq!(f[0].rule, RULE_ARITY);
        assert_eq!(f[0].message, "`count_distinct` takes 1 argument, not 0");
        assert_eq!(
            lint("fields substr(verb) as v")[0].message,
            "`substr` takes 2 to 3 arguments, not 1"
        );
        assert_eq!(
            lint("fields concat() as v")[0].message,
            "`concat` takes at least 1 argument, not 0"
        );
        assert_eq!(
            rules("fields substr(verb, 0, 2) as v, concat(a, b, c) as w"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn a_syntax_error_is_named_where_it_is() {
        let f = lint("filter (verb = \"get\" | limit 5");
        assert_eq!((f[0].rule, f[0].column), (RULE_SYNTAX, 22));
        assert_eq!(f[0].message, "missing `)`");
        let f = lint("filter verb in \"get\"");
        assert_eq!(f[0].message, "`in` takes a list: in [\"a\", \"b\"]");
        let f = lint("limit ten");
        assert_eq!(f[0].message, "`limit` takes a number of rows");
        // Every command is parsed: a mistake in one does not hide the next.
        assert_eq!(
            rules("filter verb = | stats nope(x) | limit 0"),
            [RULE_SYNTAX, RULE_UNKNOWN_FUNCTION, RULE_SYNTAX]
        );
    }

    #[test]
    fn fields_after_stats_must_be_its_outputs() {
        let f = lint(
            "stats count(*) as n by objectRef.name as secret | filter verb = \"get\" | sort n desc",
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, RULE_AFTER_STATS);
        assert!(
            f[0].message
                .starts_with("`verb` is used after `stats` at 1:1"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("`n`, `secret`"), "{}", f[0].message);
        // bin() keys, unaliased keys and aliases are outputs.
        assert_eq!(
            rules("stats count(*) by bin(5m), verb | sort verb"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn a_secret_query_needs_the_resource_and_stage_filters() {
        let f = lint("filter objectRef.resource = \"secrets\" | stats count(*) as n");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, RULE_SECRET_SCOPE);
        assert!(f[0].message.contains("stage = \"ResponseComplete\""));
        let f = lint("filter stage = \"ResponseComplete\" and @message like /secrets/");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("objectRef.resource = \"secrets\""));
        // Not about secrets: no finding.
        assert_eq!(
            rules("filter verb = \"get\" | stats count(*) as n"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn a_numeric_field_compared_with_a_string_is_reported() {
        let base = "filter objectRef.resource = \"secrets\" and stage = \"ResponseComplete\" and ";
        let f = lint(&format!("{base}responseStatus.code = \"401\""));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, RULE_NUMBER_AS_STRING);
        assert!(f[0].message.contains("\"401\""));
        assert_eq!(
            rules(&format!("{base}responseStatus.code in [\"401\", \"403\"]")),
            [RULE_NUMBER_AS_STRING]
        );
        assert_eq!(
            rules(&format!("{base}responseStatus.code in [401, 403]")),
            Vec::<&str>::new()
        );
        assert_eq!(
            rules(&format!("{base}responseStatus.code >= 400")),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn more_than_two_stats_is_reported() {
        let q = "stats count(*) as n by verb | stats sum(n) as m by verb | stats max(m) as x";
        let f = lint(q);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].rule, f[0].column), (RULE_TOO_MANY_STATS, 59));
        assert_eq!(
            rules("stats count(*) as n by verb | stats sum(n) as m"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn stats_outputs_know_how_they_merge() {
        let c = &parse("stats count(*) as reads, min(@timestamp) as first, max(@timestamp), count_distinct(user.username) by objectRef.namespace as namespace, bin(1h)")[0];
        assert_eq!(
            stats_outputs(c),
            [
                ("reads".to_owned(), Agg::Sum),
                ("first".to_owned(), Agg::Min),
                ("max(@timestamp)".to_owned(), Agg::Max),
                ("count_distinct(user.username)".to_owned(), Agg::Other),
                ("namespace".to_owned(), Agg::Key),
                ("bin(1h)".to_owned(), Agg::Key),
            ]
        );
    }
}
