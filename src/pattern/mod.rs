//! The CloudWatch Logs filter-pattern language, parsed and evaluated here,
//! because no emulator evaluates it and the EKS guide's own example never
//! matches (FACTS.md). Pure: no I/O, no AWS.
//!
//! What this follows is the CloudWatch Logs User Guide, "Filter pattern
//! syntax for metric filters, subscription filters, filter log events, and
//! Live Tail" (FilterAndPatternSyntax.html) and its pages "Using filter
//! patterns to match terms in JSON log events" and "... in unstructured log
//! events":
//!
//! - An empty pattern matches every event.
//! - Unstructured terms: an event matches when it contains every plain term
//!   and quoted phrase and none of the `-` terms; with only `?` terms, when
//!   it contains any of them. `?` terms beside plain or `-` terms are
//!   ignored (the 2024 guide: "all question mark terms will be ignored").
//!   `" "` and `""` match every event. "Filter patterns are case
//!   sensitive." Terms match as substrings (the guide's `ERROR` returns
//!   "Exiting with ERRORCODE: -1").
//! - `%regex%`: the regex syntax the guide allows (letters, digits, the
//!   symbols `_ # = @ / ; , - :` and the operators `^ $ ? [ ] { } | \ * + .`;
//!   no parentheses, no multi-byte characters, anything else an error at
//!   its position), unanchored, case sensitive; at most two a pattern.
//! - JSON patterns `{ ... }`: selectors `$.a.b[0].c`, with `[*]` and `.*`
//!   for every element or member (a condition holds when any value it
//!   reaches satisfies it; one a selector, three a pattern) and bracketed
//!   keys `$.['cluster.name']`; `= *` holds for a field that is there and
//!   is not an array or object; `=` and `!=` against a string (quoted, or a
//!   bare word; `*` is a wildcard at its start or end, itself elsewhere) or
//!   a `%regex%`; `=`,
//!   `!=`, `<`, `<=`, `>`, `>=` against a number; `IS TRUE`, `IS FALSE`,
//!   `IS NULL`, `NOT EXISTS`; `&&`, `||` (`&&` binds tighter) and
//!   parentheses. A comparison on a field the event does not have never
//!   matches, `!=` included: only `NOT EXISTS` matches a missing field
//!   (confirmed with the console's "Test pattern" in DataBiosphere/azul#5884:
//!   `$.userIdentity.invokedBy != "..."` does not match an event without
//!   `invokedBy`). A
//!   string comparison matches only string values and a numeric one only
//!   number values (the guide separates string and numeric comparisons;
//!   how CloudWatch compares `"200"` with 200 is *unverified*, and no
//!   pattern of ours depends on it). An event that is not JSON never matches.
//! - Space-delimited patterns `[ip, user, ..., status_code = 4*]`: see
//!   `delimited`.
//! - Patterns are at most 1,024 characters (the PutMetricFilter limit).

use std::fmt;

use serde_json::Value;

pub(crate) mod delimited;

/// The longest pattern CloudWatch accepts.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Regular expressions a pattern may hold (the guide's quota).
const MAX_REGEXES: usize = 2;
const TOO_MANY_REGEXES: &str = "a filter pattern may hold at most 2 regular expressions";

/// Wildcard selectors (`[*]`, `.*`) a property selector and a pattern may
/// hold (the guide's quotas).
const MAX_SELECTOR_WILDCARDS: usize = 1;
const MAX_PATTERN_WILDCARDS: usize = 3;

/// The symbols the guide lets a regular expression hold, besides letters
/// and digits: `_ # = @ / ; , - :` and the operators `^ $ ? [ ] { } | \ * + .`
/// (and spaces).
fn regex_symbol(c: char) -> bool {
    "_#=@/;,-: ^$?[]{}|\\*+.".contains(c)
}

/// A syntax error, with the 1-based character position it was found at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter pattern at character {position}: {message}")]
pub struct PatternError {
    pub position: usize,
    pub message: String,
}

/// A parsed filter pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    All,
    Terms(Terms),
    Regex(regex::bytes::Regex),
    Json(Expr),
    Delimited(delimited::Delimited),
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Terms {
    required: Vec<String>,
    excluded: Vec<String>,
    any: Vec<String>,
}

