//! Terminal and spreadsheet safety for strings that came from audit events:
//! user agents, names and URIs are chosen by clients (CVE-2021-25743).

use std::borrow::Cow;
use std::fmt::Write;

/// Characters that must not reach a terminal raw: C0 and C1 controls, DEL,
/// bidi overrides and isolates, and zero-width formatting characters.
pub fn is_hostile(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{061c}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// Shows hostile characters escaped (`\u{1b}`), leaving the rest as is.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hostile(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A CSV cell: sanitized, and neutralised against formula injection when it
/// starts with `=`, `+`, `-`, `@`, tab or CR.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    let clean = sanitize(s);
    if clean.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{clean}"))
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_bidi_and_zero_width() {
        assert_eq!(
            sanitize("kubectl\u{1b}[31m\u{7}"),
            "kubectl\\u{1b}[31m\\u{7}"
        );
        assert_eq!(
            sanitize("a\u{202e}b\u{200b}c\u{85}d\re"),
            "a\\u{202e}b\\u{200b}c\\u{85}d\\u{d}e"
        );
        assert_eq!(sanitize("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn neutralises_formula_cells() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("-1+1"), "'-1+1");
        assert_eq!(csv_cell("@SUM"), "'@SUM");
        assert_eq!(csv_cell("bob"), "bob");
    }
}
