//! The Logs Insights query language: one grammar, used by the lint
//! (`lint`) and by the engine that runs queries offline (`offline`).
//!
//! A query is commands joined by `|` (`syntax` splits them and cuts each
//! into tokens); this module parses each command's arguments into an
//! expression tree, and knows the language's commands and functions with
//! their arities (the Logs Insights query syntax reference, "Operations and
//! functions"). Pure: text in, a tree or a positioned error out.

use super::syntax::{self, Command, Token};

/// A parse error at a byte offset of the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub rule: &'static str,
    pub message: String,
}

pub const RULE_SYNTAX: &str = "syntax";
pub const RULE_UNKNOWN_COMMAND: &str = "unknown-command";
pub const RULE_UNKNOWN_FUNCTION: &str = "unknown-function";
pub const RULE_ARITY: &str = "arity";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field, with the offset it is named at (backticks removed).
    Field(String, usize),
    Str(String),
    Num(f64),
    /// A period such as `1h` or `5m`, in milliseconds.
    Period(i64, String),
    Regex(String),
    List(Vec<Expr>),
    /// `*` in `count(*)`.
    Star,
    /// A function (name in lower case), its arguments and its offset.
    Call(String, Vec<Expr>, usize),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `x like "text"` (substring), `x like /re/` and `x =~ /re/`.
    Like(Box<Expr>, Box<Expr>),
    In(Box<Expr>, Vec<Expr>),
}

/// `expr [as alias]`, with the text it was written as (a column's name
/// when there is no alias).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub expr: Expr,
    pub alias: Option<String>,
    pub text: String,
    pub offset: usize,
}

impl Item {
    /// The column this item makes.
    pub fn name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Fields(Vec<Item>),
    Display(Vec<Item>),
    Filter(Expr),
    Stats {
        aggs: Vec<Item>,
        by: Vec<Item>,
    },
    /// Keys, each descending or not.
    Sort(Vec<(Expr, bool)>),
    Limit(usize),
    Dedup(Vec<Expr>),
    /// `parse FIELD "glob with * captures"|/regex with (?<name>...)/ [as a, b]`.
    Parse {
        source: Expr,
        pattern: Expr,
        names: Vec<String>,
    },
    /// A command of the language that is not run offline.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// The command word, in lower case.
    pub name: String,
    pub offset: usize,
    pub op: Op,
}

/// The commands of the language; those past the first seven are parsed
/// only far enough to be known.
pub const COMMANDS: [&str; 16] = [
    "fields",
    "display",
    "filter",
    "stats",
    "sort",
    "limit",
    "dedup",
    "parse",
    "unmask",
    "pattern",
    "diff",
    "anomaly",
    "unnest",
    "filterindex",
    "source",
    "lookup",
];

/// Where a function may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// In any expression.
    Scalar,
    /// Only in `stats`.
    Aggregate,
}

/// A function of the language: name (lower case), least and most
/// arguments (`usize::MAX`: any number), kind.
pub struct Function {
    pub name: &'static str,
    pub min: usize,
    pub max: usize,
    pub kind: Kind,
}

const fn f(name: &'static str, min: usize, max: usize, kind: Kind) -> Function {
    Function {
        name,
        min,
        max,
        kind,
    }
}

const ANY: usize = usize::MAX;
use Kind::{Aggregate as A, Scalar as S};