#[derive(Debug, Clone)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Selector, Op, Literal),
    IsNull(Selector),
    NotExists(Selector),
    IsBool(Selector, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// Whether `f OP n`.
    fn holds(self, f: f64, n: f64) -> bool {
        match self {
            Op::Eq => f == n,
            Op::Ne => f != n,
            Op::Lt => f < n,
            Op::Le => f <= n,
            Op::Gt => f > n,
            Op::Ge => f >= n,
        }
    }
}

#[derive(Debug, Clone)]
enum Literal {
    /// A string with `*` wildcards.
    Str(String),
    Num(f64),
    Regex(regex::bytes::Regex),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    /// `.*`: every member of an object.
    AnyKey,
    /// `[*]`: every element of an array.
    AnyIndex,
}

#[derive(Debug, Clone, PartialEq)]
struct Selector(Vec<Step>);

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let len = text.chars().count();
        if len > MAX_PATTERN_LEN {
            return Err(PatternError {
                position: MAX_PATTERN_LEN + 1,
                message: format!(
                    "the pattern has {len} characters; CloudWatch accepts at most {MAX_PATTERN_LEN}"
                ),
            });
        }
        let trimmed = text.trim();
        let offset = text.len() - text.trim_start().len();
        let kind = if trimmed.is_empty() {
            Kind::All
        } else if trimmed.starts_with('{') {
            Kind::Json(JsonParser::new(text, offset).parse()?)
        } else if trimmed.starts_with('[') {
            Kind::Delimited(delimited::parse(text, offset)?)
        } else if trimmed.len() >= 2 && trimmed.starts_with('%') && trimmed.ends_with('%') {
            Kind::Regex(regex(text, offset, &trimmed[1..trimmed.len() - 1])?)
        } else {
            Kind::Terms(parse_terms(text)?)
        };
        Ok(Pattern {
            text: text.to_owned(),
            kind,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The readings of the guide's silences this pattern's result depends
    /// on (docs/patterns.md), for `test-pattern` to name; each fits a line
    /// of 80 columns after "assuming ".
    pub fn assumptions(&self) -> Vec<&'static str> {
        /// What a JSON pattern's comparisons depend on: numbers, strings,
        /// a `*` inside a value.
        fn json(e: &Expr, out: &mut [bool; 3]) {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => {
                    json(a, out);
                    json(b, out);
                }
                Expr::Compare(_, _, Literal::Num(_)) => out[0] = true,
                Expr::Compare(_, _, Literal::Str(p)) => {
                    out[1] = true;
                    out[2] |= inner_star(p);
                }
                Expr::Compare(_, _, Literal::Regex(_)) => out[1] = true,
                _ => {}
            }
        }
        const INNER_STAR: &str = "a * inside a value is itself (Ev*ent matches only Ev*ent)";
        match &self.kind {
            Kind::Terms(t) => {
                let mut out = vec!["terms match anywhere in a message, not only whole words"];
                if t.ignores_optional() {
                    out.push("? terms are ignored beside plain or - terms (the 2024 guide)");
                }
                out
            }
            Kind::Json(e) => {
                let mut flags = [false; 3];
                json(e, &mut flags);
                let mut out = Vec::new();
                if flags[0] {
                    out.push("a number matches only a JSON number (\"200\" is not 200)");
                }
                if flags[1] {
                    out.push("a string matches only a JSON string (200 is not \"200\")");
                }
                if flags[2] {
                    out.push(INNER_STAR);
                }
                out
            }
            Kind::Delimited(d) => {
                let mut out = Vec::new();
                if d.compares_numbers() {
                    out.push("a field compares as a number when it reads as one (200.0 = 200)");
                }
                if d.has_inner_star() {
                    out.push(INNER_STAR);
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// Whether this is a JSON pattern (`{ ... }`).
    pub fn is_json(&self) -> bool {
        matches!(self.kind, Kind::Json(_))
    }

    /// Whether a log event's message matches.
    pub fn matches(&self, message: &[u8]) -> bool {
        match &self.kind {
            Kind::All => true,
            Kind::Terms(t) => t.matches(message),
            Kind::Regex(r) => r.is_match(message),
            Kind::Json(e) => match serde_json::from_slice::<Value>(message.trim_ascii()) {
                Ok(v) => e.eval(&v),
                Err(_) => false,
            },
            Kind::Delimited(d) => d.matches(&String::from_utf8_lossy(message)),
        }
    }

    pub fn matches_str(&self, message: &str) -> bool {
        self.matches(message.as_bytes())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// 1-based character position of a byte offset.
fn char_pos(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].chars().count() + 1
}

fn regex(text: &str, at: usize, body: &str) -> Result<regex::bytes::Regex, PatternError> {
    let err = |i: usize, message: String| PatternError {
        position: char_pos(text, at + 1 + i),
        message,
    };
    if body.is_empty() {
        return Err(err(0, "empty regular expression".into()));
    }
    for (i, c) in body.char_indices() {
        if c == '(' || c == ')' {
            return Err(err(
                i,
                "CloudWatch regular expressions do not support parentheses".into(),
            ));
        }
        if !c.is_ascii() {
            return Err(err(
                i,
                "CloudWatch regular expressions do not support multi-byte characters".into(),
            ));
        }
        if c.is_ascii_control() {
            return Err(err(i, "control character in a regular expression".into()));
        }
        if !c.is_ascii_alphanumeric() && !regex_symbol(c) {
            return Err(err(
                i,
                format!("CloudWatch regular expressions do not support `{c}`"),
            ));
        }
    }
    // ASCII classes (`\d`, `\w`; `.` is any byte but a newline), as
    // CloudWatch's are.
    regex::bytes::RegexBuilder::new(body)
        .unicode(false)
        .build()
        .map_err(|e| err(0, format!("invalid regular expression: {e}")))
}

fn parse_terms(text: &str) -> Result<Terms, PatternError> {
    let mut t = Terms::default();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let sign = match b[i] {
            b'?' | b'-' => {
                i += 1;
                // `"ERROR" - "Exiting"`: a sign may stand apart from its term.
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i == b.len() {
                    return Err(PatternError {
                        position: char_pos(text, start),
                        message: format!("`{}` without a term after it", b[start] as char),
                    });
                }
                Some(b[start])
            }
            _ => None,
        };
        let quoted = i < b.len() && b[i] == b'"';
        let term = if quoted {
            let (phrase, end) = quoted_phrase(text, start, i)?;
            i = end;
            phrase
        } else {
            let end = text[i..]
                .find(|c: char| c.is_ascii_whitespace())
                .map_or(text.len(), |e| i + e);
            let s = text[i..end].to_owned();
            i = end;
            s
        };
        // `" "` and `""` match every event (the guide's "Match everything").
        if quoted && sign.is_none() && term.trim().is_empty() {
            continue;
        }
        if term.trim().is_empty() {
            return Err(PatternError {
                position: char_pos(text, start),
                message: "empty term".into(),
            });
        }
        match sign {
            Some(b'?') => t.any.push(term),
            Some(_) => t.excluded.push(term),
            None => t.required.push(term),
        }
    }
    Ok(t)
}

/// The phrase between the double quote at byte `i` and its closing quote
/// (`\"` and `\\` escaped), and the byte after it; `start` is where the
/// term began, for an error.
fn quoted_phrase(text: &str, start: usize, mut i: usize) -> Result<(String, usize), PatternError> {
    let b = text.as_bytes();
    let mut s = String::new();
    i += 1;
    loop {
        match b.get(i) {
            None => {
                return Err(PatternError {
                    position: char_pos(text, start),
                    message: "unterminated quoted phrase".into(),
                })
            }
            Some(b'"') => return Ok((s, i + 1)),
            Some(b'\\') if matches!(b.get(i + 1), Some(b'"' | b'\\')) => {
                s.push(b[i + 1] as char);
                i += 2;
            }
            Some(_) => {
                let c = text[i..].chars().next().unwrap_or_default();
                s.push(c);
                i += c.len_utf8();
            }
        }
    }
}

impl Terms {
    /// `?` terms beside plain or `-` terms are ignored (the guide: "If you
    /// combine "?" with other filter patterns, all question mark terms will
    /// be ignored").
    fn ignores_optional(&self) -> bool {
        !self.any.is_empty() && self.has_others()
    }

    fn has_others(&self) -> bool {
        !self.required.is_empty() || !self.excluded.is_empty()
    }

    fn matches(&self, msg: &[u8]) -> bool {
        let has = |term: &String| memchr::memmem::find(msg, term.as_bytes()).is_some();
        if self.has_others() {
            return self.required.iter().all(has) && !self.excluded.iter().any(has);
        }
        self.any.is_empty() || self.any.iter().any(has)
    }
}

/// Whether a value holds a `*` that is not at its start or end.
fn inner_star(p: &str) -> bool {
    p.trim_start_matches('*')
        .trim_end_matches('*')
        .contains('*')
}

/// `*` at the start or the end of a string value matches any run of
/// characters; a `*` between other characters is itself (the guide:
/// "Ev*ent will only match the actual string Ev*ent").
fn wildcard_match(pattern: &str, value: &str) -> bool {
    let (head, rest) = match pattern.strip_prefix('*') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (tail, core) = match rest.strip_suffix('*') {
        Some(core) => (true, core),
        None => (false, rest),
    };
    match (head, tail) {
        (false, false) => value == core,
        (true, false) => value.ends_with(core),
        (false, true) => value.starts_with(core),
        (true, true) => value.contains(core),
    }
}

impl Selector {
    /// Every value the selector reaches (more than one through `*`).
    fn select<'a>(&self, v: &'a Value) -> Vec<&'a Value> {
        let mut cur = vec![v];
        for step in &self.0 {
            cur = cur
                .into_iter()
                .flat_map(|c| -> Vec<&'a Value> {
                    match step {
                        Step::Key(k) => c.as_object().and_then(|o| o.get(k)).into_iter().collect(),
                        Step::Index(i) => {
                            c.as_array().and_then(|a| a.get(*i)).into_iter().collect()
                        }
                        Step::AnyKey => c
                            .as_object()
                            .map(|o| o.values().collect())
                            .unwrap_or_default(),
                        Step::AnyIndex => {
                            c.as_array().map(|a| a.iter().collect()).unwrap_or_default()
                        }
                    }
                })
                .collect();
        }
        cur
    }
}

