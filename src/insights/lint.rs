//! A Logs Insights command pipeline, parsed just enough to catch the
//! mistakes that change the answer (FACTS.md: the guide's queries make
//! them): `limit`/`sort`/`dedup` before `filter` or `stats`, fields used
//! after `stats` that it did not produce, a secret query without the
//! resource or stage filter, a numeric field compared with a string, and
//! more than two `stats`. Pure: text in, positioned findings out.

use std::collections::BTreeSet;
use std::fmt;

/// One command of the pipeline: `filter ...`, `stats ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Lower-case command word.
    pub name: String,
    /// The text after the command word.
    pub args: String,
    /// Byte offset of the command word in the query text.
    pub offset: usize,
    /// Byte offset of `args` in the query text.
    pub args_offset: usize,
}

/// A token of a command's arguments, with its byte offset in the query.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A field name, a function name or a keyword (backticks removed).
    Word(String, usize),
    /// A quoted string literal, unquoted.
    Str(String, usize),
    /// A `/regex/`, without the slashes.
    Regex(String, usize),
    /// A number or a duration such as `1h`.
    Number(String, usize),
    /// An operator or punctuation: `=`, `<=`, `(`, `,`, `[`...
    Punct(String, usize),
}

impl Token {
    pub fn offset(&self) -> usize {
        match self {
            Token::Word(_, o)
            | Token::Str(_, o)
            | Token::Regex(_, o)
            | Token::Number(_, o)
            | Token::Punct(_, o) => *o,
        }
    }
}

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

pub const RULE_ORDER: &str = "order";
pub const RULE_AFTER_STATS: &str = "field-after-stats";
pub const RULE_SECRET_SCOPE: &str = "secret-scope";
pub const RULE_NUMBER_AS_STRING: &str = "number-as-string";
pub const RULE_TOO_MANY_STATS: &str = "too-many-stats";

/// Fields that hold numbers in audit events.
const NUMERIC_FIELDS: [&str; 1] = ["responseStatus.code"];

const KEYWORDS: [&str; 11] = [
    "and", "or", "not", "like", "in", "as", "by", "asc", "desc", "true", "false",
];

