//! A plain column table, rendered as a terminal table (comfy-table), CSV or
//! markdown. Cells are sanitized here, so callers pass event strings as they
//! came.

use std::io::{self, IsTerminal, Write};

use comfy_table::{presets, Attribute, Cell, CellAlignment, Color, ContentArrangement};

use super::sanitize::{csv_cell, sanitize};

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    /// Columns whose cells are numbers (right-aligned in tables).
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[(&str, bool)]) -> Table {
        Table {
            headers: headers.iter().map(|(h, _)| h.to_string()).collect(),
            numeric: headers.iter().map(|(_, n)| *n).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.headers.len());
        self.rows.push(row);
    }

    /// Drops columns that are empty in every row (for terminal tables).
    pub fn without_empty_columns(&self) -> Table {
        let keep: Vec<bool> = (0..self.headers.len())
            .map(|c| self.rows.iter().any(|r| !r[c].is_empty()))
            .collect();
        let pick = |v: &[String]| {
            v.iter()
                .zip(&keep)
                .filter(|(_, &k)| k)
                .map(|(x, _)| x.clone())
                .collect()
        };
        Table {
            headers: pick(&self.headers),
            numeric: self
                .numeric
                .iter()
                .zip(&keep)
                .filter(|(_, &k)| k)
                .map(|(&n, _)| n)
                .collect(),
            rows: self.rows.iter().map(|r| pick(r)).collect(),
        }
    }

    /// The table as `format` asks: a terminal table, CSV or markdown (JSON
    /// documents are the caller's).
    pub fn write(&self, format: super::OutputFormat, w: &mut dyn Write) -> io::Result<()> {
        match format {
            super::OutputFormat::Csv => self.write_csv(w),
            super::OutputFormat::Markdown => self.write_markdown(w),
            _ => self.write_table(w),
        }
    }

    pub fn write_table(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut t = comfy_table::Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        // Fit a terminal's width (never in unit tests: their golden files
        // must not depend on the terminal they run in).
        if io::stdout().is_terminal() && !cfg!(test) {
            t.set_content_arrangement(ContentArrangement::Dynamic);
        }
        let color = super::color();
        if color {
            t.enforce_styling();
        } else {
            t.force_no_tty();
        }
        t.set_header(self.headers.iter().map(|h| {
            let cell = Cell::new(h);
            if color {
                cell.add_attribute(Attribute::Bold).fg(Color::Cyan)
            } else {
                cell
            }
        }));
        for row in &self.rows {
            t.add_row(row.iter().zip(&self.numeric).map(|(c, &num)| {
                let cell = Cell::new(sanitize(c));
                if num {
                    cell.set_alignment(CellAlignment::Right)
                } else {
                    cell
                }
            }));
        }
        writeln!(w, "{t}")
    }

    pub fn write_csv(&self, w: &mut dyn Write) -> io::Result<()> {
        /// The I/O error inside a CSV error, kept as it is (a closed pipe
        /// stays a closed pipe, which ends the run quietly).
        fn csv_io(e: csv::Error) -> io::Error {
            match e.into_kind() {
                csv::ErrorKind::Io(e) => e,
                other => io::Error::other(format!("{other:?}")),
            }
        }
        let mut out = csv::Writer::from_writer(w);
        out.write_record(&self.headers).map_err(csv_io)?;
        for row in &self.rows {
            out.write_record(row.iter().map(|c| csv_cell(c).into_owned()))
                .map_err(csv_io)?;
        }
        out.flush()
    }

    pub fn write_markdown(&self, w: &mut dyn Write) -> io::Result<()> {
        let cell = |c: &str| sanitize(c).replace('|', "\\|");
        writeln!(
            w,
            "| {} |",
            self.headers
                .iter()
                .map(|h| cell(h))
                .collect::<Vec<_>>()
                .join(" | ")
        )?;
        let rule: Vec<&str> = self
            .numeric
            .iter()
            .map(|&n| if n { "---:" } else { "---" })
            .collect();
        writeln!(w, "| {} |", rule.join(" | "))?;
        for row in &self.rows {
            writeln!(
                w,
                "| {} |",
                row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&[("USER", false), ("REQUESTS", true)]);
        t.push(vec!["=cmd|x\u{1b}[2J".into(), "3".into()]);
        t
    }

    #[test]
    fn renderers_never_emit_raw_escapes() {
        for render in [Table::write_table, Table::write_csv, Table::write_markdown] {
            let mut out = Vec::new();
            render(&sample(), &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains('\u{1b}'), "{text}");
            assert!(text.contains("\\u{1b}"), "{text}");
        }
    }

    #[test]
    fn csv_neutralises_and_markdown_escapes_pipes() {
        let mut out = Vec::new();
        sample().write_csv(&mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("'=cmd|x"));
        let mut out = Vec::new();
        sample().write_markdown(&mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("=cmd\\|x"));
    }
}
