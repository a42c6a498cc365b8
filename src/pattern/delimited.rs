//! Space-delimited patterns, `[ip, user, ..., status_code = 4*, bytes > 1000]`:
//! a log event is split into fields at spaces, a run of characters between
//! double quotes or between brackets being one field (without them); the
//! pattern names the fields in order, `...` standing for any number of
//! them, and a field may carry conditions: `=` and `!=` against a word or
//! quoted string (`*` a wildcard) or a `%regex%`, and `<`, `<=`, `>`, `>=`,
//! `=`, `!=` against a number, joined by `&&` and `||` (`&&` first), each
//! after the first optionally naming its field again. Without `...` the
//! event must have exactly as many fields as the pattern.
//!
//! Choices where the guide is silent: a value that reads as a number is
//! compared as a number with a field that reads as one (`status_code = 200`
//! matches `200`, and `200.0`); otherwise as text.

use super::{
    char_pos, inner_star, regex, wildcard_match, Op, PatternError, MAX_REGEXES, TOO_MANY_REGEXES,
};

#[derive(Debug, Clone)]
pub(super) struct Delimited {
    fields: Vec<Field>,
}

#[derive(Debug, Clone)]
enum Field {
    /// `...`: any number of fields.
    Any,
    /// One field, and what it must satisfy (`None`: anything).
    One(Option<Cond>),
}

#[derive(Debug, Clone)]
enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Compare(Op, Value),
}

#[derive(Debug, Clone)]
enum Value {
    Num(f64),
    /// Text with `*` wildcards.
    Text(String),
    Regex(regex::bytes::Regex),
}

/// The fields of a log event: split at spaces, a quoted or bracketed run
/// being one field (its quotes or brackets dropped).
#[cfg(test)]
pub(super) fn fields(message: &str) -> Vec<&str> {
    spans(message).into_iter().map(|(_, f)| f).collect()
}

/// Each field with the byte offset its raw text starts at (its opening
/// quote or bracket included).
fn spans(message: &str) -> Vec<(usize, &str)> {
    let b = message.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let close = match b[i] {
            b'"' => Some(b'"'),
            b'[' => Some(b']'),
            _ => None,
        };
        match close.and_then(|c| memchr::memchr(c, &b[i + 1..]).map(|n| i + 1 + n)) {
            Some(end) => {
                out.push((i, &message[i + 1..end]));
                i = end + 1;
            }
            None => {
                let end = b[i..]
                    .iter()
                    .position(|c| c.is_ascii_whitespace())
                    .map_or(b.len(), |n| i + n);
                out.push((i, &message[i..end]));
                i = end;
            }
        }
    }
    out
}

impl Cond {
    fn eval(&self, field: &str) -> bool {
        match self {
            Cond::And(a, b) => a.eval(field) && b.eval(field),
            Cond::Or(a, b) => a.eval(field) || b.eval(field),
            Cond::Compare(op, v) => compare(*op, v, field),
        }
    }
}

fn compare(op: Op, v: &Value, field: &str) -> bool {
    match v {
        Value::Num(n) => match field.trim().parse::<f64>() {
            Ok(f) => op.holds(f, *n),
            // Not a number: only "not equal" holds.
            Err(_) => op == Op::Ne,
        },
        Value::Text(t) => {
            let m = wildcard_match(t, field);
            if op == Op::Ne {
                !m
            } else {
                m
            }
        }
        Value::Regex(r) => {
            let m = r.is_match(field.as_bytes());
            if op == Op::Ne {
                !m
            } else {
                m
            }
        }
    }
}

impl Cond {
    /// Whether a comparison satisfies `f`.
    fn any(&self, f: &impl Fn(&Value) -> bool) -> bool {
        match self {
            Cond::And(a, b) | Cond::Or(a, b) => a.any(f) || b.any(f),
            Cond::Compare(_, v) => f(v),
        }
    }
}

impl Delimited {
    /// Whether a condition compares with a number.
    pub(super) fn compares_numbers(&self) -> bool {
        self.any_value(|v| matches!(v, Value::Num(_)))
    }

    /// Whether a text value holds a `*` inside it.
    pub(super) fn has_inner_star(&self) -> bool {
        self.any_value(|v| matches!(v, Value::Text(t) if inner_star(t)))
    }

    fn any_value(&self, f: impl Fn(&Value) -> bool) -> bool {
        self.fields
            .iter()
            .any(|field| matches!(field, Field::One(Some(c)) if c.any(&f)))
    }

    /// Fields match in order, `...` taking any number of them. Without
    /// `...`, when the event has more fields than the pattern, the
    /// pattern's last field holds the rest of the event (the guide's
    /// `[w1=ERROR, w2]` "returns log events where the first word ... is
    /// ERROR" on longer lines).
    pub(super) fn matches(&self, message: &str) -> bool {
        let absorb = !self.fields.iter().any(|f| matches!(f, Field::Any));
        return go(message, absorb, &self.fields, &spans(message));

        fn go(message: &str, absorb: bool, pattern: &[Field], event: &[(usize, &str)]) -> bool {
            match pattern.split_first() {
                None => event.is_empty(),
                Some((Field::Any, rest)) => {
                    (0..=event.len()).any(|skip| go(message, absorb, rest, &event[skip..]))
                }
                Some((Field::One(cond), rest)) => match event.split_first() {
                    None => false,
                    Some((&(at, f), more)) => {
                        let last = absorb && rest.is_empty();
                        let value = if last { message[at..].trim_end() } else { f };
                        // The whole of a quoted or bracketed field, or its inside.
                        let value = if last && more.is_empty() { f } else { value };
                        cond.as_ref().is_none_or(|c| c.eval(value))
                            && (last || go(message, absorb, rest, more))
                    }
                },
            }
        }
    }
}