/// Splits a query into its commands at top-level `|`, skipping `#` comment
/// lines and respecting quotes, backticks, regexes and brackets.
pub fn parse(text: &str) -> Vec<Command> {
    let bytes = text.as_bytes();
    let mut segments: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut depth = 0i32;
    let mut line_start = true;
    while i < bytes.len() {
        let c = bytes[i];
        if line_start && c == b'#' {
            // A comment line: blank it out of the current segment.
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'\n' {
            line_start = true;
            i += 1;
            continue;
        }
        if !c.is_ascii_whitespace() {
            line_start = false;
        }
        match c {
            b'"' | b'\'' | b'`' => i = skip_quoted(bytes, i),
            b'/' if regex_allowed(&text[..i]) => i = skip_quoted(bytes, i),
            b'(' | b'[' => {
                depth += 1;
                i += 1
            }
            b')' | b']' => {
                depth -= 1;
                i += 1
            }
            b'|' if depth <= 0 => {
                segments.push((start, i));
                start = i + 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    segments.push((start, text.len()));
    segments
        .into_iter()
        .filter_map(|(s, e)| command_of(text, s, e))
        .collect()
}

/// Whether a `/` starts a regex: after `like`, `=~`, `(`, `,` or a command word.
fn regex_allowed(before: &str) -> bool {
    let t = before.trim_end();
    t.ends_with("like")
        || t.ends_with("=~")
        || t.ends_with('(')
        || t.ends_with(',')
        || t.ends_with("filter")
}

/// Index just past a quoted run starting at `i` (quote char at `i`).
/// The text between the quote at `i` and the end `j` that [`skip_quoted`]
/// found: without the closing quote when there is one (an unclosed quote
/// runs to the end of the text).
fn quoted_inner(s: &str, i: usize, j: usize) -> &str {
    let b = s.as_bytes();
    let end = if j > i + 1 && b[j - 1] == b[i] {
        j - 1
    } else {
        j
    };
    &s[i + 1..end.max(i + 1)]
}

fn skip_quoted(bytes: &[u8], i: usize) -> usize {
    let q = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() {
        if bytes[j] == b'\\' && q != b'`' {
            j += 2;
            continue;
        }
        if bytes[j] == q {
            return j + 1;
        }
        j += 1;
    }
    bytes.len()
}

fn command_of(text: &str, s: usize, e: usize) -> Option<Command> {
    // Comment lines blanked (same length), so offsets stay those of `text`.
    let seg = strip_comments(&text[s..e]);
    let rel = seg.find(|c: char| !c.is_whitespace())?;
    let rest = &seg[rel..];
    let word_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    Some(Command {
        name: rest[..word_len].to_ascii_lowercase(),
        args: rest[word_len..].to_owned(),
        offset: s + rel,
        args_offset: s + rel + word_len,
    })
}

/// Replaces `#` comment lines with spaces (keeping offsets).
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (n, line) in s.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        if line.trim_start().starts_with('#') {
            out.extend(std::iter::repeat_n(' ', line.len()));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Tokens of a command's arguments (offsets relative to the query text).
pub fn tokens(cmd: &Command) -> Vec<Token> {
    let s = cmd.args.as_str();
    let b = s.as_bytes();
    let base = cmd.args_offset;
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let at = base + i;
        match c {
            b'"' | b'\'' => {
                let j = skip_quoted(b, i);
                let inner = quoted_inner(s, i, j);
                out.push(Token::Str(inner.to_owned(), at));
                i = j;
            }
            b'`' => {
                let j = skip_quoted(b, i);
                let inner = quoted_inner(s, i, j);
                out.push(Token::Word(inner.to_owned(), at));
                i = j;
            }
            b'/' if matches!(out.last(), Some(Token::Word(w, _)) if w.eq_ignore_ascii_case("like"))
                || matches!(out.last(), Some(Token::Punct(p, _)) if p == "=~" || p == "(" || p == ",")
                || out.is_empty() =>
            {
                let j = skip_quoted(b, i);
                let inner = quoted_inner(s, i, j);
                out.push(Token::Regex(inner.to_owned(), at));
                i = j;
            }
            c if c.is_ascii_digit() => {
                let j = i + s[i..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '.'))
                    .unwrap_or(s.len() - i);
                out.push(Token::Number(s[i..j].to_owned(), at));
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == b'@' || c == b'_' => {
                let j = i + s[i..]
                    .find(|ch: char| {
                        !(ch.is_ascii_alphanumeric() || matches!(ch, '@' | '.' | '_' | '$'))
                    })
                    .unwrap_or(s.len() - i);
                out.push(Token::Word(s[i..j].to_owned(), at));
                i = j;
            }
            _ => {
                let two = s.get(i..i + 2).unwrap_or("");
                let p = if matches!(two, "<=" | ">=" | "!=" | "==" | "=~") {
                    two
                } else {
                    &s[i..i + s[i..].chars().next().map_or(1, char::len_utf8)]
                };
                out.push(Token::Punct(p.to_owned(), at));
                i += p.len();
            }
        }
    }
    out
}

/// Field names a command reads (not functions, keywords or new aliases).
pub fn field_refs(cmd: &Command) -> Vec<(String, usize)> {
    let toks = tokens(cmd);
    let mut out = Vec::new();
    for (k, t) in toks.iter().enumerate() {
        let Token::Word(w, at) = t else { continue };
        if KEYWORDS.iter().any(|kw| w.eq_ignore_ascii_case(kw)) {
            continue;
        }
        if matches!(toks.get(k + 1), Some(Token::Punct(p, _)) if p == "(") {
            continue; // a function
        }
        if k > 0 && matches!(&toks[k - 1], Token::Word(a, _) if a.eq_ignore_ascii_case("as")) {
            continue; // an alias being defined
        }
        out.push((w.clone(), *at));
    }
    out
}

/// How an output column of `stats` merges across time chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// A group key (`by ...`).
    Key,
    /// `count`, `sum`: add per key.
    Sum,
    Min,
    Max,
    /// `avg`, `count_distinct`, percentiles...: cannot be merged.
    Other,
}

/// Output columns of a `stats` command, in order: aggregates then keys.
pub fn stats_outputs(cmd: &Command) -> Vec<(String, Agg)> {
    let items = split_top_level(&cmd.args);
    let mut out = Vec::new();
    let mut in_by = false;
    for item in items {
        let mut text = item.trim();
        if !in_by {
            if let Some(pos) = find_word(text, "by") {
                let (aggs, keys) = text.split_at(pos);
                let a = aggs.trim();
                if !a.is_empty() {
                    out.push(output_of(a, false));
                }
                in_by = true;
                text = keys[2..].trim();
                if text.is_empty() {
                    continue;
                }
            }
        }
        if text.is_empty() {
            continue;
        }
        out.push(output_of(text, in_by));
    }
    out
}

fn output_of(expr: &str, key: bool) -> (String, Agg) {
    let (e, alias) = match find_word(expr, "as") {
        Some(p) => (expr[..p].trim(), Some(expr[p + 2..].trim())),
        None => (expr.trim(), None),
    };
    let name = alias
        .map(|a| a.trim_matches('`').to_owned())
        .unwrap_or_else(|| e.trim_matches('`').to_owned());
    if key {
        return (name, Agg::Key);
    }
    let func = e
        .split('(')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let agg = match func.as_str() {
        "count" | "sum" => Agg::Sum,
        "min" => Agg::Min,
        "max" => Agg::Max,
        _ => Agg::Other,
    };
    (name, agg)
}

/// Byte position of `word` as a whole word at bracket depth 0, outside quotes.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_quoted(b, i);
                continue;
            }
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            _ => {}
        }
        if depth == 0
            && b.len() - i >= word.len()
            && b[i..i + word.len()].eq_ignore_ascii_case(word.as_bytes())
            && (i == 0 || !is_word_byte(b[i - 1]))
            && b.get(i + word.len()).is_none_or(|&c| !is_word_byte(c))
        {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'@')
}

