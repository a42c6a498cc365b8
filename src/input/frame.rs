//! The framing of container documents, byte by byte: where each element of
//! a document's array begins and ends, found by brackets and strings
//! without parsing, so that
//! - an element is held only up to `--max-record-size` (a larger one is
//!   skipped as it streams by, whatever its size);
//! - an element that is not valid JSON is one malformed element, and the
//!   elements after it are read (a string cannot hold a raw newline, so a
//!   string left open ends at its line, as in pretty-printed documents).

use std::io::{self, BufRead};

/// One value's bytes, as framed.
pub struct Captured {
    /// The value's bytes (empty when it was too large to keep).
    pub bytes: Vec<u8>,
    /// Larger than the limit: skipped, not kept.
    pub oversize: bool,
    /// The input ended inside the value.
    pub cut_off: bool,
    /// A string in it was left open at a line's end.
    pub broken_string: bool,
}

/// Reads JSON values from a buffered reader, tracking lines.
pub struct Scanner<'r> {
    r: &'r mut dyn BufRead,
    /// The line of the next byte (from 1).
    pub line: u64,
}

impl<'r> Scanner<'r> {
    pub fn new(r: &'r mut dyn BufRead) -> Scanner<'r> {
        Scanner { r, line: 1 }
    }

    /// The next byte that is not whitespace, not consumed; `None` at the end.
    pub fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.r.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let n = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
            self.line += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            let next = buf.get(n).copied();
            self.r.consume(n);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Consumes one byte (one that [`Scanner::peek`] returned).
    pub fn bump(&mut self) {
        self.r.consume(1);
    }

    /// Frames the value that starts at the next non-whitespace byte: an
    /// object, an array, a string, or a scalar (up to `,`, `]`, `}` or
    /// whitespace). Keeps at most `max` bytes of it.
    ///
    /// Long: one byte-level state machine (in a string, escaped, depth,
    /// kept or skipped), which reads best whole.
    pub fn value(&mut self, max: usize) -> io::Result<Captured> {
        let mut c = Captured {
            bytes: Vec::new(),
            oversize: false,
            cut_off: false,
            broken_string: false,
        };
        let Some(first) = self.peek()? else {
            c.cut_off = true;
            return Ok(c);
        };
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        let (mut depth, mut in_str, mut esc) = (0usize, false, false);
        // Bytes of the value consumed so far.
        let mut taken = 0usize;
        loop {
            let buf = self.r.fill_buf()?;
            if buf.is_empty() {
                c.cut_off = true;
                return Ok(c);
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                if scalar {
                    // A scalar ends before a delimiter; a stray delimiter
                    // where a value should start is a value of one byte,
                    // so every call moves on.
                    if matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace() {
                        let first_byte = taken == 0 && i == 0;
                        end = Some(if first_byte { 1 } else { i });
                        break;
                    }
                    continue;
                }
                if b == b'\n' {
                    self.line += 1;
                }
                if in_str {
                    if b == b'\n' {
                        // No raw newline in a JSON string: it was left open.
                        (in_str, esc) = (false, false);
                        c.broken_string = true;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    } else if esc {
                        esc = false;
                    } else if b == b'\\' {
                        esc = true;
                    } else if b == b'"' {
                        in_str = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    continue;
                }
                match b {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let n = end.unwrap_or(buf.len());
            if !c.oversize {
                if c.bytes.len() + n > max {
                    c.oversize = true;
                    c.bytes = Vec::new();
                } else {
                    c.bytes.extend_from_slice(&buf[..n]);
                }
            }
            self.r.consume(n);
            taken += n;
            if end.is_some() {
                return Ok(c);
            }
        }
    }

    /// Reads a short string value (a key, a message type): `None` when the
    /// next value is not a string or is longer than `max`.
    pub fn short_string(&mut self, max: usize) -> io::Result<Option<String>> {
        let v = self.value(max)?;
        if v.oversize || v.cut_off || v.broken_string {
            return Ok(None);
        }
        Ok(serde_json::from_slice::<String>(&v.bytes).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str, max: usize) -> Vec<(String, bool, bool, bool)> {
        let mut r = io::BufReader::with_capacity(7, text.as_bytes());
        let mut s = Scanner::new(&mut r);
        let mut out = Vec::new();
        while let Some(b) = s.peek().unwrap() {
            if b == b',' {
                s.bump();
                continue;
            }
            let c = s.value(max).unwrap();
            out.push((
                String::from_utf8(c.bytes).unwrap(),
                c.oversize,
                c.cut_off,
                c.broken_string,
            ));
        }
        out
    }

    #[test]
    fn values_are_framed_by_brackets_and_strings_across_reads() {
        let got = values(
            r#" {"a":"}{","b":[1,{"c":"\"]"}]} , "x\"y" ,12.5e3,true,[[]] "#,
            100,
        );
        let texts: Vec<&str> = got.iter().map(|v| v.0.as_str()).collect();
        assert_eq!(
            texts,
            [
                r#"{"a":"}{","b":[1,{"c":"\"]"}]}"#,
                r#""x\"y""#,
                "12.5e3",
                "true",
                "[[]]"
            ]
        );
        assert!(got.iter().all(|v| !v.1 && !v.2 && !v.3));
    }

    #[test]
    fn a_large_value_is_skipped_not_kept_and_a_cut_one_is_named() {
        let big = format!("[\"{}\"],{{\"ok\":1}},{{\"cut\":", "x".repeat(1000));
        let got = values(&big, 100);
        assert_eq!(got[0], (String::new(), true, false, false));
        assert_eq!(got[1].0, r#"{"ok":1}"#);
        assert!(got[2].2, "cut off");
    }

    #[test]
    fn a_stray_delimiter_is_a_value_of_its_own_so_framing_moves_on() {
        let mut r = io::BufReader::new(&b"}]x"[..]);
        let mut s = Scanner::new(&mut r);
        assert_eq!(s.value(10).unwrap().bytes, b"}");
        assert_eq!(s.value(10).unwrap().bytes, b"]");
        assert_eq!(s.value(10).unwrap().bytes, b"x");
    }

    #[test]
    fn a_string_left_open_ends_at_its_line() {
        let got = values("{\"m\": \"open\n}, {\"ok\": 2}", 100);
        assert!(got[0].3, "{got:?}");
        assert_eq!(got[1].0, r#"{"ok": 2}"#);
    }
}
