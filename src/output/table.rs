//! A plain column table, rendered as a terminal table (comfy-table), CSV or
//! markdown. Cells are sanitized here, so callers pass event strings as they
//! came.

use std::io::{self, Write};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use comfy_table::{presets, Attribute, Cell, CellAlignment, Color, ContentArrangement};

use super::sanitize::{csv_cell, sanitize};

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    /// Columns whose cells are numbers (right-aligned in tables).
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
    /// Columns a terminal shows only with `--wide` (by header; data formats
    /// always have every column).
    pub wide_only: Vec<String>,
    /// How a column's cells are shortened to fit a terminal (by header;
    /// the default keeps both ends).
    pub fit: Vec<(String, Fit)>,
    /// Columns a narrow terminal leaves out, first to go first, rather than
    /// cut every other column below [`READABLE`].
    pub optional: Vec<String>,
}

/// How a cell too wide for its column is shortened on a terminal, so that
/// what is left stays recognisable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Never shortened (numbers, times, codes).
    Keep,
    /// The start is kept: `kubectl/v1.29.3 (linux/am…`.
    Head,
    /// Both ends are kept: `sh.helm.rel…web.v3`.
    Middle,
    /// The end is kept: `…eks-audit.jsonl.gz:168`.
    Tail,
    /// A principal: service accounts and ARNs keep their end
    /// (`…:monitoring:grafana`, `…role/Admin/alice`), other names both ends.
    Principal,
}

/// The narrowest a shortened column gets (its header is never cut).
const MIN_WIDTH: usize = 8;
/// Below this width a shortened value is hard to recognise: an optional
/// column goes first.
const READABLE: usize = 12;

impl Table {
    pub fn new(headers: &[(&str, bool)]) -> Table {
        Table {
            headers: headers.iter().map(|(h, _)| h.to_string()).collect(),
            numeric: headers.iter().map(|(_, n)| *n).collect(),
            rows: Vec::new(),
            wide_only: Vec::new(),
            fit: Vec::new(),
            optional: Vec::new(),
        }
    }

    /// Lets a narrow terminal leave these columns out, in this order.
    pub fn optional(mut self, headers: &[&str]) -> Table {
        self.optional.extend(headers.iter().map(|h| h.to_string()));
        self
    }

    /// Shows these columns on a terminal only with `--wide`.
    pub fn wide_only(mut self, headers: &[&str]) -> Table {
        self.wide_only.extend(headers.iter().map(|h| h.to_string()));
        self
    }

    /// Shortens these columns' cells on a terminal as `fit` says.
    pub fn fit(mut self, headers: &[&str], fit: Fit) -> Table {
        self.fit
            .extend(headers.iter().map(|h| (h.to_string(), fit)));
        self
    }

