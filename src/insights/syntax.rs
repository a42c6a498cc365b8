//! The Logs Insights query language's lexical layer, shared by the lint,
//! the grammar (`lang`) and the engine that runs queries offline: a query
//! split into its commands at top-level `|` (comment lines skipped,
//! offsets kept), each command's tokens, and the output columns a
//! pipeline names. Pure: text in, offsets out.

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
            b'/' if cmd.name == "parse"
                || matches!(out.last(), Some(Token::Word(w, _)) if w.eq_ignore_ascii_case("like"))
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
pub struct Positions<'a> {
    text: &'a str,
    /// Where each line after the first starts.
    line_starts: Vec<usize>,
    /// Characters before every `CHECKPOINT`-th byte (at a char boundary).
    checkpoints: Vec<(usize, usize)>,
}

const CHECKPOINT: usize = 4096;

impl<'a> Positions<'a> {
    pub fn new(text: &'a str) -> Positions<'a> {
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

    pub fn at(&self, offset: usize) -> (usize, usize) {
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
