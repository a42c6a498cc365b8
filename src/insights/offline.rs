//! Logs Insights queries run offline, over exported log events: the same
//! grammar as the lint (`lang`), evaluated here. Pure: events in, rows out.
//!
//! What it follows (the Logs Insights query syntax reference) and what it
//! chose where the reference is silent:
//!
//! - Fields are the event's JSON leaves, flattened with dots (`objectRef.
//!   resource`, `sourceIPs.0`; a key holding a dot, such as
//!   `annotations.authorization.k8s.io/decision`, is found too). A selector
//!   that reaches an object or an array is not a field.
//! - System fields: `@message` (the event), `@timestamp` (the export's
//!   timestamp where it carries one, otherwise the audit event's
//!   `stageTimestamp`, `requestReceivedTimestamp` or `timestamp`),
//!   `@logStream` and `@ingestionTime` where the export carries them, and a
//!   stream named by the caller for exports that do not (a JSON-lines file
//!   has no log stream). `@log` and `@ptr` are missing.
//! - A comparison with a missing field is false, `!=` included (*unverified*:
//!   the reference is silent); `not` of it is true. Two values compare as
//!   numbers when both read as numbers, otherwise as text.
//! - `like "text"` and `=~ "text"` match a substring, `like /re/` and
//!   `=~ /re/` a regular expression; both are case sensitive (`(?i)` turns
//!   that off). `in [...]` compares whole values.
//! - `count(*)` counts events, `count(field)` those that have the field.
//!   `count_distinct` is exact here (CloudWatch approximates it on high
//!   cardinality). `stats ... by` groups events without a key field under
//!   an empty key (*unverified*).
//! - Events reach the first command that needs them all (`sort`, `limit`,
//!   `dedup`) newest first, as Logs Insights returns them; `sort` without
//!   `asc` or `desc` is descending; missing values sort last. Without a
//!   `limit`, at most 10,000 rows, the query's default.
//! - `dedup` keeps the first row of each combination and every row with a
//!   missing value ("Null values are not considered duplicates").
//! - `parse` takes a glob (`*` captures) or a regular expression with named
//!   groups; an event it does not match passes with the fields missing.
//! - Times print as RFC 3339 with milliseconds, as `report` prints them.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering as Atomic};
use std::sync::{Arc, Mutex};

use super::lang::{BinOp, Expr, Op, Stage};

/// The rows a query returns when it has no `limit`.
pub const DEFAULT_LIMIT: usize = 10_000;

/// A value of a field or an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Str(String),
    Num(f64),
    /// Milliseconds since the epoch.
    Time(i64),
}

impl Val {
    fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Num(n) => *n != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::Time(_) => true,
        }
    }

    fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Time(t) => Some(*t as f64),
            Val::Str(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            Val::Null => None,
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Str(s) => Some(s.clone()),
            other => Some(other.display()),
        }
    }

    fn bool(b: bool) -> Val {
        Val::Num(if b { 1.0 } else { 0.0 })
    }

    /// How a result cell shows the value.
    pub fn display(&self) -> String {
        match self {
            Val::Null => String::new(),
            Val::Str(s) => s.clone(),
            Val::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Val::Num(n) => format!("{n}"),
            Val::Time(t) => chrono::DateTime::from_timestamp_millis(*t)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default(),
        }
    }

    /// A key for grouping and deduplication.
    fn key(&self) -> Key {
        match self {
            Val::Null => Key::Null,
            Val::Str(s) => Key::Str(s.clone()),
            Val::Num(n) => Key::Num(n.to_bits()),
            Val::Time(t) => Key::Time(*t),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Null,
    Str(String),
    Num(u64),
    Time(i64),
}

impl Key {
    fn val(&self) -> Val {
        match self {
            Key::Null => Val::Null,
            Key::Str(s) => Val::Str(s.clone()),
            Key::Num(n) => Val::Num(f64::from_bits(*n)),
            Key::Time(t) => Val::Time(*t),
        }
    }
}

/// Natural order for `sort`: numbers as numbers, after text; missing last.
fn order(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Null, Val::Null) => Ordering::Equal,
        (Val::Null, _) => Ordering::Greater,
        (_, Val::Null) => Ordering::Less,
        _ => match (a.num(), b.num()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => a.text().cmp(&b.text()),
        },
    }
}