    fn fit_of(&self, c: usize) -> Fit {
        let header = &self.headers[c];
        match self.fit.iter().find(|(h, _)| h == header) {
            Some(&(_, fit)) => fit,
            None if self.numeric.get(c) == Some(&true) => Fit::Keep,
            None => Fit::Middle,
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
        self.select(&keep)
    }

    /// The columns whose `keep` is true.
    fn select(&self, keep: &[bool]) -> Table {
        let pick = |v: &[String]| {
            v.iter()
                .zip(keep)
                .filter(|(_, &k)| k)
                .map(|(x, _)| x.clone())
                .collect()
        };
        Table {
            headers: pick(&self.headers),
            numeric: self
                .numeric
                .iter()
                .zip(keep)
                .filter(|(_, &k)| k)
                .map(|(&n, _)| n)
                .collect(),
            rows: self.rows.iter().map(|r| pick(r)).collect(),
            wide_only: self.wide_only.clone(),
            fit: self.fit.clone(),
            optional: self.optional.clone(),
        }
    }

    /// What a terminal `width` columns wide shows: with `wide` every column
    /// whole; else the columns that matter first, cells shortened (as each
    /// column's [`Fit`] says) until the table fits, where it can. Cells come
    /// back sanitized.
    pub fn for_terminal(&self, width: usize, wide: bool) -> Table {
        let mut keep: Vec<bool> = self
            .headers
            .iter()
            .map(|h| wide || !self.wide_only.contains(h))
            .collect();
        let mut t = self.select(&keep);
        for row in &mut t.rows {
            for cell in row.iter_mut() {
                if let std::borrow::Cow::Owned(clean) = sanitize(cell) {
                    *cell = clean;
                }
            }
        }
        if wide {
            return t;
        }
        let mut widths = t.column_widths(width);
        {
            for drop in &self.optional {
                let cramped = (0..t.headers.len())
                    .any(|c| t.fit_of(c) != Fit::Keep && widths[c] < t.natural(c).min(READABLE));
                let Some(c) = t.headers.iter().position(|h| h == drop) else {
                    continue;
                };
                if !cramped {
                    break;
                }
                keep = (0..t.headers.len()).map(|i| i != c).collect();
                t = t.select(&keep);
                widths = t.column_widths(width);
            }
        }
        let fits: Vec<Fit> = (0..t.headers.len()).map(|c| t.fit_of(c)).collect();
        for row in &mut t.rows {
            for (c, cell) in row.iter_mut().enumerate() {
                if display_width(cell) > widths[c] {
                    *cell = shorten(cell, widths[c], fits[c]);
                }
            }
        }
        t
    }

    /// A column's width with nothing shortened.
    fn natural(&self, c: usize) -> usize {
        self.rows
            .iter()
            .map(|r| display_width(&r[c]))
            .chain([display_width(&self.headers[c])])
            .max()
            .unwrap_or(0)
    }

    /// Each column's width so that the table (its borders and padding
    /// included) is at most `total` wide: the widest shortenable columns
    /// give way first, none below its header or [`MIN_WIDTH`].
    fn column_widths(&self, total: usize) -> Vec<usize> {
        let n = self.headers.len();
        let natural: Vec<usize> = (0..n).map(|c| self.natural(c)).collect();
        let floor: Vec<usize> = (0..n)
            .map(|c| match self.fit_of(c) {
                Fit::Keep => natural[c],
                _ => natural[c].min(MIN_WIDTH.max(display_width(&self.headers[c]))),
            })
            .collect();
        // Borders and padding: "│ a ┆ b │" is 3 per column and 1.
        let room = total.saturating_sub(3 * n + 1);
        let at_cap = |cap: usize| -> Vec<usize> {
            (0..n).map(|c| natural[c].min(cap.max(floor[c]))).collect()
        };
        if natural.iter().sum::<usize>() <= room {
            return natural;
        }
        // The largest cap at which every column fits.
        let (mut lo, mut hi) = (0, natural.iter().copied().max().unwrap_or(0));
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if at_cap(mid).iter().sum::<usize>() <= room {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let mut widths = at_cap(lo);
        // Room left under the cap goes to the cut columns, leftmost first.
        let mut spare = room.saturating_sub(widths.iter().sum());
        for c in 0..n {
            let more = (natural[c] - widths[c]).min(spare);
            widths[c] += more;
            spare -= more;
        }
        widths
    }

    /// The table as `format` asks: a terminal table, CSV or markdown (JSON
    /// documents are the caller's).
    pub fn write(&self, format: super::OutputFormat, w: &mut dyn Write) -> io::Result<()> {
        match format {
            super::OutputFormat::Csv => self.write_csv(w),
            super::OutputFormat::Markdown => self.write_markdown(w),
            _ => self.write_table(w).map(|_| ()),
        }
    }

    /// The table for a person: on a terminal (never in unit tests, whose
    /// golden files must not depend on where they run) it fits the
    /// terminal's width, as [`Table::for_terminal`] says; elsewhere every
    /// column, whole.
    /// Returns whether columns were left out (`--wide` shows them).
    pub fn write_table(&self, w: &mut dyn Write) -> io::Result<bool> {
        match super::terminal_width().filter(|_| !cfg!(test)) {
            Some(width) => {
                let shown = self.for_terminal(width, super::wide());
                shown.write_comfy(w)?;
                Ok(shown.headers.len() < self.headers.len())
            }
            None => self.write_comfy(w).map(|()| false),
        }
    }

    fn write_comfy(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut t = comfy_table::Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Disabled);
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

fn display_width(s: &str) -> usize {
    s.width()
}

/// `s` in at most `width` columns, an ellipsis where text was left out.
pub fn shorten(s: &str, width: usize, fit: Fit) -> String {
    if display_width(s) <= width || width == 0 {
        return s.to_owned();
    }
    // Characters from one end that fill at most `room` columns.
    fn take(chars: impl Iterator<Item = char>, room: usize) -> Vec<char> {
        let mut used = 0;
        chars
            .take_while(|c| {
                used += c.width().unwrap_or(0);
                used <= room
            })
            .collect()
    }
    fn end(s: &str, room: usize) -> String {
        take(s.chars().rev(), room).into_iter().rev().collect()
    }
    let room = width - 1;
    let keep_end =
        fit == Fit::Principal && (s.starts_with("system:serviceaccount:") || s.starts_with("arn:"));
    match fit {
        Fit::Keep => s.to_owned(),
        Fit::Tail => format!("…{}", end(s, room)),
        _ if keep_end => format!("…{}", end(s, room)),
        Fit::Head => format!("{}…", take(s.chars(), room).into_iter().collect::<String>()),
        Fit::Middle | Fit::Principal => {
            let head: String = take(s.chars(), room.div_ceil(2)).into_iter().collect();
            format!("{head}…{}", end(s, room - display_width(&head)))
        }
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
        for render in [Table::write_comfy, Table::write_csv, Table::write_markdown] {
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

    #[test]
    fn shortened_values_stay_recognisable() {
        let sa = "system:serviceaccount:monitoring:grafana";
        assert_eq!(shorten(sa, 19, Fit::Principal), "…monitoring:grafana");
        let arn = "arn:aws:sts::111122223333:assumed-role/Admin/alice";
        assert_eq!(shorten(arn, 18, Fit::Principal), "…-role/Admin/alice");
        assert_eq!(
            shorten("kubernetes-admin-long", 9, Fit::Principal),
            "kube…long"
        );
        let ua = "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625";
        assert_eq!(shorten(ua, 16, Fit::Head), "kubectl/v1.29.3…");
        assert_eq!(
            shorten("sh.helm.release.v1.web.v3", 12, Fit::Middle),
            "sh.hel…eb.v3"
        );
        assert_eq!(
            shorten("2026-11-01T00:00:04Z", 5, Fit::Keep),
            "2026-11-01T00:00:04Z"
        );
        // Wide characters count two columns.
        let cut = shorten("秘密秘密秘密", 7, Fit::Middle);
        assert!(display_width(&cut) <= 7, "{cut}");
        assert_eq!(shorten("short", 10, Fit::Head), "short");
    }

    fn wide_table() -> Table {
        let mut t = Table::new(&[
            ("NAMESPACE", false),
            ("USER", false),
            ("REQUESTS", true),
            ("LAST SEEN", false),
            ("AGENT", false),
        ])
        .wide_only(&["AGENT"])
        .fit(&["USER"], Fit::Principal)
        .fit(&["LAST SEEN"], Fit::Keep)
        .optional(&["LAST SEEN"]);
        for i in 0..5 {
            t.push(vec![
                format!("namespace-number-{i}"),
                format!("system:serviceaccount:team-{i}:a-rather-long-service-account"),
                (i * 100).to_string(),
                "2026-11-01T00:00:04Z".into(),
                "agent/1.0".into(),
            ]);
        }
        t
    }

    fn rendered(t: &Table) -> String {
        let mut out = Vec::new();
        t.write_comfy(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_terminal_table_fits_its_width_and_drops_optional_columns_last() {
        for width in [60, 80, 120, 200] {
            let t = wide_table().for_terminal(width, false);
            let text = rendered(&t);
            for line in text.lines() {
                assert!(display_width(line) <= width, "{width}: {line}");
            }
            assert!(!t.headers.contains(&"AGENT".to_string()));
            // Numbers are never cut.
            assert!(text.contains("400"), "{text}");
            // Dropped only where it would cramp the others.
            let has_time = t.headers.contains(&"LAST SEEN".to_string());
            assert_eq!(has_time, width >= 80, "{width}: {text}");
        }
        let all = wide_table().for_terminal(40, true);
        assert_eq!(all.headers.len(), 5);
        assert!(rendered(&all).contains("a-rather-long-service-account"));
    }
}