/// The language's functions (names compared without regard to case).
pub const FUNCTIONS: &[Function] = &[
    // Aggregation and non-aggregation functions of `stats`.
    f("avg", 1, 1, A),
    f("count", 0, 1, A),
    f("count_distinct", 1, 1, A),
    f("max", 1, 1, A),
    f("min", 1, 1, A),
    f("pct", 2, 2, A),
    f("stddev", 1, 1, A),
    f("sum", 1, 1, A),
    f("earliest", 1, 1, A),
    f("latest", 1, 1, A),
    f("sortsfirst", 1, 1, A),
    f("sortslast", 1, 1, A),
    // Numeric.
    f("abs", 1, 1, S),
    f("ceil", 1, 1, S),
    f("floor", 1, 1, S),
    f("greatest", 1, ANY, S),
    f("least", 1, ANY, S),
    f("log", 1, 1, S),
    f("sqrt", 1, 1, S),
    // Date and time.
    f("bin", 1, 1, S),
    f("datefloor", 2, 2, S),
    f("dateceil", 2, 2, S),
    f("frommillis", 1, 1, S),
    f("tomillis", 1, 1, S),
    // General.
    f("ispresent", 1, 1, S),
    f("coalesce", 1, ANY, S),
    // IP addresses.
    f("isvalidip", 1, 1, S),
    f("isvalidipv4", 1, 1, S),
    f("isvalidipv6", 1, 1, S),
    f("isipinsubnet", 2, 2, S),
    f("isipv4insubnet", 2, 2, S),
    f("isipv6insubnet", 2, 2, S),
    // Strings.
    f("isempty", 1, 1, S),
    f("isblank", 1, 1, S),
    f("concat", 1, ANY, S),
    f("ltrim", 1, 2, S),
    f("rtrim", 1, 2, S),
    f("trim", 1, 2, S),
    f("strlen", 1, 1, S),
    f("toupper", 1, 1, S),
    f("tolower", 1, 1, S),
    f("substr", 2, 3, S),
    f("replace", 3, 3, S),
    f("strcontains", 2, 2, S),
    // JSON.
    f("jsonparse", 1, 1, S),
    f("jsonstringify", 1, 1, S),
];

pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

/// Parses every command of a query. A command the language does not have,
/// or whose arguments do not parse, is an error; parsing goes on with the
/// next command, so every error is found.
pub fn parse(text: &str) -> (Vec<Stage>, Vec<SyntaxError>) {
    let mut stages = Vec::new();
    let mut errors = Vec::new();
    let chars = text.chars().count();
    if chars > MAX_QUERY_CHARS {
        errors.push(SyntaxError {
            offset: 0,
            rule: RULE_SYNTAX,
            message: format!(
                "the query has {chars} characters; Logs Insights takes at most {MAX_QUERY_CHARS}"
            ),
        });
        return (stages, errors);
    }
    for cmd in syntax::parse(text) {
        match stage(&cmd) {
            Ok(s) => stages.push(s),
            Err(e) => errors.push(e),
        }
    }
    (stages, errors)
}

fn stage(cmd: &Command) -> Result<Stage, SyntaxError> {
    let name = cmd.name.clone();
    if !COMMANDS.contains(&name.as_str()) {
        return Err(SyntaxError {
            offset: cmd.offset,
            rule: RULE_UNKNOWN_COMMAND,
            message: format!(
                "`{}` is not a Logs Insights command (commands: {})",
                cmd.name,
                COMMANDS.join(", ")
            ),
        });
    }
    let toks = syntax::tokens(cmd);
    let mut p = Parser {
        cmd,
        toks: &toks,
        i: 0,
        depth: 0,
    };
    let op = p.op(&name)?;
    if let Some(t) = p.toks.get(p.i) {
        return p.err_at(t.offset(), format!("unexpected `{}`", p.text_of(p.i)));
    }
    Ok(Stage {
        name,
        offset: cmd.offset,
        op,
    })
}

/// The longest query Logs Insights takes (and a bound on how deep a chain
/// of operators gets).
pub const MAX_QUERY_CHARS: usize = 10_000;