/// A log event as an export gives it.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub message: &'a [u8],
    /// The export's timestamp, in milliseconds.
    pub time: Option<i64>,
    pub stream: Option<&'a str>,
    pub ingestion: Option<i64>,
    /// Where it was read (input, block, line): ties in time keep this order.
    pub place: (u32, u64, u64),
}

/// A row: an event (before `stats`) with the fields commands made, or the
/// fields of a `stats` result.
#[derive(Debug, Clone, Default)]
struct Row {
    message: Option<Arc<str>>,
    time: Option<i64>,
    stream: Option<Arc<str>>,
    ingestion: Option<i64>,
    place: (u32, u64, u64),
    cols: Vec<(String, Val)>,
}

impl Row {
    fn set(&mut self, name: &str, v: Val) {
        match self.cols.iter_mut().find(|(n, _)| n == name) {
            Some(c) => c.1 = v,
            None => self.cols.push((name.to_owned(), v)),
        }
    }

    fn get(&self, name: &str) -> Val {
        if let Some((_, v)) = self.cols.iter().find(|(n, _)| n == name) {
            return v.clone();
        }
        match name {
            "@message" => self
                .message
                .as_deref()
                .map_or(Val::Null, |m| Val::Str(m.to_owned())),
            "@timestamp" => self.time.map_or(Val::Null, Val::Time),
            "@logStream" => self
                .stream
                .as_deref()
                .map_or(Val::Null, |s| Val::Str(s.to_owned())),
            "@ingestionTime" => self.ingestion.map_or(Val::Null, Val::Time),
            _ => Val::Null,
        }
    }
}

/// What an audit event says its time is, in milliseconds.
fn event_time(obj: &json::Obj<'_>) -> Option<i64> {
    ["stageTimestamp", "requestReceivedTimestamp", "timestamp"]
        .iter()
        .find_map(|k| obj.str(k))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.timestamp_millis())
}

/// Something the engine cannot run offline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is not supported offline")]
pub struct Unsupported {
    pub what: String,
    pub offset: usize,
}

/// Functions run offline; the rest of the language's are refused.
const SCALARS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "greatest",
    "least",
    "log",
    "sqrt",
    "bin",
    "datefloor",
    "dateceil",
    "frommillis",
    "tomillis",
    "ispresent",
    "coalesce",
    "isvalidip",
    "isvalidipv4",
    "isvalidipv6",
    "isipinsubnet",
    "isipv4insubnet",
    "isipv6insubnet",
    "isempty",
    "isblank",
    "concat",
    "ltrim",
    "rtrim",
    "trim",
    "strlen",
    "toupper",
    "tolower",
    "substr",
    "replace",
    "strcontains",
];
const AGGREGATES: [&str; 12] = [
    "avg",
    "count",
    "count_distinct",
    "max",
    "min",
    "pct",
    "stddev",
    "sum",
    "earliest",
    "latest",
    "sortsfirst",
    "sortslast",
];

/// A query ready to run: its commands, its compiled regular expressions,
/// and the rows it has so far.
pub struct Engine {
    stages: Vec<Stage>,
    /// Commands before this one run on each event as it is read.
    barrier: usize,
    regexes: HashMap<String, regex::Regex>,
    /// The event fields the query reads (system fields aside).
    fields: Vec<String>,
    /// Whether it reads `@message` (or shows it by default).
    keeps_message: bool,
    default_stream: Arc<str>,
    scanned: AtomicU64,
    bytes: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    matched: u64,
    rows: Vec<Row>,
    groups: Option<Groups>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Events read, their bytes, and the events that passed the commands
    /// run on each event.
    pub scanned: u64,
    pub bytes: u64,
    pub matched: u64,
    /// The default limit cut rows.
    pub truncated: bool,
}

