//! Where a record came from: a line of an input, a part of a container, or
//! an event of a CloudWatch Logs stream. Warnings, `--requests` rows and
//! examples name it, whatever the input.

use std::fmt::Write;
use std::sync::Arc;

/// A place in an input file: a line, or a labelled part (an element of a
/// container, a byte range, the end of the input). Line numbers count within
/// a block (a piece of a file read in parallel) until the run is finished,
/// then within the file (block 0). Places sort by input, block and line.
#[derive(Debug, Default, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub input: u32,
    pub block: u64,
    pub line: u64,
    pub label: Option<String>,
}

/// An event of a CloudWatch Logs log stream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogEvent {
    pub log_group: Arc<str>,
    pub log_stream: Arc<str>,
    pub event_id: String,
    /// When CloudWatch Logs received the event, in milliseconds since the
    /// epoch.
    pub ingestion_time: i64,
}

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    File(Position),
    Event(Box<LogEvent>),
}

impl Default for Origin {
    fn default() -> Origin {
        Origin::File(Position::default())
    }
}

impl From<Position> for Origin {
    fn from(p: Position) -> Origin {
        Origin::File(p)
    }
}

impl From<LogEvent> for Origin {
    fn from(e: LogEvent) -> Origin {
        Origin::Event(Box::new(e))
    }
}

impl Origin {
    /// Names the origin for people: `path:line`, `path: label`, or
    /// `log-group log-stream event id (ingested at time)`. `name` gives an
    /// input's path.
    pub fn describe(&self, name: impl Fn(u32) -> String) -> String {
        match self {
            Origin::File(p) => match &p.label {
                Some(label) => format!("{}: {label}", name(p.input)),
                None => format!("{}:{}", name(p.input), p.line),
            },
            Origin::Event(e) => {
                let mut s = format!("{} {} event {}", e.log_group, e.log_stream, e.event_id);
                if let Some(t) = chrono::DateTime::from_timestamp_millis(e.ingestion_time) {
                    let _ = write!(
                        s,
                        " (ingested {})",
                        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    );
                }
                s
            }
        }
    }

    /// The file place, if it is one.
    pub fn position(&self) -> Option<&Position> {
        match self {
            Origin::File(p) => Some(p),
            Origin::Event(_) => None,
        }
    }

    /// The file place, for the line-number bookkeeping of a finished run.
    pub fn position_mut(&mut self) -> Option<&mut Position> {
        match self {
            Origin::File(p) => Some(p),
            Origin::Event(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_name_their_file_line_part_or_cloudwatch_event() {
        let name = |i: u32| format!("in{i}.log");
        let line = Origin::from(Position {
            input: 1,
            line: 7,
            ..Default::default()
        });
        assert_eq!(line.describe(name), "in1.log:7");
        let part = Origin::from(Position {
            label: Some("Records[3]".into()),
            ..Default::default()
        });
        assert_eq!(part.describe(name), "in0.log: Records[3]");
        let event = Origin::from(LogEvent {
            log_group: "/aws/eks/prod/cluster".into(),
            log_stream: "kube-apiserver-audit-1".into(),
            event_id: "3712".into(),
            ingestion_time: 1_793_491_200_250,
        });
        assert_eq!(
            event.describe(name),
            "/aws/eks/prod/cluster kube-apiserver-audit-1 event 3712 (ingested 2026-11-01T00:00:00.250Z)"
        );
    }
}