/// Nesting past this is an error, not a stack overflow.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    cmd: &'a Command,
    toks: &'a [Token],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err_at<T>(&self, offset: usize, message: String) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            offset,
            rule: RULE_SYNTAX,
            message,
        })
    }

    fn here(&self) -> usize {
        self.toks.get(self.i).map_or(
            self.cmd.args_offset + self.cmd.args.trim_end().len(),
            Token::offset,
        )
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        self.err_at(self.here(), message.into())
    }

    /// The source text of token `i` (to the next token).
    fn text_of(&self, i: usize) -> String {
        self.span(i, i + 1)
    }

    /// The source text of tokens `from..to`.
    fn span(&self, from: usize, to: usize) -> String {
        let base = self.cmd.args_offset;
        let start = self
            .toks
            .get(from)
            .map_or(self.cmd.args.len(), |t| t.offset() - base);
        let end = self
            .toks
            .get(to)
            .map_or(self.cmd.args.len(), |t| t.offset() - base);
        self.cmd.args[start..end.max(start)].trim().to_owned()
    }

    fn punct(&mut self, p: &str) -> bool {
        if matches!(self.toks.get(self.i), Some(Token::Punct(q, _)) if q == p) {
            self.i += 1;
            return true;
        }
        false
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.toks.get(self.i), Some(Token::Word(w, _)) if w.eq_ignore_ascii_case(kw)) {
            self.i += 1;
            return true;
        }
        false
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.i), Some(Token::Word(w, _)) if w.eq_ignore_ascii_case(kw))
    }

    fn op(&mut self, name: &str) -> Result<Op, SyntaxError> {
        Ok(match name {
            "fields" => Op::Fields(self.items()?),
            "display" => Op::Display(self.items()?),
            "filter" => Op::Filter(self.expr()?),
            "stats" => {
                let aggs = self.items()?;
                let by = if self.keyword("by") {
                    self.items()?
                } else {
                    Vec::new()
                };
                Op::Stats { aggs, by }
            }
            "sort" => {
                let mut keys = Vec::new();
                loop {
                    let e = self.expr()?;
                    // Descending unless `asc` (the language's default).
                    let desc = !self.keyword("asc");
                    if desc {
                        self.keyword("desc");
                    }
                    keys.push((e, desc));
                    if !self.punct(",") {
                        break;
                    }
                }
                Op::Sort(keys)
            }
            "limit" => match self.toks.get(self.i) {
                Some(Token::Number(n, _)) => match n.parse::<usize>() {
                    Ok(n) if n > 0 => {
                        self.i += 1;
                        Op::Limit(n)
                    }
                    _ => return self.err(format!("`limit` takes a whole number, not `{n}`")),
                },
                _ => return self.err("`limit` takes a number of rows"),
            },
            "dedup" => {
                let mut fields = vec![self.expr()?];
                while self.punct(",") {
                    fields.push(self.expr()?);
                }
                Op::Dedup(fields)
            }
            "parse" => self.parse_command()?,
            _ => {
                self.i = self.toks.len();
                Op::Other
            }
        })
    }

    fn parse_command(&mut self) -> Result<Op, SyntaxError> {
        // The field is optional: `parse` reads `@message` by default.
        let source = match self.toks.get(self.i) {
            Some(Token::Str(..) | Token::Regex(..)) => Expr::Field("@message".into(), self.here()),
            _ => self.primary()?,
        };
        let pattern = match self.toks.get(self.i) {
            Some(Token::Str(s, _)) => Expr::Str(s.clone()),
            Some(Token::Regex(r, _)) => Expr::Regex(r.clone()),
            _ => return self.err("`parse` takes a field, then a \"glob\" or a /regex/"),
        };
        self.i += 1;
        let mut names = Vec::new();
        if self.keyword("as") {
            loop {
                match self.toks.get(self.i) {
                    Some(Token::Word(w, _)) => names.push(w.clone()),
                    _ => return self.err("expected a field name after `as`"),
                }
                self.i += 1;
                if !self.punct(",") {
                    break;
                }
            }
        }
        Ok(Op::Parse {
            source,
            pattern,
            names,
        })
    }

    /// `expr [as alias], ...` up to `by` or the end.
    fn items(&mut self) -> Result<Vec<Item>, SyntaxError> {
        let mut out = Vec::new();
        loop {
            let from = self.i;
            let offset = self.here();
            let expr = self.expr()?;
            let text = self.span(from, self.i);
            let alias = if self.keyword("as") {
                match self.toks.get(self.i) {
                    Some(Token::Word(w, _)) => {
                        self.i += 1;
                        Some(w.clone())
                    }
                    _ => return self.err("expected a name after `as`"),
                }
            } else {
                None
            };
            out.push(Item {
                expr,
                alias,
                text,
                offset,
            });
            if !self.punct(",") {
                return Ok(out);
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!("expressions nest more than {MAX_DEPTH} deep"));
        }
        let e = self.or();
        self.depth -= 1;
        e
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.and()?;
        while self.keyword("or") || self.punct("||") {
            e = Expr::Bin(BinOp::Or, Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.not()?;
        while self.keyword("and") || self.punct("&&") {
            e = Expr::Bin(BinOp::And, Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, SyntaxError> {
        if self.keyword("not") || self.punct("!") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return self.err(format!("expressions nest more than {MAX_DEPTH} deep"));
            }
            let e = self.not();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, SyntaxError> {
        let left = self.additive()?;
        let negated = self.peek_keyword("not")
            && matches!(self.toks.get(self.i + 1), Some(Token::Word(w, _))
                if w.eq_ignore_ascii_case("like") || w.eq_ignore_ascii_case("in"));
        if negated {
            self.i += 1;
        }
        let e = if self.keyword("like") || self.punct("=~") {
            Expr::Like(Box::new(left), Box::new(self.additive()?))
        } else if self.keyword("in") {
            if !self.punct("[") {
                return self.err("`in` takes a list: in [\"a\", \"b\"]");
            }
            Expr::In(Box::new(left), self.list()?)
        } else {
            let ops = [
                ("=", BinOp::Eq),
                ("==", BinOp::Eq),
                ("!=", BinOp::Ne),
                ("<", BinOp::Lt),
                ("<=", BinOp::Le),
                (">", BinOp::Gt),
                (">=", BinOp::Ge),
            ];
            match ops.iter().find(|(p, _)| self.punct(p)) {
                Some((_, op)) => Expr::Bin(*op, Box::new(left), Box::new(self.additive()?)),
                None => return Ok(left),
            }
        };
        Ok(if negated { Expr::Not(Box::new(e)) } else { e })
    }

    fn additive(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.multiplicative()?;
        loop {
            let op = if self.punct("+") {
                BinOp::Add
            } else if self.punct("-") {
                BinOp::Sub
            } else {
                return Ok(e);
            };
            e = Expr::Bin(op, Box::new(e), Box::new(self.multiplicative()?));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.power()?;
        loop {
            let op = if self.punct("*") {
                BinOp::Mul
            } else if self.punct("/") {
                BinOp::Div
            } else if self.punct("%") {
                BinOp::Mod
            } else {
                return Ok(e);
            };
            e = Expr::Bin(op, Box::new(e), Box::new(self.power()?));
        }
    }

    fn power(&mut self) -> Result<Expr, SyntaxError> {
        let base = self.unary()?;
        if self.punct("^") {
            return Ok(Expr::Bin(
                BinOp::Pow,
                Box::new(base),
                Box::new(self.unary()?),
            ));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        if self.punct("-") {
            return Ok(Expr::Neg(Box::new(self.primary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let Some(tok) = self.toks.get(self.i).cloned() else {
            return self.err("expected a value, a field or a function");
        };
        self.i += 1;
        Ok(match tok {
            Token::Str(s, _) => Expr::Str(s),
            Token::Regex(r, _) => Expr::Regex(r),
            Token::Number(n, at) => number(&n).ok_or(()).or_else(|()| {
                self.err_at(at, format!("`{n}` is not a number or a period such as 5m"))
            })?,
            Token::Punct(p, _) if p == "(" => {
                let e = self.expr()?;
                if !self.punct(")") {
                    return self.err("missing `)`");
                }
                e
            }
            Token::Punct(p, _) if p == "[" => Expr::List(self.list()?),
            Token::Word(w, at) if matches!(self.toks.get(self.i), Some(Token::Punct(p, _)) if p == "(") =>
            {
                self.i += 1;
                self.call(w, at)?
            }
            Token::Word(w, _) if w.eq_ignore_ascii_case("true") => Expr::Num(1.0),
            Token::Word(w, _) if w.eq_ignore_ascii_case("false") => Expr::Num(0.0),
            Token::Word(w, at) => Expr::Field(w, at),
            Token::Punct(p, at) => return self.err_at(at, format!("unexpected `{p}`")),
        })
    }

    /// `[a, b, ...]` after its `[`.
    fn list(&mut self) -> Result<Vec<Expr>, SyntaxError> {
        let mut out = Vec::new();
        if self.punct("]") {
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            if self.punct("]") {
                return Ok(out);
            }
            if !self.punct(",") {
                return self.err("expected `,` or `]` in a list");
            }
        }
    }

    /// A function's arguments after its `(`; the name is checked here.
    fn call(&mut self, name: String, at: usize) -> Result<Expr, SyntaxError> {
        let mut args = Vec::new();
        if !self.punct(")") {
            loop {
                if self.punct("*") {
                    args.push(Expr::Star);
                } else {
                    args.push(self.expr()?);
                }
                if self.punct(")") {
                    break;
                }
                if !self.punct(",") {
                    return self.err(format!("expected `,` or `)` in the arguments of {name}"));
                }
            }
        }
        let Some(f) = function(&name) else {
            return Err(SyntaxError {
                offset: at,
                rule: RULE_UNKNOWN_FUNCTION,
                message: format!("`{name}` is not a Logs Insights function"),
            });
        };
        if args.len() < f.min || args.len() > f.max {
            let want = match (f.min, f.max) {
                (a, b) if a == b => format!("{a}"),
                (a, ANY) => format!("at least {a}"),
                (a, b) => format!("{a} to {b}"),
            };
            return Err(SyntaxError {
                offset: at,
                rule: RULE_ARITY,
                message: format!(
                    "`{name}` takes {want} argument{}, not {}",
                    if f.max == 1 || (f.min == 1 && f.max == ANY) {
                        ""
                    } else {
                        "s"
                    },
                    args.len()
                ),
            });
        }
        Ok(Expr::Call(f.name.to_owned(), args, at))
    }
}

/// A number, or a period (`30s`, `5m`, `1h`, `1d`, `1w`, `100ms`).
fn number(text: &str) -> Option<Expr> {
    if let Ok(n) = text.parse::<f64>() {
        return Some(Expr::Num(n));
    }
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (n, unit) = text.split_at(split);
    let n: f64 = n.parse().ok()?;
    let ms = match unit {
        "ms" => 1.0,
        "s" | "sec" | "second" | "seconds" => 1e3,
        "m" | "min" | "minute" | "minutes" => 60e3,
        "h" | "hr" | "hour" | "hours" => 3_600e3,
        "d" | "day" | "days" => 86_400e3,
        "w" | "week" | "weeks" => 604_800e3,
        _ => return None,
    };
    Some(Expr::Period((n * ms) as i64, text.to_owned()))
}

impl Expr {
    /// Calls `visit` on this expression and every one inside it.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Expr)) {
        visit(self);
        match self {
            Expr::List(xs) | Expr::Call(_, xs, _) => xs.iter().for_each(|x| x.walk(visit)),
            Expr::Not(x) | Expr::Neg(x) => x.walk(visit),
            Expr::Bin(_, a, b) | Expr::Like(a, b) => {
                a.walk(visit);
                b.walk(visit);
            }
            Expr::In(a, xs) => {
                a.walk(visit);
                xs.iter().for_each(|x| x.walk(visit));
            }
            _ => {}
        }
    }

    /// The fields this expression reads, with their offsets.
    pub fn fields(&self) -> Vec<(&str, usize)> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Field(f, at) = e {
                out.push((f.as_str(), *at));
            }
        });
        out
    }
}

impl Stage {
    /// Every expression of the command.
    pub fn exprs(&self) -> Vec<&Expr> {
        match &self.op {
            Op::Fields(items) | Op::Display(items) => items.iter().map(|i| &i.expr).collect(),
            Op::Filter(e) => vec![e],
            Op::Stats { aggs, by } => aggs.iter().chain(by).map(|i| &i.expr).collect(),
            Op::Sort(keys) => keys.iter().map(|(e, _)| e).collect(),
            Op::Dedup(es) => es.iter().collect(),
            Op::Parse { source, .. } => vec![source],
            Op::Limit(_) | Op::Other => Vec::new(),
        }
    }
}