impl Engine {
    /// `default_stream` is `@logStream` for events whose export names none.
    pub fn new(stages: Vec<Stage>, default_stream: &str) -> Result<Engine, Unsupported> {
        let mut regexes = HashMap::new();
        for s in &stages {
            if s.op == Op::Other {
                return Err(Unsupported {
                    what: format!("the `{}` command", s.name),
                    offset: s.offset,
                });
            }
            if let Op::Parse {
                pattern: Expr::Regex(r),
                ..
            } = &s.op
            {
                compile(&mut regexes, r, s.offset)?;
            }
            for e in s.exprs() {
                check(e, &mut regexes, s.name == "stats")?;
            }
            if let Op::Stats { aggs, .. } = &s.op {
                if let Some(i) = aggs.iter().find(
                    |i| !matches!(&i.expr, Expr::Call(f, _, _) if AGGREGATES.contains(&f.as_str())),
                ) {
                    return Err(Unsupported {
                        what: format!("`{}` (arithmetic on an aggregate)", i.text),
                        offset: i.offset,
                    });
                }
            }
        }
        let barrier = stages
            .iter()
            .position(|s| {
                !matches!(
                    s.op,
                    Op::Filter(_) | Op::Fields(_) | Op::Display(_) | Op::Parse { .. }
                )
            })
            .unwrap_or(stages.len());
        let groups = match stages.get(barrier).map(|s| &s.op) {
            Some(Op::Stats { aggs, by }) => Some(Groups::new(aggs, by)),
            _ => None,
        };
        let mut fields: Vec<String> = Vec::new();
        for e in stages.iter().flat_map(Stage::exprs) {
            for (f, _) in e.fields() {
                if !fields.iter().any(|x| x == f) {
                    fields.push(f.to_owned());
                }
            }
        }
        let keeps_message = fields.iter().any(|f| f == "@message")
            || columns(&stages).iter().any(|c| c == "@message");
        fields.retain(|f| !f.starts_with('@'));
        Ok(Engine {
            stages,
            barrier,
            regexes,
            fields,
            keeps_message,
            default_stream: Arc::from(default_stream),
            scanned: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            state: Mutex::new(State {
                groups,
                ..State::default()
            }),
        })
    }

