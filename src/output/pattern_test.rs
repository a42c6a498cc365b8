//! The document of `test-pattern`: how many log events a pattern matched,
//! and a few examples as sanitized fields (never a message: a matched event
//! may carry a secret payload), in every format.

use std::io::{self, Write};

use serde_json::{json, Value};

use super::sanitize::sanitize;
use super::table::{Fit, Table};
use super::{json as jsonout, OutputFormat};
use crate::audit::origin::Origin;
use crate::input::InputReport;

/// One run of a pattern over the inputs.
pub struct PatternTest<'a> {
    pub pattern: &'a str,
    /// The readings of the guide's silences the result depends on.
    pub assumptions: &'a [&'static str],
    pub matched: u64,
    pub records: u64,
    pub malformed: u64,
    pub reports: &'a [InputReport],
    pub examples: &'a [Example],
}

/// Writes the result in `format`.
pub fn write(format: OutputFormat, d: &PatternTest, out: &mut dyn Write) -> io::Result<()> {
    if format == OutputFormat::Json {
        jsonout::write(
            out,
            &json!({
                "pattern": d.pattern,
                "matched": d.matched,
                "records": d.records,
                "malformed": d.malformed,
                "assumptions": d.assumptions,
                "inputs": d.reports.iter().map(|r| json!({
                    "path": r.path,
                    "format": r.format.map(|f| f.name()),
                })).collect::<Vec<_>>(),
                "examples": d.examples.iter().map(Example::json).collect::<Vec<_>>(),
            }),
        )?;
    } else {
        let mut table = Table::new(&[
            ("AT", false),
            ("TIME", false),
            ("STAGE", false),
            ("VERB", false),
            ("RESOURCE", false),
            ("NAMESPACE", false),
            ("NAME", false),
            ("USER", false),
            ("CODE", true),
        ]);
        for e in d.examples {
            table.push(e.row());
        }
        let table = table
            .wide_only(&["RESOURCE", "STAGE"])
            .fit(&["AT"], Fit::Tail)
            .fit(&["USER"], Fit::Principal)
            .fit(&["TIME"], Fit::Keep)
            .optional(&["TIME"]);
        let headline = format!(
            "{} of {} log events match{} (malformed: {})",
            d.matched,
            d.records,
            if d.matched == 1 { "es" } else { "" },
            d.malformed
        );
        match format {
            OutputFormat::Csv => table.write_csv(out)?,
            OutputFormat::Markdown => {
                writeln!(out, "{headline}\n")?;
                for a in d.assumptions {
                    writeln!(out, "Assuming {a}.\n")?;
                }
                if !table.rows.is_empty() {
                    table.write_markdown(out)?;
                }
            }
            _ => {
                writeln!(out, "{headline}")?;
                for a in d.assumptions {
                    writeln!(out, "assuming {a}")?;
                }
                if !table.rows.is_empty() {
                    writeln!(out, "first matches:")?;
                    table.without_empty_columns().write_table(out)?;
                }
            }
        }
    }
    Ok(())
}

/// A matched event as a few sanitized fields; never its body.
pub struct Example {
    at: String,
    fields: [(&'static str, String); 8],
}

impl Example {
    pub fn of(at: &Origin, raw: &[u8], reports: &[InputReport]) -> Example {
        let v = crate::audit::event::describe(raw).unwrap_or_default();
        let s = |t: &Option<std::borrow::Cow<str>>| {
            t.as_deref()
                .map_or(String::new(), |t| sanitize(t).into_owned())
        };
        Example {
            at: super::analysis::place(at, reports),
            fields: [
                ("time", s(&v.time)),
                ("stage", s(&v.stage)),
                ("verb", s(&v.verb)),
                ("resource", s(&v.resource)),
                ("namespace", s(&v.namespace)),
                ("name", s(&v.name)),
                ("user", s(&v.user)),
                ("code", v.code.map_or(String::new(), |c| c.to_string())),
            ],
        }
    }

    fn row(&self) -> Vec<String> {
        std::iter::once(self.at.clone())
            .chain(self.fields.iter().map(|(_, v)| v.clone()))
            .collect()
    }

    fn json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("at".into(), json!(self.at));
        for (k, v) in &self.fields {
            let value = match *k {
                "code" => v.parse::<i64>().map_or(Value::Null, |n| json!(n)),
                _ if v.is_empty() => Value::Null,
                _ => json!(v),
            };
            m.insert((*k).into(), value);
        }
        Value::Object(m)
    }
}