/// Whether one selected value satisfies a comparison.
fn compare(field: &Value, op: Op, lit: &Literal) -> bool {
    match lit {
        // `= *`: the field is there and is a value (a selector that
        // reaches an array or an object matches nothing).
        Literal::Str(p) if p == "*" && op == Op::Eq => !(field.is_array() || field.is_object()),
        Literal::Str(p) => match field {
            Value::String(f) => wildcard_match(p, f) == (op == Op::Eq),
            // "Use the asterisk as a wild card to match numbers": a number
            // is matched by its JSON text.
            Value::Number(n) if p.contains('*') => {
                wildcard_match(p, &n.to_string()) == (op == Op::Eq)
            }
            _ => false,
        },
        Literal::Regex(r) => match field.as_str() {
            Some(f) => r.is_match(f.as_bytes()) == (op == Op::Eq),
            None => false,
        },
        Literal::Num(n) => field.as_f64().is_some_and(|f| op.holds(f, *n)),
    }
}

impl Expr {
    fn eval(&self, v: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.eval(v) && b.eval(v),
            Expr::Or(a, b) => a.eval(v) || b.eval(v),
            Expr::NotExists(s) => s.select(v).is_empty(),
            Expr::IsNull(s) => s.select(v).into_iter().any(Value::is_null),
            Expr::IsBool(s, want) => s.select(v).into_iter().any(|f| f.as_bool() == Some(*want)),
            // Through a `*`, any value that satisfies it will do.
            Expr::Compare(s, op, lit) => s.select(v).into_iter().any(|f| compare(f, *op, lit)),
        }
    }
}