    /// Text every event the query can keep holds: its per-event filters
    /// compare fields with plain words (`objectRef.resource = "secrets"`),
    /// which the event's JSON then holds in quotes. An event without one of
    /// them need not be parsed.
    pub fn needles(&self) -> Vec<String> {
        let mut out = Vec::new();
        // Fields a command makes (`fields x as y`, `parse`) are not the
        // event's: a filter on them says nothing of its text.
        let mut made: Vec<&str> = Vec::new();
        for s in &self.stages[..self.barrier] {
            match &s.op {
                Op::Filter(e) => needles(e, &made, &mut out),
                Op::Fields(items) | Op::Display(items) => {
                    made.extend(items.iter().map(|i| i.name()));
                }
                Op::Parse { names, pattern, .. } => {
                    made.extend(names.iter().map(String::as_str));
                    if let Expr::Regex(r) = pattern {
                        made.extend(self.regexes[r].capture_names().flatten());
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Counts an event of `len` bytes that cannot match (it lacks one of
    /// the [`Engine::needles`]).
    pub fn skip(&self, len: usize) {
        self.scanned.fetch_add(1, Atomic::Relaxed);
        self.bytes.fetch_add(len as u64, Atomic::Relaxed);
    }

    /// Runs the commands that take one event at a time on `event`.
    pub fn feed(&self, event: &Event<'_>) {
        self.skip(event.message.len());
        let row = self.row(event);
        let kept = row.and_then(|mut row| {
            for s in &self.stages[..self.barrier] {
                if !self.apply(s, &mut row) {
                    return None;
                }
            }
            Some(row)
        });
        let Some(row) = kept else { return };
        let entry = match self.stages.get(self.barrier).map(|s| &s.op) {
            Some(Op::Stats { aggs, by }) => Some(Groups::entry(by, aggs, self, &row)),
            _ => None,
        };
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.matched += 1;
        match (&mut st.groups, entry) {
            (Some(g), Some(e)) => g.insert(e),
            _ => st.rows.push(row),
        }
    }

    fn row(&self, event: &Event<'_>) -> Option<Row> {
        let text = match std::str::from_utf8(event.message) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(event.message),
        };
        let obj = json::Obj::parse(text.trim());
        let time = event.time.or_else(|| obj.as_ref().and_then(event_time));
        // The fields the query reads, and nothing else of the event.
        let cols = match &obj {
            Some(o) => self
                .fields
                .iter()
                .map(|f| (f.clone(), o.field(f)))
                .collect(),
            None => Vec::new(),
        };
        Some(Row {
            message: self.keeps_message.then(|| Arc::from(text.as_ref())),
            time,
            stream: Some(
                event
                    .stream
                    .map_or_else(|| self.default_stream.clone(), Arc::from),
            ),
            ingestion: event.ingestion,
            place: event.place,
            cols,
        })
    }

    /// Applies a per-event command; false when it drops the row.
    fn apply(&self, s: &Stage, row: &mut Row) -> bool {
        match &s.op {
            Op::Filter(e) => self.eval(e, row).truthy(),
            Op::Fields(items) | Op::Display(items) => {
                let vals: Vec<(String, Val)> = items
                    .iter()
                    .map(|i| (i.name().to_owned(), self.eval(&i.expr, row)))
                    .collect();
                for (n, v) in vals {
                    row.set(&n, v);
                }
                true
            }
            Op::Parse {
                source,
                pattern,
                names,
            } => {
                self.parse(source, pattern, names, row);
                true
            }
            _ => true,
        }
    }

    fn parse(&self, source: &Expr, pattern: &Expr, names: &[String], row: &mut Row) {
        let text = self.eval(source, row).text().unwrap_or_default();
        match pattern {
            Expr::Regex(r) => {
                let re = &self.regexes[r];
                let caps = re.captures(&text);
                for name in re.capture_names().flatten() {
                    let v = caps
                        .as_ref()
                        .and_then(|c| c.name(name))
                        .map_or(Val::Null, |m| Val::Str(m.as_str().to_owned()));
                    row.set(name, v);
                }
            }
            Expr::Str(glob) => {
                let caps = glob_captures(glob, &text);
                for (k, name) in names.iter().enumerate() {
                    let v = caps
                        .as_ref()
                        .and_then(|c| c.get(k))
                        .map_or(Val::Null, |s| Val::Str(s.clone()));
                    row.set(name, v);
                }
            }
            _ => {}
        }
    }

    /// Every event read: runs the rest of the commands and returns the rows.
    pub fn finish(self) -> Output {
        let st = std::mem::take(&mut *self.state.lock().unwrap_or_else(|p| p.into_inner()));
        let mut rows = match st.groups {
            Some(g) => g.rows(),
            None => {
                let mut rows = st.rows;
                // Newest first, as Logs Insights returns events.
                rows.sort_by(|a, b| b.time.cmp(&a.time).then(a.place.cmp(&b.place)));
                rows
            }
        };
        let rest = &self.stages[self.barrier..];
        let stats_at = usize::from(matches!(
            rest.first().map(|s| &s.op),
            Some(Op::Stats { .. })
        ));
        let mut limited = false;
        for s in &rest[stats_at..] {
            limited |= matches!(s.op, Op::Limit(_));
            rows = self.run(s, rows);
        }
        let truncated = !limited && rows.len() > DEFAULT_LIMIT;
        if !limited {
            rows.truncate(DEFAULT_LIMIT);
        }
        let columns = columns(&self.stages);
        let table = rows
            .iter()
            .map(|r| columns.iter().map(|c| r.get(c).display()).collect())
            .collect();
        Output {
            columns,
            rows: table,
            scanned: self.scanned.load(Atomic::Relaxed),
            bytes: self.bytes.load(Atomic::Relaxed),
            matched: st.matched,
            truncated,
        }
    }

    /// A command over every row at once.
    fn run(&self, s: &Stage, mut rows: Vec<Row>) -> Vec<Row> {
        match &s.op {
            Op::Stats { aggs, by } => {
                let mut g = Groups::new(aggs, by);
                for r in &rows {
                    g.add(self, r);
                }
                g.rows()
            }
            Op::Sort(keys) => {
                let mut keyed: Vec<(Vec<Val>, Row)> = rows
                    .into_iter()
                    .map(|r| (keys.iter().map(|(e, _)| self.eval(e, &r)).collect(), r))
                    .collect();
                keyed.sort_by(|(a, _), (b, _)| {
                    keys.iter()
                        .enumerate()
                        .map(|(i, (_, desc))| match (&a[i], &b[i]) {
                            // Missing values last either way.
                            (Val::Null, _) | (_, Val::Null) => order(&a[i], &b[i]),
                            _ if *desc => order(&b[i], &a[i]),
                            _ => order(&a[i], &b[i]),
                        })
                        .find(|o| o.is_ne())
                        .unwrap_or(Ordering::Equal)
                });
                keyed.into_iter().map(|(_, r)| r).collect()
            }
            Op::Limit(n) => {
                rows.truncate(*n);
                rows
            }
            Op::Dedup(fields) => {
                let mut seen = HashSet::new();
                rows.retain(|r| {
                    let key: Vec<Val> = fields.iter().map(|f| self.eval(f, r)).collect();
                    key.contains(&Val::Null)
                        || seen.insert(key.iter().map(Val::key).collect::<Vec<_>>())
                });
                rows
            }
            _ => {
                rows.retain_mut(|r| self.apply(s, r));
                rows
            }
        }
    }
}

/// The columns of the result: the last `display`, else every `fields`
/// name, else the last `stats`'s (keys first), else `@timestamp` and
/// `@message`.
fn columns(stages: &[Stage]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for s in stages {
        match &s.op {
            Op::Stats { aggs, by } => {
                cols = by.iter().chain(aggs).map(|i| i.name().to_owned()).collect();
            }
            Op::Fields(items) => {
                for i in items {
                    if !cols.iter().any(|c| c == i.name()) {
                        cols.push(i.name().to_owned());
                    }
                }
            }
            Op::Display(items) => cols = items.iter().map(|i| i.name().to_owned()).collect(),
            _ => {}
        }
    }
    if cols.is_empty() {
        cols = vec!["@timestamp".into(), "@message".into()];
    }
    cols
}

fn compile(
    regexes: &mut HashMap<String, regex::Regex>,
    r: &str,
    offset: usize,
) -> Result<(), Unsupported> {
    if regexes.contains_key(r) {
        return Ok(());
    }
    let re = regex::Regex::new(r).map_err(|e| Unsupported {
        what: format!("the regular expression /{r}/ ({e})"),
        offset,
    })?;
    regexes.insert(r.to_owned(), re);
    Ok(())
}

/// Refuses what the engine does not run; compiles regular expressions.
fn check(
    e: &Expr,
    regexes: &mut HashMap<String, regex::Regex>,
    in_stats: bool,
) -> Result<(), Unsupported> {
    let mut result = Ok(());
    e.walk(&mut |x| {
        if result.is_err() {
            return;
        }
        result = match x {
            Expr::Regex(r) => compile(regexes, r, 0),
            Expr::Call(name, _, at) => {
                let known = SCALARS.contains(&name.as_str())
                    || (in_stats && AGGREGATES.contains(&name.as_str()));
                if known {
                    Ok(())
                } else {
                    Err(Unsupported {
                        what: format!("the function {name}"),
                        offset: *at,
                    })
                }
            }
            _ => Ok(()),
        };
    });
    result
}

/// The plain words a filter requires fields to equal (in every conjunct),
/// quoted as JSON writes them: only letters, digits, `-`, `_`, `.` and `:`,
/// which JSON never escapes.
fn needles(e: &Expr, made: &[&str], out: &mut Vec<String>) {
    match e {
        Expr::Bin(BinOp::And, a, b) => {
            needles(a, made, out);
            needles(b, made, out);
        }
        Expr::Bin(BinOp::Eq, a, b) => match (&**a, &**b) {
            // A value that reads as a number or a boolean may be one in the
            // event (`code = "403"` matches 403, written without quotes).
            (Expr::Field(f, _), Expr::Str(s)) | (Expr::Str(s), Expr::Field(f, _))
                if !f.starts_with('@')
                    && !made.contains(&f.as_str())
                    && !s.is_empty()
                    && s.trim().parse::<f64>().is_err()
                    && !["true", "false", "null"].contains(&s.as_str())
                    && s.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(&c)) =>
            {
                out.push(format!("\"{s}\""));
            }
            _ => {}
        },
        _ => {}
    }
}

/// The captures of a `parse` glob: `*` takes any run of characters
/// (the last one to the end), the rest must match as written.
fn glob_captures(glob: &str, text: &str) -> Option<Vec<String>> {
    let mut re = String::new();
    let parts: Vec<&str> = glob.split('*').collect();
    for (i, part) in parts.iter().enumerate() {
        re.push_str(&regex::escape(part));
        if i + 1 < parts.len() {
            re.push_str(if i + 2 == parts.len() && parts[i + 1].is_empty() {
                "(.*)"
            } else {
                "(.*?)"
            });
        }
    }
    let re = regex::Regex::new(&re).ok()?;
    let caps = re.captures(text)?;
    Some(
        caps.iter()
            .skip(1)
            .map(|m| m.map_or(String::new(), |m| m.as_str().to_owned()))
            .collect(),
    )
}

mod eval;
mod json;
mod stats;

use stats::Groups;

#[cfg(test)]
mod tests;
