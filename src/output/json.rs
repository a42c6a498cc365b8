//! JSON output that escapes, beyond what serde_json does, DEL, C1 controls
//! and bidi or zero-width formatting characters as `\uXXXX`, so a JSON
//! document piped to a terminal cannot carry them raw.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

use super::sanitize::is_hostile;

/// serde_json's pretty layout (two-space indent) with hostile characters
/// escaped. It can start inside a document, `depth` levels in, so the items
/// of a long array can be written on their own and joined.
struct Pretty {
    depth: usize,
    has_value: bool,
}

impl Pretty {
    fn at(depth: usize) -> Pretty {
        Pretty {
            depth,
            has_value: false,
        }
    }
}

fn indent<W: ?Sized + Write>(w: &mut W, depth: usize) -> io::Result<()> {
    for _ in 0..depth {
        w.write_all(b"  ")?;
    }
    Ok(())
}

/// A string fragment with hostile characters escaped.
fn escaped_fragment<W: ?Sized + Write>(w: &mut W, fragment: &str) -> io::Result<()> {
    // Every character that needs it is DEL or beyond ASCII.
    if fragment.bytes().all(|b| b < 0x7f) {
        return w.write_all(fragment.as_bytes());
    }
    let mut start = 0;
    for (i, c) in fragment.char_indices() {
        if is_hostile(c) {
            w.write_all(&fragment.as_bytes()[start..i])?;
            write!(w, "\\u{:04x}", c as u32)?;
            start = i + c.len_utf8();
        }
    }
    w.write_all(&fragment.as_bytes()[start..])
}

/// serde_json's compact layout with hostile characters escaped: one line.
struct Compact;

impl Formatter for Compact {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        escaped_fragment(w, fragment)
    }
}

/// Writes `value` as one line of JSON (JSON Lines) with hostile characters
/// escaped, and a newline.
pub fn write_line<W: Write, T: Serialize + ?Sized>(mut w: W, value: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut w, Compact);
    value.serialize(&mut ser).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

impl Formatter for Pretty {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        escaped_fragment(w, fragment)
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            indent(w, self.depth)?;
        }
        w.write_all(b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        indent(w, self.depth)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            indent(w, self.depth)?;
        }
        w.write_all(b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        indent(w, self.depth)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

fn serialize<W: Write, T: Serialize + ?Sized>(w: W, value: &T, depth: usize) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(w, Pretty::at(depth));
    value.serialize(&mut ser).map_err(io::Error::other)
}

/// Writes `value` as pretty JSON with hostile characters escaped, and a
/// final newline.
pub fn write<W: Write, T: Serialize + ?Sized>(mut w: W, value: &T) -> io::Result<()> {
    serialize(&mut w, value, 0)?;
    w.write_all(b"\n")
}

/// Items per chunk of [`write_with_array`].
const CHUNK: usize = 256;

/// Writes `object` (which serializes as a JSON object) with one more field,
/// `key`, the array of `items`, last: the same text as [`write`] of the
/// whole, but with `parallel` the items of a long array are serialized on
/// two threads.
pub fn write_with_array<W: Write, T: Serialize, I: Serialize + Sync>(
    mut w: W,
    object: &T,
    key: &str,
    items: &[I],
    parallel: bool,
) -> io::Result<()> {
    let mut head = Vec::new();
    serialize(&mut head, object, 0)?;
    let fields = head
        .strip_suffix(b"\n}")
        .ok_or_else(|| io::Error::other("not a JSON object with fields"))?;
    w.write_all(fields)?;
    w.write_all(b",\n  ")?;
    serialize(&mut w, key, 1)?;
    w.write_all(b": [")?;
    if items.is_empty() {
        return w.write_all(b"]\n}\n");
    }
    // Each item as the array's layout places it: after a newline (and a
    // comma but for the first), two levels in.
    let items_text = |items: &[I], first: bool| -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            out.write_all(if first && i == 0 {
                b"\n    "
            } else {
                b",\n    "
            })?;
            serialize(&mut out, item, 2)?;
        }
        Ok(out)
    };
    // Chunks of items alternate between this thread and a second one, and
    // are written in order: the two serialize at once, and at most a few
    // chunks are held at a time.
    if !parallel || items.len() <= CHUNK {
        w.write_all(&items_text(items, true)?)?;
    } else {
        std::thread::scope(|scope| -> io::Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            scope.spawn(move || {
                for chunk in items.chunks(CHUNK).skip(1).step_by(2) {
                    if tx.send(items_text(chunk, false)).is_err() {
                        break;
                    }
                }
            });
            for (i, chunk) in items.chunks(CHUNK).enumerate() {
                let text = if i % 2 == 1 {
                    rx.recv().expect("the JSON thread sends every other chunk")
                } else {
                    items_text(chunk, i == 0)
                };
                w.write_all(&text?)?;
            }
            Ok(())
        })?;
    }
    w.write_all(b"\n  ]\n}\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_what_serde_json_leaves_raw() {
        let mut out = Vec::new();
        super::write(
            &mut out,
            &serde_json::json!({"ua": "a\u{1b}b\u{9b}c\u{202e}d\u{7f}"}),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""a\u001bb\u009bc\u202ed\u007f""#), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["ua"], "a\u{1b}b\u{9b}c\u{202e}d\u{7f}");
    }

    #[test]
    fn the_layout_is_serde_jsons_pretty_one() {
        let value = serde_json::json!({"a": [], "b": {}, "c": [1, {"d": [true, null]}], "e": "x"});
        let mut out = Vec::new();
        super::write(&mut out, &value).unwrap();
        let want = serde_json::to_string_pretty(&value).unwrap() + "\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn an_array_written_apart_joins_into_the_same_document() {
        let head = serde_json::json!({"schema_version": 1, "summary": {"n": [1, 2], "e": {}}});
        for n in [0, 1, 2, 255, 256, 257, 511, 512, 513, 1001] {
            let items: Vec<_> = (0..n)
                .map(|i| serde_json::json!({"i": i, "tags": ["x\u{1b}", i % 3], "none": {}}))
                .collect();
            let mut whole = head.clone();
            whole["rows"] = serde_json::Value::Array(items.clone());
            let mut want = Vec::new();
            super::write(&mut want, &whole).unwrap();
            let want = String::from_utf8(want).unwrap();
            for parallel in [false, true] {
                let mut got = Vec::new();
                super::write_with_array(&mut got, &head, "rows", &items, parallel).unwrap();
                let got = String::from_utf8(got).unwrap();
                assert_eq!(got, want, "{n} items, parallel {parallel}");
            }
        }
    }
}