/// Recursive descent over a JSON pattern; positions are byte offsets into
/// the whole pattern, reported as character positions.
struct JsonParser<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    /// Regular expressions so far ([`MAX_REGEXES`] at most).
    regexes: usize,
    /// Wildcard selector steps so far ([`MAX_PATTERN_WILDCARDS`] at most).
    wildcards: usize,
}

impl<'a> JsonParser<'a> {
    fn new(text: &'a str, start: usize) -> JsonParser<'a> {
        JsonParser {
            text,
            b: text.as_bytes(),
            i: start,
            regexes: 0,
            wildcards: 0,
        }
    }

    fn err<T>(&self, at: usize, message: impl Into<String>) -> Result<T, PatternError> {
        Err(PatternError {
            position: char_pos(self.text, at),
            message: message.into(),
        })
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, s: &str) -> bool {
        self.ws();
        if self.text[self.i..].starts_with(s) {
            self.i += s.len();
            true
        } else {
            false
        }
    }

    fn parse(mut self) -> Result<Expr, PatternError> {
        if !self.eat("{") {
            return self.err(self.i, "expected `{`");
        }
        if self.peek() == Some(b'}') {
            return self.err(self.i, "empty JSON pattern");
        }
        let e = self.or()?;
        if !self.eat("}") {
            return match self.peek() {
                None => self.err(self.i, "missing closing `}`"),
                Some(_) => self.err(self.i, "expected `&&`, `||` or `}`"),
            };
        }
        if self.peek().is_some() {
            return self.err(self.i, "unexpected text after the closing `}`");
        }
        Ok(e)
    }

    fn or(&mut self) -> Result<Expr, PatternError> {
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, PatternError> {
        let mut e = self.primary()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.primary()?));
        }
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, PatternError> {
        match self.peek() {
            Some(b'(') => {
                let open = self.i;
                self.i += 1;
                let e = self.or()?;
                if !self.eat(")") {
                    return match self.peek() {
                        Some(b'}') | None => self.err(open, "unclosed `(`"),
                        _ => self.err(self.i, "expected `&&`, `||` or `)`"),
                    };
                }
                Ok(e)
            }
            Some(b'$') => self.condition(),
            None => self.err(self.i, "unexpected end of pattern"),
            Some(_) => self.err(self.i, "expected a selector ($.field) or `(`"),
        }
    }