/// Splits at commas at bracket depth 0, outside quotes.
fn split_top_level(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_quoted(b, i);
                continue;
            }
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            b',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

/// Output names of `fields`/`display` items (`x as y` gives `y`).
pub fn field_outputs(cmd: &Command) -> Vec<String> {
    split_top_level(&cmd.args)
        .into_iter()
        .map(|item| {
            let item = item.trim();
            match find_word(item, "as") {
                Some(p) => item[p + 2..].trim().trim_matches('`').to_owned(),
                None => item.trim_matches('`').to_owned(),
            }
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Line and column (1-based, in characters) of a byte offset.
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    Positions::new(text).at(offset)
}

/// Lines and columns of many offsets of one text, each in time independent
/// of the text's length (a query of megabytes has as many findings).
struct Positions<'a> {
    text: &'a str,
    /// Where each line after the first starts.
    line_starts: Vec<usize>,
    /// Characters before every `CHECKPOINT`-th byte (at a char boundary).
    checkpoints: Vec<(usize, usize)>,
}

const CHECKPOINT: usize = 4096;

impl<'a> Positions<'a> {
    fn new(text: &'a str) -> Positions<'a> {
        let line_starts = memchr::memchr_iter(b'\n', text.as_bytes())
            .map(|i| i + 1)
            .collect();
        let mut checkpoints = vec![(0, 0)];
        let (mut byte, mut chars) = (0, 0);
        while byte + CHECKPOINT < text.len() {
            let mut next = byte + CHECKPOINT;
            while !text.is_char_boundary(next) {
                next += 1;
            }
            chars += text[byte..next].chars().count();
            byte = next;
            checkpoints.push((byte, chars));
        }
        Positions {
            text,
            line_starts,
            checkpoints,
        }
    }

    /// Characters before byte `offset`.
    fn chars(&self, offset: usize) -> usize {
        let i = self.checkpoints.partition_point(|c| c.0 <= offset) - 1;
        let (byte, chars) = self.checkpoints[i];
        chars + self.text[byte..offset].chars().count()
    }

    fn at(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = if line == 0 {
            0
        } else {
            self.line_starts[line - 1]
        };
        (line + 1, self.chars(offset) - self.chars(start) + 1)
    }
}

/// How many of `stats`'s fields a finding names.
const NAMES_SHOWN: usize = 8;

/// Every mistake in a query, in order of position.
///
/// Long: five rules inline over one token walk; the Insights language's own
/// parser and linter (an open issue) replace it.
pub fn lint(text: &str) -> Vec<Finding> {
    let cmds = parse(text);
    let mut found: Vec<(usize, &'static str, String)> = Vec::new();
    let positions = Positions::new(text);
    let pos = |o: usize| {
        let (l, c) = positions.at(o);
        format!("{l}:{c}")
    };

    // limit/sort/dedup before filter or stats.
    for (i, c) in cmds.iter().enumerate() {
        if !matches!(c.name.as_str(), "limit" | "sort" | "dedup") {
            continue;
        }
        if let Some(later) = cmds[i + 1..]
            .iter()
            .find(|l| matches!(l.name.as_str(), "filter" | "stats"))
        {
            let why = if c.name == "sort" {
                "which discards or ignores that order".to_owned()
            } else {
                format!("which then sees only the rows `{}` kept", c.name)
            };
            found.push((
                c.offset,
                RULE_ORDER,
                format!(
                    "`{}` runs before `{}` at {}, {why}; filter first, then stats, then sort, then limit",
                    c.name,
                    later.name,
                    pos(later.offset),
                ),
            ));
        }
    }

    // Fields used after stats that it did not produce.
    let mut available: Option<(BTreeSet<String>, usize)> = None;
    for c in &cmds {
        if let Some((set, stats_at)) = &available {
            for (f, at) in field_refs(c) {
                if !set.contains(&f) {
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
        match c.name.as_str() {
            "stats" => {
                let outs = stats_outputs(c).into_iter().map(|(n, _)| n).collect();
                available = Some((outs, c.offset));
            }
            "fields" => {
                if let Some((set, _)) = &mut available {
                    set.extend(field_outputs(c));
                }
            }
            _ => {}
        }
    }

    // A secret query must filter on the resource and the stage before stats.
    let mentions_secrets = cmds.iter().any(|c| {
        tokens(c).iter().any(|t| match t {
            Token::Str(s, _) | Token::Regex(s, _) => s.contains("secrets"),
            Token::Word(w, _) => w == "objectRef.resource",
            _ => false,
        })
    });
    if mentions_secrets {
        let first_stats = cmds.iter().position(|c| c.name == "stats");
        let before = &cmds[..first_stats.unwrap_or(cmds.len())];
        let has = |field: &str, value: &str| {
            before.iter().filter(|c| c.name == "filter").any(|c| {
                let t = tokens(c);
                t.iter()
                    .any(|x| matches!(x, Token::Word(w, _) if w == field))
                    && t.iter()
                        .any(|x| matches!(x, Token::Str(s, _) if s == value))
            })
        };
        let at = first_stats.map_or(text.trim_end().len(), |i| cmds[i].offset);
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

    // A numeric field compared with a string.
    for c in &cmds {
        let t = tokens(c);
        for (k, tok) in t.iter().enumerate() {
            let Token::Word(w, at) = tok else { continue };
            if !NUMERIC_FIELDS.contains(&w.as_str()) {
                continue;
            }
            let op = t.get(k + 1);
            let rhs = t.get(k + 2);
            let bad = match (op, rhs) {
                (Some(Token::Punct(p, _)), Some(Token::Str(s, _)))
                    if matches!(p.as_str(), "=" | "==" | "!=" | "<" | "<=" | ">" | ">=") =>
                {
                    Some(s.clone())
                }
                (Some(Token::Word(kw, _)), Some(Token::Punct(b, _)))
                    if kw.eq_ignore_ascii_case("in") && b == "[" =>
                {
                    t[k + 3..]
                        .iter()
                        .take_while(|x| !matches!(x, Token::Punct(p, _) if p == "]"))
                        .find_map(|x| match x {
                            Token::Str(s, _) => Some(s.clone()),
                            _ => None,
                        })
                }
                _ => None,
            };
            if let Some(s) = bad {
                found.push((
                    *at,
                    RULE_NUMBER_AS_STRING,
                    format!("`{w}` is a number, compared here with the string \"{s}\"; write {s} without quotes"),
                ));
            }
        }
    }

    // At most two stats.
    let stats: Vec<&Command> = cmds.iter().filter(|c| c.name == "stats").collect();
    for extra in stats.iter().skip(2) {
        found.push((
            extra.offset,
            RULE_TOO_MANY_STATS,
            format!(
                "a query may have at most two `stats` commands; this is number {}",
                stats
                    .iter()
                    .position(|s| s.offset == extra.offset)
                    .unwrap_or(0)
                    + 1
            ),
        ));
    }

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

#[cfg(test)]
mod tests {
    use super::*;

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
                "1:31: order: `sort` runs before `stats` at 1:66, which discards or ignores that order; filter first, then stats, then sort, then limit",
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
                "2:3: order: `sort` runs before `filter` at 4:3, which discards or ignores that order; filter first, then stats, then sort, then limit",
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
    fn sort_or_dedup_before_stats_is_reported() {
        assert_eq!(
            rules("sort @timestamp desc | stats count(*) as n"),
            [RULE_ORDER]
        );
        assert_eq!(rules("dedup auditID | stats count(*) as n"), [RULE_ORDER]);
        assert_eq!(
            rules("stats count(*) as n | sort n desc | limit 5"),
            Vec::<&str>::new()
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