/// Parses `[ ... ]` starting at byte `start` of `text`.
pub(super) fn parse(text: &str, start: usize) -> Result<Delimited, PatternError> {
    let mut p = Parser {
        text,
        i: start + 1,
        regexes: 0,
    };
    let mut fields = Vec::new();
    loop {
        p.ws();
        if p.peek() == Some(b']') && fields.is_empty() {
            p.i += 1;
            break;
        }
        fields.push(p.field()?);
        p.ws();
        match p.peek() {
            Some(b',') => p.i += 1,
            Some(b']') => {
                p.i += 1;
                break;
            }
            _ => return p.err("expected , or ] after a field"),
        }
    }
    p.ws();
    if p.i < text.len() {
        return p.err("unexpected text after ]");
    }
    Ok(Delimited { fields })
}

struct Parser<'a> {
    text: &'a str,
    i: usize,
    regexes: usize,
}

impl Parser<'_> {
    fn err<T>(&self, message: &str) -> Result<T, PatternError> {
        Err(PatternError {
            position: char_pos(self.text, self.i),
            message: message.to_owned(),
        })
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    fn name(&mut self) -> &str {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.')
        {
            self.i += 1;
        }
        &self.text[start..self.i]
    }

    fn field(&mut self) -> Result<Field, PatternError> {
        if self.text[self.i..].starts_with("...") {
            self.i += 3;
            return Ok(Field::Any);
        }
        let name = self.name().to_owned();
        self.ws();
        if name.is_empty() {
            // `[..., status_code=4*,]`: an empty field is an unnamed one.
            return match self.peek() {
                Some(b',' | b']') => Ok(Field::One(None)),
                _ => self.err("expected a field name or ..."),
            };
        }
        match self.peek() {
            Some(b',' | b']') => return Ok(Field::One(None)),
            None => return self.err("missing closing ]"),
            _ => {}
        }
        Ok(Field::One(Some(self.or(&name)?)))
    }

    fn or(&mut self, name: &str) -> Result<Cond, PatternError> {
        let mut left = self.and(name)?;
        loop {
            self.ws();
            if !self.text[self.i..].starts_with("||") {
                return Ok(left);
            }
            self.i += 2;
            left = Cond::Or(Box::new(left), Box::new(self.and(name)?));
        }
    }

    fn and(&mut self, name: &str) -> Result<Cond, PatternError> {
        let mut left = self.comparison(name, true)?;
        loop {
            self.ws();
            if !self.text[self.i..].starts_with("&&") {
                return Ok(left);
            }
            self.i += 2;
            left = Cond::And(Box::new(left), Box::new(self.comparison(name, false)?));
        }
    }

    /// `OP VALUE`, after the field's name (repeated after `&&` or `||`).
    fn comparison(&mut self, name: &str, first: bool) -> Result<Cond, PatternError> {
        self.ws();
        let at = self.i;
        let again = self.name().to_owned();
        if !again.is_empty() && again != name {
            self.i = at;
            return self.err(&format!("a condition on field {name} names {again}"));
        }
        if again.is_empty() && !first && !self.text[self.i..].starts_with(['=', '!', '<', '>']) {
            return self.err("expected a condition");
        }
        self.ws();
        let rest = &self.text[self.i..];
        let (op, len) = [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .into_iter()
        .find(|(s, _)| rest.starts_with(s))
        .map(|(s, op)| (op, s.len()))
        .map_or_else(|| self.err("expected =, !=, <, <=, > or >="), Ok)?;
        self.i += len;
        self.ws();
        let value = self.value()?;
        if matches!(value, Value::Text(_) | Value::Regex(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return self.err("only = and != compare text");
        }
        Ok(Cond::Compare(op, value))
    }

    fn value(&mut self) -> Result<Value, PatternError> {
        let start = self.i;
        match self.peek() {
            Some(b'"') => {
                let end = self.text[self.i + 1..]
                    .find('"')
                    .map(|n| self.i + 1 + n)
                    .map_or_else(|| self.err("unterminated quoted value"), Ok)?;
                let v = self.text[self.i + 1..end].to_owned();
                self.i = end + 1;
                Ok(Value::Text(v))
            }
            Some(b'%') => {
                self.regexes += 1;
                if self.regexes > MAX_REGEXES {
                    return self.err(TOO_MANY_REGEXES);
                }
                let end = self.text[self.i + 1..]
                    .find('%')
                    .map(|n| self.i + 1 + n)
                    .map_or_else(|| self.err("unterminated regular expression"), Ok)?;
                let r = regex(self.text, start, &self.text[start + 1..end])?;
                self.i = end + 1;
                Ok(Value::Regex(r))
            }
            _ => {
                while self.peek().is_some_and(|c| {
                    !c.is_ascii_whitespace() && !matches!(c, b',' | b']' | b'&' | b'|')
                }) {
                    self.i += 1;
                }
                let word = &self.text[start..self.i];
                if word.is_empty() {
                    return self.err("expected a value");
                }
                Ok(match word.parse::<f64>() {
                    Ok(n) if !word.contains('*') => Value::Num(n),
                    _ => Value::Text(word.to_owned()),
                })
            }
        }
    }
}