    fn selector(&mut self) -> Result<Selector, PatternError> {
        let start = self.i;
        self.i += 1; // `$`
        let mut steps = Vec::new();
        loop {
            match self.b.get(self.i) {
                // `$.['a.b']`: the dot before a bracketed key.
                Some(b'.') if self.b.get(self.i + 1) == Some(&b'[') => self.i += 1,
                Some(b'.') => {
                    self.i += 1;
                    let from = self.i;
                    while self.i < self.b.len()
                        && !matches!(
                            self.b[self.i],
                            b'.' | b'['
                                | b'='
                                | b'!'
                                | b'<'
                                | b'>'
                                | b'('
                                | b')'
                                | b'&'
                                | b'|'
                                | b'}'
                                | b'"'
                        )
                        && !self.b[self.i].is_ascii_whitespace()
                    {
                        self.i += 1;
                    }
                    if from == self.i {
                        return self.err(from, "expected a field name after `.`");
                    }
                    let name = &self.text[from..self.i];
                    steps.push(if name == "*" {
                        Step::AnyKey
                    } else {
                        Step::Key(name.to_owned())
                    });
                }
                Some(b'[') => steps.push(self.bracket()?),
                _ => break,
            }
        }
        if steps.is_empty() {
            return self.err(start, "a selector starts with `$.` (e.g. $.verb)");
        }
        let wildcards = steps
            .iter()
            .filter(|s| matches!(s, Step::AnyKey | Step::AnyIndex))
            .count();
        if wildcards > MAX_SELECTOR_WILDCARDS {
            return self.err(
                start,
                "a selector may hold at most one wildcard ([*] or .*)",
            );
        }
        self.wildcards += wildcards;
        if self.wildcards > MAX_PATTERN_WILDCARDS {
            return self.err(
                start,
                "a filter pattern may hold at most 3 wildcard selectors ([*] or .*)",
            );
        }
        Ok(Selector(steps))
    }

    /// One `[...]` step of a selector: `[*]`, `['key']` or `[N]`.
    fn bracket(&mut self) -> Result<Step, PatternError> {
        if self.b.get(self.i + 1) == Some(&b'*') {
            if self.b.get(self.i + 2) != Some(&b']') {
                return self.err(self.i + 2, "expected `]`");
            }
            self.i += 3;
            return Ok(Step::AnyIndex);
        }
        if let Some(&quote) = self.b.get(self.i + 1).filter(|c| matches!(c, b'\'' | b'"')) {
            // A bracketed key: `['cluster.name']`.
            let from = self.i + 2;
            let Some(len) = self.b[from..].iter().position(|&c| c == quote) else {
                return self.err(self.i + 1, "unterminated bracketed key");
            };
            if self.b.get(from + len + 1) != Some(&b']') {
                return self.err(from + len + 1, "expected `]`");
            }
            self.i = from + len + 2;
            return Ok(Step::Key(self.text[from..from + len].to_owned()));
        }
        self.i += 1;
        let from = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let Ok(n) = self.text[from..self.i].parse::<usize>() else {
            return self.err(from, "expected an array index (a number) after `[`");
        };
        if self.b.get(self.i) != Some(&b']') {
            return self.err(self.i, "expected `]`");
        }
        self.i += 1;
        Ok(Step::Index(n))
    }

    fn keyword(&mut self, word: &str) -> bool {
        self.ws();
        let end = self.i + word.len();
        if end <= self.b.len()
            && self.b[self.i..end].eq_ignore_ascii_case(word.as_bytes())
            && self
                .b
                .get(end)
                .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_')
        {
            self.i = end;
            true
        } else {
            false
        }
    }

    fn condition(&mut self) -> Result<Expr, PatternError> {
        let sel = self.selector()?;
        self.ws();
        let at = self.i;
        if self.keyword("IS") {
            if self.keyword("NULL") {
                return Ok(Expr::IsNull(sel));
            }
            if self.keyword("TRUE") {
                return Ok(Expr::IsBool(sel, true));
            }
            if self.keyword("FALSE") {
                return Ok(Expr::IsBool(sel, false));
            }
            self.ws();
            if self.b[self.i..].starts_with(b"NOT") {
                return self.err(
                    self.i,
                    "CloudWatch does not support IS NOT: use `!=`, or `NOT EXISTS` for a missing field",
                );
            }
            return self.err(self.i, "expected NULL, TRUE or FALSE after IS");
        }
        if self.keyword("NOT") {
            if self.keyword("EXISTS") {
                return Ok(Expr::NotExists(sel));
            }
            return self.err(self.i, "expected EXISTS after NOT");
        }
        if self.b[self.i..].starts_with(b"EXISTS") {
            return self.err(
                at,
                "CloudWatch does not support EXISTS: `= *` matches a field that is there",
            );
        }
        let op = if self.eat("!=") {
            Op::Ne
        } else if self.eat("<=") {
            Op::Le
        } else if self.eat(">=") {
            Op::Ge
        } else if self.eat("=") {
            Op::Eq
        } else if self.eat("<") {
            Op::Lt
        } else if self.eat(">") {
            Op::Gt
        } else {
            return self.err(
                at,
                "expected an operator (=, !=, <, <=, >, >=, IS NULL, IS TRUE, IS FALSE, NOT EXISTS)",
            );
        };
        self.ws();
        let vat = self.i;
        let lit = self.literal()?;
        match (&lit, op) {
            (Literal::Num(_), _) | (_, Op::Eq | Op::Ne) => Ok(Expr::Compare(sel, op, lit)),
            _ => self.err(vat, "<, <=, > and >= compare numbers only"),
        }
    }

    fn literal(&mut self) -> Result<Literal, PatternError> {
        let start = self.i;
        match self.b.get(self.i) {
            None => self.err(start, "expected a value"),
            Some(b'"') => {
                self.i += 1;
                let mut s = String::new();
                loop {
                    match self.b.get(self.i) {
                        None => return self.err(start, "unterminated string"),
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(Literal::Str(s));
                        }
                        Some(b'\\') if matches!(self.b.get(self.i + 1), Some(b'"' | b'\\')) => {
                            s.push(self.b[self.i + 1] as char);
                            self.i += 2;
                        }
                        Some(_) => {
                            let c = self.text[self.i..].chars().next().unwrap_or_default();
                            s.push(c);
                            self.i += c.len_utf8();
                        }
                    }
                }
            }
            Some(b'%') => {
                let Some(end) = self.text[self.i + 1..].find('%') else {
                    return self.err(start, "unterminated regular expression (missing `%`)");
                };
                self.regexes += 1;
                if self.regexes > MAX_REGEXES {
                    return self.err(start, TOO_MANY_REGEXES);
                }
                let body = &self.text[self.i + 1..self.i + 1 + end];
                let r = regex(self.text, self.i, body)?;
                self.i += end + 2;
                Ok(Literal::Regex(r))
            }
            Some(b'=' | b'!' | b'<' | b'>') => self.err(start, "expected a value"),
            Some(_) => {
                while self.i < self.b.len()
                    && !matches!(self.b[self.i], b')' | b'&' | b'|' | b'}' | b'(')
                    && !self.b[self.i].is_ascii_whitespace()
                {
                    self.i += 1;
                }
                let word = &self.text[start..self.i];
                if word.is_empty() {
                    return self.err(start, "expected a value");
                }
                let numeric = word
                    .bytes()
                    .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
                    && word.bytes().any(|c| c.is_ascii_digit());
                // A bare word that reads as a number is a number; anything
                // else (an IP address, `prod-*`) is a string.
                match word.parse::<f64>() {
                    Ok(n) if numeric && n.is_finite() => Ok(Literal::Num(n)),
                    _ => Ok(Literal::Str(word.to_owned())),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
